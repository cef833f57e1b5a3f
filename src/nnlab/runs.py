"""The run folder: the only module that knows its files and the status vocabulary.

A run folder holds .hydra/ (Hydra's record: config.yaml, overrides.yaml), metrics.csv (a row per
epoch), summary.json (status, final and best metrics, versions, ...), checkpoints/{best,last}.pt
and plots/. A sweep folder holds one run folder per job and failures.jsonl. Every other module
reads and writes these through here.

summary.json and checkpoints are written to a temporary name and renamed, metrics rows are
appended whole, so a run killed at any moment leaves the previous versions readable.
Checkpoints are read with `weights_only=True`: a run folder is data. torch is imported only where
checkpoints are touched, so `nnlab report` (which reads summaries and metrics) does not pay for it.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from nnlab import __version__

# --- the status vocabulary of summary.json -------------------------------------------------------
RUNNING = "running"  # written when training starts; a run killed with -9 keeps it
FINISHED = ("completed", "early_stopped")  # the run ended as planned: its numbers count
# The others: "diverged" (non-finite loss), "failed" (an error), "interrupted" (Ctrl-C/SIGTERM).

# `_target_`s that moved since older run folders were written: old name -> where it lives now.
MOVED_TARGETS = {
    "nnlab.trackers.TensorBoardLogger": "nnlab.train.trackers.TensorBoardLogger",
}

METRIC_COLUMNS = [
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
    "lr", "seconds",
]


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename tmp_path over `path`. The temporary file is named after
    the file, the process and the thread (one writer each; a group of a thousand jobs writes two
    thousand summaries, where mkstemp and chmod took twice the write), made by `write` itself
    with the usual permissions."""
    path = Path(path)
    tmp = str(path.parent / f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        write(tmp)
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
        """The folder itself; checkpoints/ and plots/ come with their first file (plots.save), so
        a run with checkpoint=false or plots=false has no empty folder of them."""
        self.path.mkdir(parents=True, exist_ok=True)

    def append_metrics(self, *rows: dict) -> None:
        """Append rows with a single write() to an O_APPEND file, so a killed run leaves whole
        rows only (and the header comes with the first row)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, restval="", lineterminator="\n")
        writer.writerows({k: _fmt(row.get(k)) for k in METRIC_COLUMNS} for row in rows)
        self.append_metrics_lines(buf.getvalue())

    def append_metrics_lines(self, text: str) -> None:
        """Append whole metrics.csv lines (METRIC_COLUMNS, already formatted) with one write(),
        the header first when the file is new."""
        if not self.metrics_path.exists():
            text = ",".join(METRIC_COLUMNS) + "\n" + text
        fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
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

    def read_summary(self) -> dict | None:
        return read_summary(self.path)

    def discard_temporaries(self) -> None:
        """Remove what atomic_write left of a write that a kill -9 cut short (.NAME.XXXX.tmp
        beside the file it was to replace): the previous version of that file is still whole."""
        for tmp in self.path.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def read_metrics_rows(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        with open(self.metrics_path, newline="") as f:
            return list(csv.DictReader(f))

    def save_checkpoint(self, name: str, state: dict) -> Path:
        import torch

        path = self.checkpoints / name
        self.checkpoints.mkdir(exist_ok=True)
        atomic_write(path, lambda tmp: torch.save(state, tmp))
        return path

    def write_summary(self, summary: dict) -> None:
        write_json(self.summary_path, summary)


def read_summary(path: Path) -> dict | None:
    """summary.json of the run folder at `path`; None when there is none or it cannot be read."""
    try:
        summary = json.loads((Path(path) / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def is_finished(summary: dict | None) -> bool:
    return bool(summary) and summary.get("status") in FINISHED


def config_path(path: Path) -> Path:
    return Path(path) / ".hydra" / "config.yaml"


def read_config(path: Path):
    """The run's config (.hydra/config.yaml) as a DictConfig, read as the run is to be rebuilt:
    `_target_`s of classes that moved since it was written are mapped to where they live now,
    and `dataset.root` is where the run read its data (summary.json's `data_root`; the saved
    config may hold a relative path or an unresolved ${oc.env:...} that means something else in
    another shell or folder). Older runs recorded no data_root: their config's own value stays."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(config_path(path))
    _map_moved_targets(cfg)
    recorded_root = (read_summary(path) or {}).get("data_root")
    if recorded_root and "dataset" in cfg and "root" in cfg.dataset:
        cfg.dataset.root = recorded_root
    return cfg


def _map_moved_targets(node) -> None:
    from omegaconf import DictConfig, ListConfig

    if isinstance(node, DictConfig):
        target = node.get("_target_") if "_target_" in node else None
        if isinstance(target, str) and target in MOVED_TARGETS:
            node._target_ = MOVED_TARGETS[target]
        for key in node:
            if not node._get_node(key)._is_interpolation():
                _map_moved_targets(node[key])
    elif isinstance(node, ListConfig):
        for item in node:
            _map_moved_targets(item)


def discard_unused_run_folder(path: Path) -> bool:
    """Remove a run folder that holds only what Hydra writes before the task starts (.hydra/ and
    the job's log, train.log or attack.log), e.g. after bad input, and the folders above it that
    this left empty (outputs/attack/<date>/...), up to the working folder; a folder with anything
    else in it is left alone."""
    path = Path(path).absolute()
    if not path.is_dir() or any(p.name != ".hydra" and p.suffix != ".log" for p in path.iterdir()):
        return False
    shutil.rmtree(path)
    cwd = Path.cwd().absolute()
    for parent in path.parents:
        if parent == cwd or not parent.is_relative_to(cwd) or any(parent.iterdir()):
            break
        parent.rmdir()
    return True


def fail_job(path: Path, ex: BaseException, overrides: list[str], sweep_dir: Path) -> None:
    """A sweep job failed (`ex`): its record, as the CLI and the vectorized launcher both keep it."""
    from nnlab.errors import as_user_error

    record_failed_job(Path(path), ex, as_user_error(ex), list(overrides), Path(sweep_dir).resolve())


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
    summary = folder.read_summary() or {}
    note_failure(sweep_dir, str(Path(path).relative_to(sweep_dir)) if Path(path).is_relative_to(sweep_dir)
                 else str(path), str(user_error or ex))
    if summary.get("status") in (None, "running"):
        summary.update({"status": "failed", "run_dir": str(path), "overrides": overrides,
                        "error": " ".join(str(user_error or ex).split()) or type(ex).__name__})
        path.mkdir(parents=True, exist_ok=True)
        folder.write_summary(summary)


# --- what tells a run from others, for figure titles ----------------------------------------------

# Keys that say where or how a run ran, not what it computed: left out of the settings a title shows.
# (Probes watch a run without changing it: tested in test_grad_flow.py.)
NOT_SETTINGS = ("hydra.", "hydra/", "progress", "cpu_threads", "device", "plots", "checkpoint",
                "resume", "skip_completed", "objective", "logger", "probe", "dataset.root", "figures",
                "dataset.download", "dataset.source")


def run_name(path: Path) -> str | None:
    """'fashion_mnist / LeNet': the run's dataset and model class (.hydra/config.yaml), or None."""
    import yaml

    try:
        cfg = yaml.safe_load(config_path(path).read_text()) or {}
        dataset, model = cfg["dataset"]["name"], cfg["model"]["_target_"].rsplit(".", 1)[-1]
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None
    return f"{dataset} / {model}"


def run_settings(path: Path) -> list[str]:
    """The settings that tell this run from others, as typed (`optimizer.lr=0.01`): for a job of a
    sweep, the swept keys with this job's values; else every override typed (.hydra/overrides.yaml)
    that changes what the run computes (not `device`, `progress`, `hydra.*` ...). [] when the folder
    has no such record. Resumed runs keep the overrides of their first start."""
    import yaml

    try:
        typed = yaml.safe_load((Path(path) / ".hydra" / "overrides.yaml").read_text()) or []
    except (OSError, yaml.YAMLError):
        return []
    swept = _swept_keys(Path(path).parent / "multirun.yaml")
    shown = []
    for text in map(str, typed):
        key, _, value = text.partition("=")
        key = key.lstrip("+~")
        if key.startswith(NOT_SETTINGS) or (swept is not None and key not in swept):
            continue
        shown.append(f"{key}={_short_number(value)}")
    return shown


def wrap(words: list[str], width: int) -> list[str]:
    """Words joined by spaces into lines of at most `width` characters (a longer word alone): a
    run's settings in a figure title."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _swept_keys(multirun: Path) -> set[str] | None:
    """The keys a sweep varies (comma lists, ranges, the sweeper's own params), from its
    multirun.yaml; None when there is no sweep there. Read once per version of the file: every
    job of a sweep asks, for the titles of its figures."""
    try:
        stat = multirun.stat()
    except OSError:
        return None
    keys = _swept_keys_of(str(multirun), stat.st_mtime_ns, stat.st_size)
    return None if keys is None else set(keys)


@functools.lru_cache(maxsize=16)
def _swept_keys_of(multirun: str, mtime_ns: int, size: int) -> frozenset[str] | None:
    import yaml

    try:
        text = Path(multirun).read_text()
        hydra_cfg = (yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {})["hydra"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys = {str(k) for k in ((hydra_cfg.get("sweeper") or {}).get("params") or {})}
    parser = OverridesParser.create()
    for text in (hydra_cfg.get("overrides") or {}).get("task") or []:
        try:
            override = parser.parse_override(str(text))
        except Exception:  # not Hydra's syntax: it cannot have been a sweep either
            continue
        if override.is_sweep_override():
            keys.add(override.key_or_group)
    return frozenset(keys)


def _short_number(value: str) -> str:
    """0.012345678901 (an Optuna trial's lr) -> 0.01235; anything else as typed."""
    try:
        number = float(value)
    except ValueError:
        return value
    return value if len(value) <= 8 or not number == number else f"{number:.4g}"


# --- the sweep folder ------------------------------------------------------------------------------

FAILURES = "failures.jsonl"  # in the sweep folder: a line per job that failed in this sweep


def note_failure(sweep_dir: Path, job: str, error: str) -> None:
    """Record a job's failure in the sweep folder (one write per line: safe from parallel jobs),
    for failures a job's summary cannot show, e.g. a refusal to overwrite a completed run."""
    line = json.dumps({"job": job, "error": error}) + "\n"
    with open(Path(sweep_dir) / FAILURES, "a") as f:
        f.write(line)


def read_failures(sweep_dir: Path) -> list[dict]:
    path = Path(sweep_dir) / FAILURES
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def forget_failures(sweep_dir: Path) -> None:
    (Path(sweep_dir) / FAILURES).unlink(missing_ok=True)


def job_statuses(sweep_dir: Path) -> dict[str, str]:
    """Job folder name -> status from its summary.json ('missing' when there is none)."""
    statuses = {}
    for job in sorted(p for p in Path(sweep_dir).iterdir() if (p / ".hydra").is_dir()):
        summary = read_summary(job)
        statuses[job.name] = summary.get("status", "missing") if summary else "missing"
    return statuses


def sweep_statuses(sweep_dir: Path) -> dict[str, str]:
    """How each job of a sweep ended: its summary's status (job_statuses), made `failed` where
    failures.jsonl says a job failed that looks finished or has no folder (e.g. it refused to write
    over a completed run, whose summary is the earlier run's)."""
    statuses = job_statuses(sweep_dir)
    for failure in read_failures(sweep_dir):
        if statuses.get(failure["job"]) in (None, *FINISHED):
            statuses[failure["job"]] = "failed"
    return statuses


# --- a trained model, read back as data (for `nnlab attack`, transfer, experiments) ----------------


@dataclass
class Trained:
    path: Path
    cfg: object  # the training run's config (DictConfig)
    data: object  # its Dataset, rebuilt from the config: same splits
    model: object  # the nn.Module, in eval mode, on the requested device
    epoch: int


def load_trained(path, checkpoint: str = "best", device="cpu", data=None,
                 data_root: str | None = None) -> Trained:
    """The run's dataset (rebuilt from its config: same splits) and its model with the weights of
    checkpoints/<checkpoint>.pt, loaded with weights_only=True. Pass `data` to reuse a dataset,
    `data_root` to read the run's image files from another folder than the one it recorded."""
    from hydra.utils import instantiate

    from nnlab.errors import UserError
    from nnlab.models import build_model

    path = Path(str(path))
    if not config_path(path).is_file():
        raise UserError(f"{path} is not a training run folder (no .hydra/config.yaml); "
                        "point run= at a folder written by `nnlab train`")
    if checkpoint not in ("best", "last"):
        raise UserError(f"checkpoint: unknown value {checkpoint!r}; valid: best, last")
    ckpt = path / "checkpoints" / f"{checkpoint}.pt"
    if not ckpt.is_file():
        raise UserError(f"{path} has no checkpoints/{checkpoint}.pt (trained with checkpoint=false, "
                        "or stopped before its first epoch)")
    cfg = read_config(path)
    if data_root is not None:
        if "root" not in cfg.dataset:
            raise UserError(f"dataset.root: {path} was trained on generated data "
                            f"({cfg.dataset.get('name', 'a toy dataset')}), not on files; drop dataset.root")
        cfg.dataset.root = str(data_root)
    if data is None:
        data = instantiate(cfg.dataset)
    model = build_model(cfg.model, data)
    try:
        state = load_checkpoint(ckpt)
        model.load_state_dict(state["model"])
    except Exception as ex:
        raise UserError(f"cannot load {ckpt} into the run's model ({type(ex).__name__}: "
                        f"{' '.join(str(ex).split())[:200]})") from None
    return Trained(path, cfg, data, model.to(device).eval(), int(state.get("epoch", 0)))


# --- checkpoints -----------------------------------------------------------------------------------


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint as data only (no pickled code can run)."""
    import torch

    with warnings.catch_warnings():  # torch warns about foreign pickle protocols before refusing them
        warnings.simplefilter("ignore", UserWarning)
        return torch.load(path, map_location=map_location, weights_only=True)


# Figures in the run's files are written to 6 significant digits: float32 arithmetic makes the
# rest noise (0.9465000033378601 is 0.9465).
CSV_FLOAT_FORMAT = "%.6g"


def rounded(value) -> float:
    """A figure (a Python number or a one-element tensor) as a float of 6 significant digits."""
    return float(f"{float(value):.6g}")


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return CSV_FLOAT_FORMAT % value
    return value


def environment() -> dict:
    """Versions and source revision recorded in every summary."""
    import hydra
    import torch

    return {
        "nnlab": __version__,
        "torch": torch.__version__,
        "hydra": hydra.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }


@functools.lru_cache(maxsize=1)  # once per process: a sweep's jobs run the same source tree
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


def dotted(config: dict, prefix: str = "") -> dict:
    """A nested config as dotted keys: {"a": {"b": 1}, "c": {}} -> {"a.b": 1, "c": {}} (an empty
    section stays, as a value of its own)."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        out.update(dotted(value, name) if isinstance(value, dict) and value else {name: value})
    return out


def turn_interval(spent_s: float, sharing: int, at_least: float = 0.0) -> float:
    """How long a writer waits before its next write when `sharing` writers take turns (the jobs
    of a group trained as one): 9 x sharing x its last write's duration keeps writing near a tenth
    of the time; never less than `at_least`."""
    return max(at_least, 9 * sharing * spent_s)


class CheckpointWriter:
    """Writes checkpoints/best.pt and last.pt.

    Toy epochs take milliseconds, and two torch.save calls per epoch would then dominate the run;
    so files are written at most every `min_interval_s` seconds (or, when writing is slower, so
    that it stays near a tenth of the time), the newest states waiting in memory (as copies), and
    `flush()` writes whatever is pending at the end of the run. The run's metrics rows are written
    every epoch, so they are never behind a checkpoint. (A group's: train/group_checkpoints.py.)
    """

    def __init__(self, folder: RunFolder, min_interval_s: float = 2.0):
        self.folder, self.min_interval_s = folder, min_interval_s
        self.interval_s = min_interval_s
        self.pending: dict[str, dict] = {}
        self.last_write = time.monotonic()

    def record(self, state: dict, improved: bool) -> None:
        # The run's config is written once and never changed: shared, not copied every epoch.
        state = {k: v if k == "config" else snapshot(v) for k, v in state.items()}
        self.pending["last.pt"] = state
        if improved:
            self.pending["best.pt"] = state
        if time.monotonic() - self.last_write >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        started = time.monotonic()
        for name, state in self.pending.items():
            self.folder.save_checkpoint(name, state)
        if self.pending:
            spent = time.monotonic() - started
            self.interval_s = turn_interval(spent, 1, self.min_interval_s)
        self.pending.clear()
        self.last_write = time.monotonic()


def snapshot(value):
    """A copy of a checkpoint's state that later training cannot change: tensors cloned (a view
    keeps only its own elements), containers copied, plain values shared."""
    torch = sys.modules.get("torch")  # a state with tensors in it means torch is imported
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(v) for v in value)
    return value
