"""What a training run writes about itself besides metrics and checkpoints: summary.json's
contents at the start and at the end, the figures, and how metrics read in the log."""

from __future__ import annotations

from datetime import datetime, timezone

import torch
from omegaconf import DictConfig

from nnlab import plots
from nnlab.runs import RunFolder, environment
from nnlab.train.build import Parts
from nnlab.train.engine import Monitor


def summary_at_start(summary: dict, folder: RunFolder, cfg: DictConfig, parts: Parts,
                     device: torch.device, overrides: list[str]) -> dict:
    """`summary` (empty, or a resumed run's) updated with what is known before the first epoch."""
    data = parts.data
    return {
        **summary,
        "status": "running",
        "started_at": summary.get("started_at", now()),
        "run_dir": str(folder.path),
        "overrides": summary.get("overrides", overrides),
        "dataset": data.name,
        # Where the data files were read from (an absolute path; None for generated data), so
        # `resume=` and `nnlab attack` find them from any folder or shell.
        "data_root": getattr(data, "root", None),
        "model": model_name(cfg),
        "n_params": sum(p.numel() for p in parts.model.parameters()),
        "n_train": len(data.train),
        "n_val": len(data.val) if data.val is not None else 0,
        "n_test": len(data.test),
        "device": str(device),
        "cpu_threads": torch.get_num_threads(),
        "monitor": parts.monitor.metric,
        **environment(),
    }


def results(folder: RunFolder, monitor: Monitor, status: str, seconds: float,
            written: dict | None = None) -> dict:
    """summary.json's closing fields, from metrics.csv as written (or, for a job of a group,
    `written`: its epochs_completed, final and best rows, as GroupMetrics.closing gives them)."""
    if written is None:
        rows = folder.read_metrics_rows()
        by_epoch = {int(r["epoch"]): _numbers(r) for r in rows}
        written = {"epochs_completed": len(rows), "final": _numbers(rows[-1]) if rows else {},
                   "best": by_epoch.get(monitor.best_epoch, {})}
    return {
        "status": status,
        "ended_at": now(),
        "wall_time_s": round(seconds, 3),
        "epochs_completed": written["epochs_completed"],
        "best_epoch": monitor.best_epoch or None,
        "final": written["final"],
        "best": written["best"],
    }


def write_plots(folder: RunFolder, parts: Parts, device, cfg: DictConfig) -> None:
    """plots/learning_curves.png, and plots/decision_boundary.png for 2-D data (.pdf or .svg
    with figures.format=pdf or svg)."""
    rows = folder.read_metrics_rows()
    if not rows:
        return
    data = parts.data
    name = f"{data.name} / {model_name(cfg)}"  # and the run's settings, from its folder:
    plots.learning_curves(rows, folder.plots / "learning_curves.png",
                          title=plots.run_title(folder.path, fallback=name), figures=parts.figures)
    if data.plane is not None:
        acc = float(rows[-1]["test_acc"])
        plots.decision_boundary(parts.model, data, folder.plots / "decision_boundary.png", device,
                                title=plots.run_title(folder.path, f"test acc {acc:.3f} (epoch "
                                                      f"{len(rows)})", fallback=name),
                                figures=parts.figures)


def epoch_span(start: int, end: int, resumed_after: int | None) -> str:
    """'epochs 1-12', 'epoch 13 (resuming after epoch 12)', ... for the log."""
    span = f"epoch {start}" if start == end else f"epochs {start}-{end}"
    return span if resumed_after is None else f"{span} (resuming after epoch {resumed_after})"


def format_metrics(row: dict) -> str:
    return " ".join(f"{k}={float(v):.4f}" for k, v in row.items()
                    if str(k).endswith(("_loss", "_acc")) and v not in ("", None))


def model_name(cfg: DictConfig) -> str:
    return cfg.model._target_.rsplit(".", 1)[-1]


def now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def _numbers(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if value in ("", None):
            continue
        out[key] = int(value) if key == "epoch" else float(value)
    return out
