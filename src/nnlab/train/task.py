"""`nnlab train`: compose -> instantiate at the edge -> fit -> write the run folder.

Config nodes become plain PyTorch objects here; `engine.fit` never sees a config. The run
folder gets metrics.csv (a row per epoch), summary.json, checkpoints/{best,last}.pt and plots/.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nnlab import plots
from nnlab.checks import check_train_config
from nnlab.data.augment import Augment
from nnlab.data.batcher import TensorBatcher
from nnlab.errors import UserError
from nnlab.losses import make_loss
from nnlab.models import build_model
from nnlab.probes import ProbeContext
from nnlab.runs import CheckpointWriter, RunFolder, environment, is_finished
from nnlab.runtime import StopSignals, resolve_device, seed_everything, show_progress
from nnlab.train.engine import Diverged, Monitor, fit
from nnlab.train.resume import check_resumable, load_last_state, restore, resumed_config

log = logging.getLogger("nnlab.train")

EVAL_BATCH_SIZE = 4096  # evaluation has no gradients: bigger batches are just faster


def run(cfg: DictConfig) -> dict:
    folder = RunFolder(Path(HydraConfig.get().runtime.output_dir))
    resuming = bool(cfg.get("resume"))
    if resuming:
        folder = check_resumable(cfg.resume)
        cfg = resumed_config(folder, list(HydraConfig.get().overrides.task))
    check_train_config(cfg)
    if cfg.skip_completed and not resuming:
        previous = previous_outcome(folder)
        if previous is not None:
            log.info("skip_completed: %s already completed; skipped", folder.path)
            return objective(cfg, previous)
    if folder.holds_a_run() and not resuming:
        raise UserError(f"{folder.path} already holds a run; pick a new hydra.run.dir "
                        "(the default is a fresh timestamped folder), or resume it with resume=DIR")
    device = resolve_device(cfg.device, job_number())
    seed_everything(cfg.seed, cfg.deterministic)
    if cfg.cpu_threads is not None:
        torch.set_num_threads(cfg.cpu_threads)

    parts = build(cfg, device)
    data, model, optimizer, scheduler = parts.data, parts.model, parts.optimizer, parts.scheduler
    probes, monitor, train_batches = parts.probes, parts.monitor, parts.train_batches

    start_epoch = 1
    summary = {}
    if resuming:
        state = load_last_state(folder)
        restore(parts, state, folder)
        start_epoch = state["epoch"] + 1
        summary = folder.read_summary() or {}
        summary["resumed_at_epochs"] = summary.get("resumed_at_epochs", []) + [state["epoch"]]

    folder.create()
    summary.update({
        "status": "running",
        "started_at": summary.get("started_at", _now()),
        "run_dir": str(folder.path),
        "overrides": summary.get("overrides", list(HydraConfig.get().overrides.task)),
        "dataset": data.name,
        "model": cfg.model._target_.rsplit(".", 1)[-1],
        "n_params": sum(p.numel() for p in model.parameters()),
        "n_train": len(data.train),
        "n_val": len(data.val) if data.val is not None else 0,
        "n_test": len(data.test),
        "device": str(device),
        "cpu_threads": torch.get_num_threads(),
        "monitor": monitor.metric,
        **environment(),
    })
    folder.write_summary(summary)
    for probe in probes:
        probe.start(ProbeContext(data, cfg.epochs, start_epoch, device, folder.path, model))
    log.info("%s: %s on %s (%d parameters), epochs %d-%d on %s", folder.path, summary["model"],
             data.name, summary["n_params"], start_epoch, cfg.epochs, device)

    tracker = instantiate(cfg.logger, run_dir=folder.path) if cfg.logger.get("_target_") else None
    config = OmegaConf.to_container(cfg, resolve=True)
    checkpoints = CheckpointWriter(folder)
    stop_signal = StopSignals()
    log_every = max(1, cfg.epochs // 20)
    started = time.perf_counter()

    def on_epoch_end(row: dict, improved: bool) -> None:
        with stop_signal.deferred():  # a Ctrl-C waits until the epoch's files agree
            folder.append_metrics(row)
            if cfg.checkpoint:
                state = {
                    "epoch": row["epoch"],
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "rng": {"torch": torch.get_rng_state(), "batcher": train_batches.state_dict()},
                    "monitor": {"best": monitor.best, "best_epoch": monitor.best_epoch,
                                "bad_epochs": monitor.bad_epochs},
                    "metrics": row,
                    "config": config,
                }
                checkpoints.record(state, improved)
        if tracker is not None:
            tracker.log(row)
        if row["epoch"] % log_every == 0 or row["epoch"] in (start_epoch, cfg.epochs):
            log.info("epoch %d: %s", row["epoch"], _format_metrics(row))

    try:
        status = fit(model, optimizer, scheduler, make_loss(cfg.loss), train_batches, parts.eval_batches,
                     cfg.epochs, monitor, on_epoch_end, probes=probes, l1=cfg.l1,
                     start_epoch=start_epoch, progress=show_progress(cfg.progress),
                     step_guard=stop_signal.deferred, adversary=parts.adversary,
                     adversarial_mix=cfg.adversarial.mix if parts.adversary is not None else 1.0)
        failure = None
    except Diverged as ex:
        status, failure = "diverged", ex
    except KeyboardInterrupt:
        status, failure = "interrupted", None
    finally:
        if tracker is not None:
            tracker.close()
    with stop_signal.shielded():  # the run's record is written whole, whatever arrives now
        checkpoints.flush()
        summary.update(_results(folder, monitor, status, time.perf_counter() - started))
        if failure is not None:
            summary["error"] = str(failure)
        folder.write_summary(summary)
    stop_signal.restore()
    if cfg.plots:
        write_plots(folder, model, data, device, cfg)
    if status != "diverged":  # probes analyse the final model; a diverged one has NaN weights
        for probe in probes:
            probe.finish()

    if status == "diverged":
        raise UserError(f"run diverged: {failure}; lower optimizer.lr or the regularisation rate "
                        f"(metrics and checkpoints up to then are kept in {folder.path})", exit_code=3)
    if status == "interrupted":
        log.warning("interrupted; metrics and the last checkpoint are kept in %s; continue with "
                    "`nnlab train resume=%s`", folder.path, folder.path)
        raise SystemExit(stop_signal.exit_code)
    final = summary["final"]
    log.info("%s after %d epochs: %s -> %s", status, summary["epochs_completed"],
             _format_metrics(final), folder.path)
    return objective(cfg, summary)


def objective(cfg: DictConfig, summary: dict):
    """What a sweeper gets back: the summary, or with `objective=final.val_acc` that number
    (Optuna maximises or minimises it)."""
    if not cfg.get("objective"):
        return summary
    section, _, key = str(cfg.objective).partition(".")
    value = summary.get(section, {}).get(key) if isinstance(summary.get(section), dict) else None
    if value is None:
        raise UserError(f"objective={cfg.objective}: not in this run's summary; use final.<metric> or "
                        f"best.<metric> with a metrics.csv column such as final.val_acc")
    return float(value)


def previous_outcome(folder: RunFolder) -> dict | None:
    """For skip_completed: the summary of a completed earlier run in this folder, or None. An
    earlier attempt that did not complete is moved to attempts/<n>/ so this one starts clean."""
    if not folder.holds_a_run():
        return None
    summary = folder.read_summary() or {}
    if is_finished(summary):
        return summary
    attempts = folder.path / "attempts"
    target = attempts / str(len(list(attempts.glob("*"))) + 1 if attempts.exists() else 1)
    target.mkdir(parents=True)
    for name in ("metrics.csv", "summary.json", "checkpoints", "plots", "tensorboard"):
        if (folder.path / name).exists():
            (folder.path / name).rename(target / name)
    log.info("skip_completed: earlier attempt (%s) moved to %s", summary.get("status", "unknown"), target)
    return None


def job_number() -> int | None:
    """This job's number in a sweep (None for a single run)."""
    from hydra.types import RunMode

    hc = HydraConfig.get()
    return int(hc.job.num) if hc.mode == RunMode.MULTIRUN else None


