"""`resume=RUN_DIR`: continue an interrupted run in its own folder from checkpoints/last.pt.

The run keeps the configuration it started with; only settings that do not change what is
being computed may be given again (`epochs` to train longer, the device, progress, where the
data lives, ...). This module also says what a checkpoint holds (`checkpoint_state`), so that
what is saved and what is restored are written side by side.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from nnlab import schema
from nnlab.errors import UserError
from nnlab.runs import RunFolder, config_path, is_finished, load_checkpoint, read_config

log = logging.getLogger("nnlab.train")

# Keys a resumed run may change from the command line. dataset.root: the same files, found
# elsewhere (another shell, another machine).
MAY_CHANGE = ("epochs", "device", "progress", "cpu_threads", "plots", "checkpoint",
              "early_stopping.patience", "dataset.root", "figures.format", "figures.dpi")


def resume_dir_from_args(args: list[str]) -> str | None:
    """The RUN_DIR of a `resume=RUN_DIR` argument, if any (read by the CLI before Hydra runs)."""
    for arg in args:
        if arg.startswith("resume=") and arg.split("=", 1)[1] not in ("", "null"):
            return arg.split("=", 1)[1]
    return None


def hydra_overrides(args: list[str]) -> list[str]:
    """A resuming command line as Hydra must see it. Hydra composes the default config before the
    run's own is read, and the default dataset (a toy) has no `root`: so `dataset.root=DIR`, a key
    of the run's image dataset, is passed on as `++dataset.root=DIR` (set, or add if missing)."""
    return [f"++{arg}" if arg.startswith("dataset.root=") else arg for arg in args]


def check_resumable(path: str) -> RunFolder:
    folder = RunFolder(Path(path))
    if (folder.path / "multirun.yaml").is_file():
        raise UserError(f"resume={path}: a sweep's folder, not a run's; continue the sweep with "
                        f"`{_sweep_continue_command(folder.path)}`, or give one of its jobs, "
                        f"e.g. resume={Path(path) / '0'}")
    if not config_path(folder.path).is_file():
        raise UserError(f"resume={path}: not a run folder (no .hydra/config.yaml there)")
    if not (folder.checkpoints / "last.pt").is_file():
        raise UserError(f"resume={path}: no checkpoints/last.pt to continue from "
                        "(the run stopped before its first checkpoint, or ran with checkpoint=false)")
    return folder


def resumed_config(folder: RunFolder, overrides: list[str]) -> DictConfig:
    """The run's original config with the allowed command-line changes applied. The data is read
    from where the run recorded it was (runs.read_config), unless dataset.root is given again."""
    cfg = read_config(folder.path)
    changes = [o for o in overrides if not o.startswith(("resume=", "hydra."))]
    keys = [o.split("=", 1)[0].lstrip("+~") for o in changes]
    for override, key in zip(changes, keys, strict=True):
        if key not in MAY_CHANGE:
            raise UserError(f"resume: '{override}' would change the experiment; a resumed run keeps "
                            f"its config, and only {', '.join(MAY_CHANGE)} may be given again")
    if "root" not in cfg.dataset and "dataset.root" in keys:
        raise UserError(f"resume: dataset.root: this run's dataset ({cfg.dataset.get('name')}) "
                        "is generated, not read from files; drop dataset.root")
    # `+key=` and `++key=` (see hydra_overrides) set the key as plain `key=` does
    cfg.merge_with(OmegaConf.from_dotlist([o.lstrip("+") for o in changes]))
    cfg.resume = str(folder.path)
    schema.validate(cfg, "train")  # the run's config with the changes typed now
    return cfg


