"""logger=mlflow: each run is an MLflow run; a sweep is one parent run with a child run per job.

The run folder stays the record (metrics.csv, summary.json, plots/); MLflow gets a copy to compare
runs in: the resolved config as params, every metrics.csv column per epoch (step = epoch), tags
saying where the run lives and what was typed, and summary.json, metrics.csv, config.yaml, plots/
and the probes' files as artifacts when the run ends. A tracking store that cannot be reached or
written costs one warning line: the run goes on, and summary.json's `tracker` says what failed.
The store itself, and `nnlab attack`'s run, are in nnlab/mlflow_store.py.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path

from hydra.experimental.callback import Callback

from nnlab.errors import UserError
from nnlab.mlflow_store import Store, default_tracking_uri, first_line, flatten, retrying, tags_within_limits
from nnlab.runs import FINISHED, sweep_statuses, turn_interval, write_json

log = logging.getLogger("nnlab.train")

# How an nnlab run ended -> the MLflow run status
STATUSES = {"completed": "FINISHED", "early_stopped": "FINISHED", "diverged": "FAILED",
            "failed": "FAILED", "interrupted": "KILLED"}
PARENT_FILE = "mlflow_parent.json"  # in a sweep folder: the parent run its jobs' runs join
# Folders of a run folder that are not copied as artifacts (checkpoints: unless asked)
SKIPPED_FOLDERS = ("checkpoints", ".hydra", "tensorboard", "attempts")


# --- a run -------------------------------------------------------------------------------------


class MLflowLogger:
    """One nnlab run as one MLflow run (see the module's docstring). Metrics wait in memory and are
    sent every few seconds and at the end, so that a group of a thousand jobs trained as one does
    not spend its time in the tracking store."""

    name = "mlflow"

    def __init__(self, run_dir, tracking_uri: str | None = None, experiment: str = "nnlab",
                 log_checkpoints: bool = False, log_every: int = 1):
        self.run_dir = Path(run_dir)
        self.uri = tracking_uri or default_tracking_uri()
        self.experiment, self.log_checkpoints = experiment, log_checkpoints
        # MLflow's SQL store takes ~0.25 ms a point: a sweep of many long runs may log every Nth
        # epoch (and always the last)
        self.log_every, self.unsent_last_row = log_every, None
        self.store: Store | None = None
        self.run_id: str | None = None
        self.parent_run_id: str | None = None
        self.error: str | None = None
        self.ended = False
        self.pending: list = []
        self.sharing = 1  # jobs of a group take turns: each sends less often
        self.interval_s, self.last_sent = 5.0, time.monotonic()

    def start(self, config: dict, summary: dict, overrides: list[str], sweep_dir: Path | None) -> None:
        """Continue the run summary.json names (resume=), or create one: a child of the sweep's
        parent run when the job is in a sweep that has one."""
        earlier = summary.get("tracker") or {}
        try:
            self.store = Store(self.uri, self.experiment)
            if earlier.get("run_id") and earlier.get("tracking_uri") == self.uri:
                self.run_id, self.parent_run_id = earlier["run_id"], earlier.get("parent_run_id")
                retrying(lambda: self.store.client.update_run(self.run_id, status="RUNNING"))
                self.store.log(self.run_id, tags=[("nnlab.status", "running")])
                return
            parent = read_parent(sweep_dir, self.uri) if sweep_dir is not None else None
            self.parent_run_id = parent
            tags = {**run_tags(self.run_dir, overrides, summary), "nnlab.status": "running"}
            if parent:
                tags["mlflow.parentRunId"] = parent
            self.run_id = self.store.create_run(run_name(self.run_dir, sweep_dir is not None), tags)
            self.store.log(self.run_id, params=flatten(config).items())
        except UserError:
            raise
        except Exception as ex:  # noqa: BLE001 - the run goes on without its tracker
            self._failed("start", ex)

    def log(self, row: dict) -> None:
        if self.run_id is None or self.error:
            return
        if int(row["epoch"]) % self.log_every:
            self.unsent_last_row = row  # sent at the end if no later epoch is
            return
        self.unsent_last_row = None
        self._queue(row)
        if time.monotonic() - self.last_sent >= self.interval_s:
            self.flush()

    def _queue(self, row: dict) -> None:
        from mlflow.entities import Metric

        epoch, now = int(row["epoch"]), int(time.time() * 1000)
        self.pending += [Metric(k, float(v), now, epoch) for k, v in row.items()
                         if k != "epoch" and v is not None]

    def flush(self) -> None:
        if not self.pending or self.error or self.run_id is None:
            return
        started = time.monotonic()
        try:
            self.store.log(self.run_id, metrics=self.pending)
        except Exception as ex:  # noqa: BLE001
            self._failed("metrics", ex)
        self.pending = []
        self.last_sent = time.monotonic()
        self.interval_s = turn_interval(self.last_sent - started, self.sharing, at_least=5.0)

    def end(self, status: str) -> None:
        """The run's last metrics, its files as artifacts, and its status (once). A run that was
        created is always terminated, even after an earlier call failed (it would stay RUNNING
        for good); its files are sent only when every earlier call went through."""
        if self.ended:
            return
        self.ended = True
        if self.unsent_last_row is not None and self.run_id is not None and not self.error:
            self._queue(self.unsent_last_row)  # the last epoch is always there
        self.flush()
        if self.run_id is None:
            return
        failed_before = self.error is not None
        try:
            self.store.log(self.run_id, tags=[("nnlab.status", status)])
            if not failed_before:
                self._artifacts()
        except Exception as ex:  # noqa: BLE001
            self._failed("end", ex)
        try:
            self.store.end(self.run_id, STATUSES.get(status, "FAILED"), quiet=self.parent_run_id is not None)
        except Exception as ex:  # noqa: BLE001
            self._failed("end", ex)

    def _artifacts(self) -> None:
        """The run folder's files (summary.json, metrics.csv, the probes' tables, train.log) and
        folders (plots/ ...), and the resolved config.yaml; checkpoints only when asked."""
        client, folder = self.store.client, self.run_dir
        files = [folder / ".hydra" / "config.yaml", *sorted(folder.iterdir())]
        for path in files:
            if path.is_file():
                retrying(lambda path=path: client.log_artifact(self.run_id, str(path)))
            elif path.is_dir() and (path.name not in SKIPPED_FOLDERS
                                    or (path.name == "checkpoints" and self.log_checkpoints)):
                retrying(lambda path=path: client.log_artifacts(self.run_id, str(path), path.name))

    def _failed(self, what: str, ex: Exception) -> None:
        if self.error is None:
            log.warning("logger=mlflow: %s failed at %s (%s: %s); the run goes on, recorded in its "
                        "folder only", self.uri, what, type(ex).__name__, first_line(ex))
        self.error = f"{what}: {type(ex).__name__}: {first_line(ex)}"

    def record(self) -> dict:
        """What summary.json keeps: where the run is tracked, or what failed."""
        entry = {"name": self.name, "tracking_uri": self.uri, "experiment": self.experiment,
                 "run_id": self.run_id, "parent_run_id": self.parent_run_id}
        if self.store is not None:
            entry["experiment_id"] = self.store.experiment_id
        if self.error:
            entry["error"] = self.error
        return {k: v for k, v in entry.items() if v is not None}


def run_tags(run_dir: Path, overrides: list[str], summary: dict) -> dict[str, str]:
    return {"nnlab.run_dir": str(run_dir.resolve()), "nnlab.overrides": " ".join(overrides),
            "nnlab.version": summary.get("nnlab"), "torch.version": summary.get("torch"),
            "mlflow.source.git.commit": summary.get("git_commit"), "mlflow.source.name": "nnlab"}


def run_name(run_dir: Path, in_sweep: bool) -> str:
    """What tells the run from others, as typed (runs.run_settings): a sweep job's number and its
    swept values ("3: optimizer.lr=0.1 seed=2"); a run of its own: its overrides, or its folder."""
    from nnlab.runs import run_settings

    settings = " ".join(run_settings(run_dir))
    if in_sweep:
        return f"{run_dir.name}: {settings}" if settings else run_dir.name
    return settings or run_dir.name


# --- a sweep -----------------------------------------------------------------------------------


def read_parent(sweep_dir: Path, uri: str) -> str | None:
    """The sweep's parent run, when the sweep made one in this store."""
    try:
        entry = json.loads((sweep_dir / PARENT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return entry.get("run_id") if entry.get("tracking_uri") == uri else None


TARGET = f"{__name__}.MLflowLogger"
# sweeps this process began (or continued) and has not ended: (store, parent run id, continued)
_OPEN_SWEEPS: dict[Path, tuple[Store, str, bool]] = {}


def _sweep_store(config) -> tuple[str, str] | None:
    """(tracking URI, experiment) when the sweep's config logs to MLflow."""
    logger = config.get("logger") or {}
    if logger.get("_target_") != TARGET:
        return None
    uri = logger.get("tracking_uri") or default_tracking_uri(config.hydra.runtime.cwd)
    return uri, logger.get("experiment") or "nnlab"


class MLflowSweep(Callback):
    """With logger=mlflow, a sweep is one parent run named after its folder, and each job's run
    its child, whatever the launcher: the parent's id waits in the sweep folder (PARENT_FILE) for
    jobs in other processes (joblib workers, SLURM). At the end the parent gets the sweep's
    report files and FINISHED, or FAILED when a job did not complete. Listed first among the
    callbacks: Hydra ends a sweep's callbacks in reverse order, so the report exists by then."""

    def on_multirun_start(self, config, **kwargs) -> None:
        store_of = _sweep_store(config)
        if store_of is None:
            return
        uri, experiment = store_of
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            store = Store(uri, experiment)
            earlier = read_parent(sweep_dir, uri)
            if earlier is not None:  # a continued sweep (skip_completed): the same parent run,
                _OPEN_SWEEPS[sweep_dir] = (store, earlier, True)  # left as it is until the end
                return
            overrides = [str(o) for o in config.hydra.overrides.task]
            run_id = store.create_run(_sweep_name(sweep_dir, config.hydra.runtime.cwd), {
                "nnlab.sweep_dir": str(sweep_dir.resolve()), "nnlab.overrides": " ".join(overrides),
                "nnlab.status": "running", "nnlab.kind": "sweep", "mlflow.source.name": "nnlab"})
            sweep_dir.mkdir(parents=True, exist_ok=True)
            write_json(sweep_dir / PARENT_FILE, {"tracking_uri": uri, "run_id": run_id,
                                                 "experiment_id": store.experiment_id})
            _OPEN_SWEEPS[sweep_dir] = (store, run_id, False)
        except UserError as ex:
            log.warning("logger=mlflow: %s; the sweep's jobs will say so too", ex)
        except Exception as ex:  # noqa: BLE001 - the sweep goes on; each job tries on its own
            log.warning("logger=mlflow: %s failed at the sweep's parent run (%s: %s); its jobs' runs "
                        "will have no parent", uri, type(ex).__name__, first_line(ex))

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if sweep_dir not in _OPEN_SWEEPS:
            return
        statuses = sweep_statuses(sweep_dir)
        done = all(status in FINISHED for status in statuses.values())
        counts = Counter(statuses.values())
        end_sweep(sweep_dir, "FINISHED" if done else "FAILED",
                  {"nnlab.status": "completed" if done else "some jobs did not complete",
                   "nnlab.jobs": ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))})


