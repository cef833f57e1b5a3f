"""`nnlab train`: compose -> instantiate at the edge -> fit -> write the run folder.

Config nodes become plain PyTorch objects in build.py; `engine.fit` never sees a config. The run
folder gets metrics.csv (a row per epoch), summary.json, checkpoints/{best,last}.pt and plots/.
A run starts fresh, continues an earlier one (`resume=RUN_DIR`), or, in a sweep run again with
`skip_completed=true`, returns what a completed earlier job in its folder found.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nnlab import plots
from nnlab.errors import UserError
from nnlab.probes import ProbeContext
from nnlab.runs import CheckpointWriter, RunFolder, is_finished
from nnlab.runtime import StopSignals, resolve_device, seed_everything, show_progress
from nnlab.train import record
from nnlab.train.build import Parts, build
from nnlab.train.engine import Diverged, Hooks, fit
from nnlab.train.resume import (
    check_epochs_left,
    check_resumable,
    checkpoint_state,
    cut_metrics_back,
    load_last_state,
    restore,
    resumed_config,
)

log = logging.getLogger("nnlab.train")

__all__ = ["build", "objective", "run"]  # build: for scripts and tests that want the objects


def run(cfg: DictConfig) -> dict:
    """Train the run `cfg` describes into its folder; returns its summary (or its objective)."""
    folder, cfg, resuming = choose_run_folder(cfg)
    if not resuming:
        previous = previous_outcome(folder) if cfg.skip_completed else None
        if previous is not None:
            log.info("skip_completed: %s already completed; skipped", folder.path)
            return objective(cfg, previous)
        refuse_a_used_folder(folder)
    checkpoint = last_checkpoint(folder, cfg) if resuming else None

    device = set_up_runtime(cfg)
    parts = build(cfg, device)
    start_epoch, summary = continue_from(checkpoint, folder, parts) if resuming else (1, {})
    summary = start_record(folder, cfg, parts, device, summary, start_epoch)
    start_probes(parts, cfg, start_epoch, device, folder)

    outcome = train(cfg, folder, parts, start_epoch, summary)
    write_figures(folder, parts, device, cfg, outcome.status)
    return conclude(cfg, folder, summary, outcome)


# --- before training ---------------------------------------------------------------------------


def choose_run_folder(cfg: DictConfig) -> tuple[RunFolder, DictConfig, bool]:
    """(the run folder, the config to run, whether it resumes). A fresh run writes into Hydra's
    output folder; `resume=RUN_DIR` continues in RUN_DIR with that run's own config."""
    if not cfg.get("resume"):
        return RunFolder(Path(HydraConfig.get().runtime.output_dir)), cfg, False
    folder = check_resumable(cfg.resume)
    return folder, resumed_config(folder, list(HydraConfig.get().overrides.task)), True


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


def refuse_a_used_folder(folder: RunFolder) -> None:
    if folder.holds_a_run():
        raise UserError(f"{folder.path} already holds a run; pick a new hydra.run.dir "
                        "(the default is a fresh timestamped folder), or resume it with resume=DIR")


def last_checkpoint(folder: RunFolder, cfg: DictConfig) -> dict:
    """checkpoints/last.pt of the run to resume, once it is known to leave epochs to train."""
    state = load_last_state(folder)
    check_epochs_left(folder, state["epoch"], cfg.epochs)
    return state


def set_up_runtime(cfg: DictConfig) -> torch.device:
    device = resolve_device(cfg.device, job_number())
    seed_everything(cfg.seed, cfg.deterministic)
    if cfg.cpu_threads is not None:
        torch.set_num_threads(cfg.cpu_threads)
    return device


def job_number() -> int | None:
    """This job's number in a sweep (None for a single run)."""
    from hydra.types import RunMode

    hc = HydraConfig.get()
    return int(hc.job.num) if hc.mode == RunMode.MULTIRUN else None


def continue_from(checkpoint: dict, folder: RunFolder, parts: Parts) -> tuple[int, dict]:
    """Put the checkpoint's states into `parts`; (the first epoch to train, the run's summary)."""
    restore(parts, checkpoint, folder)
    epoch = checkpoint["epoch"]
    cut_metrics_back(folder, epoch)
    summary = folder.read_summary() or {}
    summary["resumed_at_epochs"] = summary.get("resumed_at_epochs", []) + [epoch]
    return epoch + 1, summary