def _sweep_continue_command(sweep_dir: Path) -> str:
    """The command that continues the sweep in `sweep_dir`, from the overrides it recorded."""
    import yaml

    from nnlab.train.continuation import continue_command

    try:
        recorded = (yaml.safe_load((sweep_dir / "multirun.yaml").read_text()) or {})["hydra"]
        overrides = recorded["overrides"]
        return continue_command(recorded["job"]["name"], sweep_dir, overrides["hydra"], overrides["task"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return f"nnlab train -m ... hydra.sweep.dir={sweep_dir} skip_completed=true"


def check_epochs_left(folder: RunFolder, epochs_done: int, epochs: int) -> None:
    """A resumed run must have an epoch left to train (else it would train nothing and report
    `completed`)."""
    if epochs > epochs_done:
        return
    summary = folder.read_summary() or {}
    what = "finished" if is_finished(summary) else f"stopped ({summary.get('status', 'unknown')})"
    raise UserError(f"resume={folder.path}: epochs={epochs} leaves nothing to train; the run "
                    f"{what} with {epochs_done} epochs in its last checkpoint; give "
                    f"epochs={epochs_done + 1} or more to train longer")


def load_last_state(folder: RunFolder) -> dict:
    """checkpoints/last.pt, read as data."""
    path = folder.checkpoints / "last.pt"
    try:
        state = load_checkpoint(path)
        state["epoch"], state["model"], state["rng"]  # noqa: B018 - the keys resume needs
    except pickle.UnpicklingError:
        raise UserError(f"resume: refused to load {path}: it holds objects other than tensors and "
                        "plain data (possibly code), and nnlab loads checkpoints as data only") from None
    except Exception as ex:  # truncated, corrupt, or not ours
        raise UserError(f"resume: {path} is not a readable nnlab checkpoint "
                        f"({type(ex).__name__}: {_first_line(ex)})") from None
    return state


def cut_metrics_back(folder: RunFolder, epoch: int) -> None:
    """metrics.csv without the rows written after the last checkpoint (the resumed run recomputes
    them), and no half-written file of a run killed mid-write."""
    folder.discard_temporaries()
    folder.rewrite_metrics([r for r in folder.read_metrics_rows() if int(r["epoch"]) <= epoch])


def checkpoint_state(parts, row: dict, config: dict, saved: dict | None = None) -> dict:
    """What checkpoints/*.pt hold after the epoch of `row`: everything `restore` needs for the
    resumed run to compute what the run that never stopped would have. `saved` gives the model's
    and optimizer's states when `parts` do not hold them (a model trained in a group: its slice
    of the stack, in the form a run of its own saves)."""
    learner = parts.learner
    saved = saved or {"model": learner.model.state_dict(), "optimizer": learner.optimizer.state_dict()}
    return {
        "epoch": row["epoch"],
        "model": saved["model"],
        "optimizer": saved["optimizer"],
        "scheduler": learner.scheduler.state_dict() if learner.scheduler is not None else None,
        "rng": {"torch": torch.get_rng_state(), "batcher": parts.batches.train.state_dict(),
                "train_step": parts.train_step.state_dict()},  # e.g. PGD's random starts
        "monitor": {"best": parts.monitor.best, "best_epoch": parts.monitor.best_epoch,
                    "bad_epochs": parts.monitor.bad_epochs},
        # Probes that gather results over epochs (boundary snapshots) keep them with the model.
        "probes": {name: probe.state_dict() for name, probe in parts.probes.items()
                   if hasattr(probe, "state_dict")},
        "metrics": row,
        "config": config,
    }


def restore(parts, state: dict, folder: RunFolder) -> None:
    """Put the states of `checkpoint_state` back into `parts`. Checkpoints written before a state
    was recorded (train_step, probes) restore without it. A schedule whose settings changed with
    `epochs` (cosine's T_max: ${epochs}) is replayed rather than restored (`replay_schedule`).
    An early-stopped run whose patience is spent is refused: it would train one epoch and stop."""
    learner = parts.learner
    # the optimizer's settings as a fresh run starts with them (the schedule moves lr, momentum...)
    fresh_groups = [{k: v for k, v in group.items() if k != "params"}
                    for group in learner.optimizer.param_groups]
    try:
        learner.model.load_state_dict(state["model"])
        learner.optimizer.load_state_dict(state["optimizer"])
        if learner.scheduler is not None:
            changed = schedule_changes(learner.scheduler.state_dict(), state["scheduler"])
            if changed:
                replay_schedule(learner, fresh_groups, state, changed)
            else:
                learner.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        parts.batches.train.load_state_dict(state["rng"]["batcher"])
        parts.train_step.load_state_dict(state["rng"].get("train_step", {}))
        for name, probe_state in state.get("probes", {}).items():
            if name in parts.probes and hasattr(parts.probes[name], "load_state_dict"):
                parts.probes[name].load_state_dict(probe_state)
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as ex:
        raise UserError(f"resume: {folder.checkpoints / 'last.pt'} does not match this run's model "
                        f"({type(ex).__name__}: {_first_line(ex)}); was the file replaced?") from None
    for key, value in state["monitor"].items():
        setattr(parts.monitor, key, value)
    check_patience_left(folder, parts.monitor, state["epoch"])


# Scheduler state that says where a schedule is, not what it is
SCHEDULE_PROGRESS = ("last_epoch", "_step_count", "_last_lr", "_get_lr_called_within_step",
                     "_is_initial", "verbose", "base_lrs")


def schedule_changes(now: dict, saved: dict | None) -> dict[str, tuple]:
    """{setting: (saved, now)} for the scheduler's settings that differ from the checkpoint's: the
    ones that follow `epochs` (cosine's T_max). Nested schedulers (SequentialLR) are compared
    as a whole."""
    if saved is None:
        return {}
    return {key: (saved.get(key), value) for key, value in now.items()
            if key not in SCHEDULE_PROGRESS and _settings(value) != _settings(saved.get(key))}


def _settings(value):
    if isinstance(value, dict):
        return {k: _settings(v) for k, v in value.items() if k not in SCHEDULE_PROGRESS}
    if isinstance(value, list | tuple):
        return [_settings(v) for v in value]
    return value


def replay_schedule(learner, fresh_groups: list[dict], state: dict, changed: dict[str, tuple]) -> None:
    """The schedule built from the resumed config (its new horizon), brought to the checkpoint's
    epoch by stepping it that many times from the optimizer's fresh settings: the rates from here
    on are, to the bit, those of a run started with these settings (torch's cosine is computed
    step by step from the previous rate, so changing T_max in place would not give them). The
    epochs already trained keep the rates they had. One line in the log says so."""
    epoch = state["epoch"]
    before = [group["lr"] for group in state["optimizer"]["param_groups"]]
    for group, fresh in zip(learner.optimizer.param_groups, fresh_groups, strict=True):
        group.update(fresh)
    what = ", ".join(f"scheduler.{key} {old} -> {new}" for key, (old, new) in changed.items())
    try:
        with warnings.catch_warnings():  # stepped before any optimizer.step(), on purpose
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
            for _ in range(epoch):
                learner.scheduler.step()
    except Exception as ex:  # noqa: BLE001 - a schedule that cannot be brought to that epoch
        raise UserError(f"resume: {what} with the new epochs, and this schedule cannot be replayed "
                        f"to epoch {epoch} ({type(ex).__name__}: {_first_line(ex)}); resume with "
                        "the epochs the run had") from None
    now = learner.optimizer.param_groups[0]["lr"]
    log.info("resume: %s with the resumed config: from epoch %d on, the rates are the new "
             "schedule's (as a run started with it has them), lr %.6g at epoch %d where the old "
             "schedule had %.6g", what, epoch + 1, now, epoch + 1, before[0])


def check_patience_left(folder: RunFolder, monitor, epoch: int) -> None:
    """A run that stopped early has spent its patience: resumed as it is, it would train one epoch
    more and stop again. Refused, unless `early_stopping.patience` is given again, larger (or
    null). (A run interrupted as its patience ran out is not refused: it ends `early_stopped`
    without training, as the run that never stopped did; engine.train_models.)"""
    if not monitor.should_stop or (folder.read_summary() or {}).get("status") != "early_stopped":
        return
    raise UserError(f"resume={folder.path}: the run stopped early after epoch {epoch}: "
                    f"{monitor.metric} did not improve for {monitor.bad_epochs} epochs "
                    f"(early_stopping.patience={monitor.patience}); give "
                    f"early_stopping.patience={monitor.bad_epochs + 1} or more, or null, to train on")


def _first_line(ex: BaseException) -> str:
    """The gist of an error: its first two non-empty lines (PyTorch puts the detail second)."""
    lines = [line.strip() for line in str(ex).splitlines() if line.strip()]
    return " ".join(lines[:2])[:300]