@dataclass
class Parts:
    """Everything a config describes, as plain PyTorch objects."""

    data: object
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    probes: list
    monitor: Monitor
    train_batches: TensorBatcher
    eval_batches: dict
    adversary: object = None  # an attack applied to every training batch (adversarial=...)


def build(cfg: DictConfig, device: torch.device) -> Parts:
    """Instantiate at the edge: config nodes become objects here, and nowhere else."""
    data = instantiate(cfg.dataset)
    model = build_model(cfg.model, data).to(device)
    optimizer = instantiate(cfg.optimizer)(model.parameters())
    scheduler = instantiate(cfg.scheduler)(optimizer) if cfg.scheduler.get("_target_") else None
    probes = [instantiate(node) for node in (cfg.get("probe") or {}).values()]
    monitor = Monitor(metric=monitored_metric(cfg.early_stopping.monitor, data),
                      patience=cfg.early_stopping.patience,
                      min_delta=cfg.early_stopping.min_delta)
    augment = Augment(**data.augment, seed=cfg.seed + 1) if data.augment else None
    train_batches = TensorBatcher(data.train, cfg.batch_size, device, shuffle=True, seed=cfg.seed,
                                  augment=augment)
    eval_batches = {name: TensorBatcher(split, max(cfg.batch_size, EVAL_BATCH_SIZE), device,
                                        shuffle=False)
                    for name, split in data.splits().items() if name != "train"}
    adversary = None
    if cfg.get("adversarial"):
        if not data.is_image:
            raise UserError("adversarial training attacks pixels in [0, 1]: it needs an image dataset")
        mix = cfg.adversarial.get("mix", 1.0)
        if isinstance(mix, bool) or not isinstance(mix, (int, float)) or not 0 < mix <= 1:
            raise UserError(f"adversarial.mix: {mix!r} is out of range; it must be in (0, 1]")
        adversary = instantiate(cfg.adversarial.attack)
    return Parts(data, model, optimizer, scheduler, probes, monitor, train_batches, eval_batches,
                 adversary)


