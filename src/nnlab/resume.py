"""`resume=RUN_DIR`: continue an interrupted run in its own folder from checkpoints/last.pt.

The run keeps the configuration it started with; only settings that do not change what is
being computed may be given again (`epochs` to train longer, the device, progress, ...).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nnlab.errors import UserError
from nnlab.runs import RunFolder, load_checkpoint

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
    if not (folder.path / ".hydra" / "config.yaml").is_file():
        raise UserError(f"resume={path}: not a run folder (no .hydra/config.yaml there)")
    if not (folder.checkpoints / "last.pt").is_file():
        raise UserError(f"resume={path}: no checkpoints/last.pt to continue from "
                        "(the run stopped before its first checkpoint, or ran with checkpoint=false)")
    return folder


def resumed_config(folder: RunFolder, overrides: list[str]) -> DictConfig:
    """The run's original config with the allowed command-line changes applied."""
    cfg = OmegaConf.load(folder.path / ".hydra" / "config.yaml")
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
    state = load_checkpoint(folder.checkpoints / "last.pt")
    rows = [r for r in folder.read_metrics_rows() if int(r["epoch"]) <= state["epoch"]]
    folder.rewrite_metrics(rows)
    return state
