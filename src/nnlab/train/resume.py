"""`resume=RUN_DIR`: continue an interrupted run in its own folder from checkpoints/last.pt.

The run keeps the configuration it started with; only settings that do not change what is
being computed may be given again (`epochs` to train longer, the device, progress, ...).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from nnlab.errors import UserError
from nnlab.runs import RunFolder, config_path, load_checkpoint, read_config

# Keys a resumed run may change from the command line.
MAY_CHANGE = ("epochs", "device", "progress", "cpu_threads", "plots", "checkpoint",
              "early_stopping.patience")


def resume_dir_from_args(args: list[str]) -> str | None:
    """The RUN_DIR of a `resume=RUN_DIR` argument, if any (read by the CLI before Hydra runs)."""
    for arg in args:
        if arg.startswith("resume=") and arg.split("=", 1)[1] not in ("", "null"):
            return arg.split("=", 1)[1]
    return None


def check_resumable(path: str) -> RunFolder:
    folder = RunFolder(Path(path))
    if not config_path(folder.path).is_file():
        raise UserError(f"resume={path}: not a run folder (no .hydra/config.yaml there)")
    if not (folder.checkpoints / "last.pt").is_file():
        raise UserError(f"resume={path}: no checkpoints/last.pt to continue from "
                        "(the run stopped before its first checkpoint, or ran with checkpoint=false)")
    return folder


def resumed_config(folder: RunFolder, overrides: list[str]) -> DictConfig:
    """The run's original config with the allowed command-line changes applied."""
    cfg = read_config(folder.path)
    changes = [o for o in overrides if not o.startswith(("resume=", "hydra."))]
    for override in changes:
        key = override.split("=", 1)[0].lstrip("+~")
        if key not in MAY_CHANGE:
            raise UserError(f"resume: '{override}' would change the experiment; a resumed run keeps "
                            f"its config, and only {', '.join(MAY_CHANGE)} may be given again")
    cfg.merge_with(OmegaConf.from_dotlist(changes))
    cfg.resume = str(folder.path)
    return cfg


def load_last_state(folder: RunFolder) -> dict:
    """checkpoints/last.pt, and metrics.csv cut back to the epoch it holds (rows written after the
    last checkpoint are recomputed by the resumed run)."""
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
    rows = [r for r in folder.read_metrics_rows() if int(r["epoch"]) <= state["epoch"]]
    folder.rewrite_metrics(rows)
    return state


def restore(parts, state: dict, folder: RunFolder) -> None:
    """Put the model, optimizer, scheduler, RNG and data-order states of `state` into `parts`."""
    try:
        parts.model.load_state_dict(state["model"])
        parts.optimizer.load_state_dict(state["optimizer"])
        if parts.scheduler is not None:
            parts.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        parts.train_batches.load_state_dict(state["rng"]["batcher"])
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as ex:
        raise UserError(f"resume: {folder.checkpoints / 'last.pt'} does not match this run's model "
                        f"({type(ex).__name__}: {_first_line(ex)}); was the file replaced?") from None
    for key, value in state["monitor"].items():
        setattr(parts.monitor, key, value)


def _first_line(ex: BaseException) -> str:
    """The gist of an error: its first two non-empty lines (PyTorch puts the detail second)."""
    lines = [line.strip() for line in str(ex).splitlines() if line.strip()]
    return " ".join(lines[:2])[:300]