def monitored_metric(setting: str, data) -> str:
    """early_stopping.monitor=auto -> val_loss when there is a validation split, else train_loss."""
    available = [f"{s}_{m}" for s in data.splits() for m in ("loss", "acc")]
    if setting == "auto":
        return "val_loss" if data.val is not None else "train_loss"
    if setting not in available:
        raise UserError(f"early_stopping.monitor: {setting!r} is not recorded for this dataset; "
                        f"valid: auto, {', '.join(available)}")
    return setting


def _results(folder: RunFolder, monitor: Monitor, status: str, seconds: float) -> dict:
    rows = folder.read_metrics_rows()
    by_epoch = {int(r["epoch"]): _numbers(r) for r in rows}
    return {
        "status": status,
        "ended_at": _now(),
        "wall_time_s": round(seconds, 3),
        "epochs_completed": len(rows),
        "best_epoch": monitor.best_epoch or None,
        "final": _numbers(rows[-1]) if rows else {},
        "best": by_epoch.get(monitor.best_epoch, {}),
    }


def write_plots(folder: RunFolder, model, data, device, cfg) -> None:
    if not folder.metrics_path.exists():
        return
    rows = folder.read_metrics_rows()
    if not rows:
        return
    title = f"{data.name} / {cfg.model._target_.rsplit('.', 1)[-1]}"
    plots.learning_curves(rows, folder.plots / "learning_curves.png", title=title)
    if data.plane is not None:
        acc = float(rows[-1]["test_acc"])
        plots.decision_boundary(model, data, folder.plots / "decision_boundary.png", device,
                                title=f"{title}: test acc {acc:.3f} (epoch {len(rows)})")


def _numbers(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if value in ("", None):
            continue
        out[key] = int(value) if key == "epoch" else float(value)
    return out


def _format_metrics(row: dict) -> str:
    return " ".join(f"{k}={float(v):.4f}" for k, v in row.items()
                    if str(k).endswith(("_loss", "_acc")) and v not in ("", None))


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