def start_record(folder: RunFolder, cfg: DictConfig, parts: Parts, device, summary: dict,
                 start_epoch: int) -> dict:
    """Create the folder and write summary.json with status `running`."""
    folder.create()
    summary = record.summary_at_start(summary, folder, cfg, parts, device)
    folder.write_summary(summary)
    resumed_after = start_epoch - 1 if start_epoch > 1 else None
    log.info("%s: %s on %s (%d parameters), %s on %s", folder.path, summary["model"], summary["dataset"],
             summary["n_params"], record.epoch_span(start_epoch, cfg.epochs, resumed_after), device)
    return summary


def start_probes(parts: Parts, cfg: DictConfig, start_epoch: int, device, folder: RunFolder) -> None:
    for probe in parts.probes.values():
        probe.start(ProbeContext(parts.data, cfg.epochs, start_epoch, device, folder.path, parts.model))


# --- training ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # completed, early_stopped, diverged or interrupted
    failure: Exception | None = None  # what made a run diverge
    exit_code: int = 0  # 128 + the signal that interrupted it


def train(cfg: DictConfig, folder: RunFolder, parts: Parts, start_epoch: int, summary: dict) -> Outcome:
    """`fit` with the run's bookkeeping: metrics, checkpoints and the tracker after every epoch
    (held together against Ctrl-C), and summary.json at the end, whatever the end was. The signal
    handlers installed here are given back on every way out."""
    tracker = instantiate(cfg.logger, run_dir=folder.path) if cfg.logger.get("_target_") else None
    checkpoints = CheckpointWriter(folder)
    config = OmegaConf.to_container(cfg, resolve=True)
    log_every = max(1, cfg.epochs // 20)
    started = time.perf_counter()
    with StopSignals() as signals:

        def on_epoch_end(row: dict, improved: bool) -> None:
            with signals.deferred():  # a Ctrl-C waits until the epoch's records agree
                folder.append_metrics(row)
                if tracker is not None:
                    tracker.log(row)
                if cfg.checkpoint:
                    checkpoints.record(checkpoint_state(parts, row, config), improved)
            if row["epoch"] % log_every == 0 or row["epoch"] in (start_epoch, cfg.epochs):
                log.info("epoch %d: %s", row["epoch"], record.format_metrics(row))

        hooks = Hooks(on_epoch_end, list(parts.probes.values()), signals.deferred,
                      show_progress(cfg.progress))
        try:
            outcome = Outcome(fit(parts.learner, parts.train_step, parts.loss_fn, parts.batches,
                                  range(start_epoch, cfg.epochs + 1), parts.monitor, hooks))
        except Diverged as ex:
            outcome = Outcome("diverged", failure=ex)
        except KeyboardInterrupt:
            outcome = Outcome("interrupted", exit_code=signals.exit_code)
        finally:
            if tracker is not None:
                tracker.close()
        with signals.shielded():  # the run's record is written whole, whatever arrives now
            checkpoints.flush()
            summary.update(record.results(folder, parts.monitor, outcome.status,
                                          time.perf_counter() - started))
            if outcome.failure is not None:
                summary["error"] = str(outcome.failure)
            folder.write_summary(summary)
    return outcome


# --- after training ----------------------------------------------------------------------------


def write_figures(folder: RunFolder, parts: Parts, device, cfg: DictConfig, status: str) -> None:
    """Learning curves, the decision boundary and the probes' files (their figures only with
    plots=true). Probes analyse the final model, which a diverged run does not have (NaNs)."""
    with plots.drawing(cfg.plots):
        if cfg.plots:
            record.write_plots(folder, parts, device, cfg)
        if status != "diverged":
            for probe in parts.probes.values():
                probe.finish()


def conclude(cfg: DictConfig, folder: RunFolder, summary: dict, outcome: Outcome):
    """Say how the run ended: a result for the caller, or an error with the run's exit code."""
    if outcome.status == "diverged":
        raise UserError(f"run diverged: {outcome.failure}; lower optimizer.lr or the regularisation "
                        f"rate (metrics and checkpoints up to then are kept in {folder.path})", exit_code=3)
    if outcome.status == "interrupted":
        log.warning("interrupted; metrics and the last checkpoint are kept in %s; continue with "
                    "`nnlab train resume=%s`", folder.path, folder.path)
        raise SystemExit(outcome.exit_code)
    log.info("%s after %d epochs: %s -> %s", outcome.status, summary["epochs_completed"],
             record.format_metrics(summary["final"]), folder.path)
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
