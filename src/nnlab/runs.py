"""The run folder: metrics.csv, summary.json, checkpoints/ (read and write).

summary.json and checkpoints are written to a temporary name and renamed, metrics rows are
appended whole, so a run killed at any moment leaves the previous versions readable.
Checkpoints are read with `weights_only=True`: a run folder is data.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from nnlab import __version__

METRIC_COLUMNS = [
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
    "lr", "seconds",
]


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename tmp_path over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: dict) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")

    atomic_write(path, write)


class RunFolder:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.metrics_path = self.path / "metrics.csv"
        self.summary_path = self.path / "summary.json"
        self.checkpoints = self.path / "checkpoints"
        self.plots = self.path / "plots"

    def holds_a_run(self) -> bool:
        return self.metrics_path.exists() or self.summary_path.exists()

    def create(self) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.plots.mkdir(parents=True, exist_ok=True)

    def append_metrics(self, row: dict) -> None:
        """Append one row with a single write() to an O_APPEND file, so a killed run leaves
        whole rows only (and the header comes with the first row)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, restval="", lineterminator="\n")
        if not self.metrics_path.exists():
            writer.writeheader()
        writer.writerow({k: _fmt(row.get(k)) for k in METRIC_COLUMNS})
        fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, buf.getvalue().encode())
        finally:
            os.close(fd)

    def rewrite_metrics(self, rows: list[dict]) -> None:
        """Replace metrics.csv with these rows (atomically)."""

        def write(tmp):
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS, restval="", lineterminator="\n")
                writer.writeheader()
                writer.writerows({k: _fmt(r.get(k)) for k in METRIC_COLUMNS} for r in rows)

        atomic_write(self.metrics_path, write)

    def read_metrics_rows(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        with open(self.metrics_path, newline="") as f:
            return list(csv.DictReader(f))

    def save_checkpoint(self, name: str, state: dict) -> Path:
        path = self.checkpoints / name
        atomic_write(path, lambda tmp: torch.save(state, tmp))
        return path

    def write_summary(self, summary: dict) -> None:
        write_json(self.summary_path, summary)


def discard_unused_run_folder(path: Path) -> bool:
    """Remove a run folder that holds only what Hydra writes before the task starts (.hydra/ and
    the log), e.g. after bad input; a folder with anything else in it is left alone."""
    path = Path(path)
    if not path.is_dir() or {p.name for p in path.iterdir()} - {".hydra", "train.log"}:
        return False
    shutil.rmtree(path)
    return True


def record_failed_job(path: Path, ex: BaseException, user_error: Exception | None,
                      overrides: list[str], sweep_dir: Path) -> None:
    """Log a sweep job's failure and make its summary.json say so (a diverged run's own summary,
    already written, is kept)."""
    log = logging.getLogger("nnlab")
    if user_error is not None:
        log.error("job failed: %s", user_error)
    else:
        log.error("job failed with an unexpected error", exc_info=ex)
    folder = RunFolder(path)
    try:
        summary = json.loads(folder.summary_path.read_text())
    except (OSError, ValueError):
        summary = {}
    from nnlab.train.sweeps import note_failure

    note_failure(sweep_dir, str(Path(path).relative_to(sweep_dir)) if Path(path).is_relative_to(sweep_dir)
                 else str(path), str(user_error or ex))
    if summary.get("status") in (None, "running"):
        summary.update({"status": "failed", "run_dir": str(path), "overrides": overrides,
                        "error": " ".join(str(user_error or ex).split()) or type(ex).__name__})
        path.mkdir(parents=True, exist_ok=True)
        folder.write_summary(summary)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint as data only (no pickled code can run)."""
    with warnings.catch_warnings():  # torch warns about foreign pickle protocols before refusing them
        warnings.simplefilter("ignore", UserWarning)
        return torch.load(path, map_location=map_location, weights_only=True)


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def environment() -> dict:
    """Versions and source revision recorded in every summary."""
    import hydra

    return {
        "nnlab": __version__,
        "torch": torch.__version__,
        "hydra": hydra.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }


def git_commit() -> str | None:
    """The commit of the nnlab source tree, when it is a git checkout (editable installs)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


class CheckpointWriter:
    """Writes checkpoints/best.pt and last.pt.

    Toy epochs take milliseconds, and two torch.save calls per epoch would then dominate the run;
    so files are written at most every `min_interval_s` seconds, the newest states waiting in
    memory (as copies), and `flush()` writes whatever is pending at the end of the run.
    """

    def __init__(self, folder: RunFolder, min_interval_s: float = 2.0):
        self.folder, self.min_interval_s = folder, min_interval_s
        self.pending: dict[str, dict] = {}
        self.last_write = time.monotonic()

    def record(self, state: dict, improved: bool) -> None:
        state = copy.deepcopy(state)
        self.pending["last.pt"] = state
        if improved:
            self.pending["best.pt"] = state
        if time.monotonic() - self.last_write >= self.min_interval_s:
            self.flush()

    def flush(self) -> None:
        for name, state in self.pending.items():
            self.folder.save_checkpoint(name, state)
        self.pending.clear()
        self.last_write = time.monotonic()