def end_sweep(sweep_dir: Path, status: str, tags: dict | None = None) -> None:
    """The parent run's end: the sweep folder's own files (report, multirun.yaml) as artifacts."""
    store, run_id, _ = _OPEN_SWEEPS.pop(sweep_dir)
    try:
        store.log(run_id, tags=list(tags_within_limits(tags or {}).items()))
        for path in sorted(sweep_dir.iterdir()):
            if path.is_file() and path.name != PARENT_FILE:
                retrying(lambda path=path: store.client.log_artifact(run_id, str(path)))
        store.end(run_id, status)
    except Exception as ex:  # noqa: BLE001
        log.warning("logger=mlflow: %s failed at the end of the sweep's parent run (%s: %s)",
                    store.uri, type(ex).__name__, first_line(ex))


def end_open_sweeps(interrupted: bool, refused: bool = False) -> None:
    """A sweep stopped before its end (Ctrl-C, an error in the launcher): its parent run ends
    KILLED or FAILED rather than staying RUNNING. A continuation refused before any job ran
    (`refused`, exit 2) leaves the parent it would have continued as it was."""
    for sweep_dir in list(_OPEN_SWEEPS):
        if refused and _OPEN_SWEEPS[sweep_dir][2]:
            _OPEN_SWEEPS.pop(sweep_dir)
            continue
        end_sweep(sweep_dir, "KILLED" if interrupted else "FAILED",
                  {"nnlab.status": "interrupted" if interrupted else "failed"})


def _sweep_name(sweep_dir: Path, launch_dir) -> str:
    resolved, launch = sweep_dir.resolve(), Path(str(launch_dir)).resolve()
    return str(resolved.relative_to(launch) if resolved.is_relative_to(launch) else resolved)


