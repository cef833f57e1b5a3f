"""The MLflow tracking store nnlab writes to (logger=mlflow): the store, its limits, and the
attack's run. The training run's side (a run per job, a parent run per sweep) is
train/mlflow_logger.py; this module is below it, so that `nnlab attack` can log too.

The default store is a SQLite file, outputs/mlflow.db under the folder nnlab was started from,
as an absolute path: every run of a project lands in one store wherever Hydra puts the run
folder (Hydra's change of working directory hides ./mlruns from users, Hydra #830). Its artifacts
go next to it, in outputs/mlartifacts/.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

from nnlab.errors import UserError
from nnlab.runs import dotted

log = logging.getLogger("nnlab")

# MLflow's limits (mlflow.utils.validation): longer param values are cut, and say so at their end
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
MAX_KEY_LENGTH = 250
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
CUT = "... [cut: {n} characters; the whole value is in the artifact config.yaml]"


def default_tracking_uri(launch_dir: str | Path | None = None) -> str:
    """sqlite:///<absolute outputs/>/mlflow.db under the folder nnlab was started from."""
    return f"sqlite:///{(Path(launch_dir or _launch_dir()) / 'outputs').resolve()}/mlflow.db"


def _launch_dir() -> str:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return str(HydraConfig.get().runtime.cwd)
    return os.getcwd()


# --- the store ---------------------------------------------------------------------------------


class Store:
    """An MLflow tracking store and the experiment runs go into (created when missing)."""

    def __init__(self, uri: str, experiment: str):
        self.uri = uri
        self.client = _client(uri)
        self.experiment_id = self._experiment(experiment)

    def _experiment(self, name: str) -> str:
        found = retrying(lambda: self.client.get_experiment_by_name(name))
        if found is not None:
            if found.lifecycle_stage != "active":
                raise UserError(f"MLflow experiment {name!r} is deleted; restore it or pick another "
                                "logger.experiment")
            return found.experiment_id
        database = _sqlite_file(self.uri)  # artifacts next to it, not in ./mlruns
        location = (database.parent / "mlartifacts").as_uri() if database is not None else None
        try:
            return retrying(lambda: self.client.create_experiment(name, artifact_location=location))
        except Exception:  # another job created it first
            found = retrying(lambda: self.client.get_experiment_by_name(name))
            if found is None:
                raise
            return found.experiment_id

    def create_run(self, name: str, tags: dict[str, str]) -> str:
        run = retrying(lambda: self.client.create_run(self.experiment_id, run_name=name[:MAX_KEY_LENGTH],
                                                      tags=tags_within_limits(tags)))
        return run.info.run_id

    def log(self, run_id: str, metrics=(), params=(), tags=()) -> None:
        """One batch at a time within MLflow's limits (100 params or tags, 1000 metrics)."""
        from mlflow.entities import Param, RunTag

        params = [Param(k, v) for k, v in params]
        tags = [RunTag(k, v) for k, v in tags]
        for i in range(0, max(len(params), len(tags)), PARAMS_PER_BATCH):
            retrying(lambda i=i: self.client.log_batch(run_id, params=params[i:i + PARAMS_PER_BATCH],
                                                       tags=tags[i:i + PARAMS_PER_BATCH]))
        metrics = list(metrics)
        for i in range(0, len(metrics), METRICS_PER_BATCH):
            retrying(lambda i=i: self.client.log_batch(run_id, metrics=metrics[i:i + METRICS_PER_BATCH]))

    def end(self, run_id: str, status: str, quiet: bool = False) -> None:
        """The run's status. MLflow prints "View run NAME at: URL" for a server's runs: a sweep's
        jobs stay `quiet` (their parent's line leads to them), not a thousand lines."""
        with _environment("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true") if quiet else nullcontext():
            retrying(lambda: self.client.set_terminated(run_id, status))


@contextmanager
def _environment(key: str, value: str):
    """The environment variable `key` set to `value` inside, as it was after."""
    before = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[key]
        else:
            os.environ[key] = before


def _client(uri: str):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError("logger=mlflow needs the mlflow package: pip install 'nnlab[mlflow]' "
                        "(or pip install mlflow)") from None
    # A server that does not answer costs seconds, not MLflow's default minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    # No pooled SQLite connections: forked sweep workers (joblib) must not share the parent's.
    os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    for name in ("mlflow", "alembic"):  # "Creating initial MLflow database tables..." and the like
        logging.getLogger(name).setLevel(logging.WARNING)
    # a server that is down is one warning line (ours), not one more per retry
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    database = _sqlite_file(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri)


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a sqlite:/// URI (None for other stores)."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def retrying(call, attempts: int = 8):
    """`call()`, tried again after a pause while SQLite says another process holds the database
    (parallel sweep jobs write to one file); other errors are raised at once."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as ex:
            if "locked" not in str(ex).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2 ** attempt * (1 + random.random()))


def tags_within_limits(tags: dict[str, str]) -> dict[str, str]:
    return {k: str(v)[:MAX_TAG_LENGTH] for k, v in tags.items() if v is not None}


def flatten(config: dict) -> dict[str, str]:
    """The resolved config as MLflow params: dotted keys (`optimizer.lr`), values as text, a value
    longer than MLflow's 6000 characters cut and marked (config.yaml, an artifact, has it whole)."""
    params = {}
    for name, value in dotted(config).items():
        text = json.dumps(value) if isinstance(value, list | dict) else str(value)
        if len(text) > MAX_PARAM_LENGTH:
            marker = CUT.format(n=len(text))
            text = text[:MAX_PARAM_LENGTH - len(marker)] + marker
        params[name[:MAX_KEY_LENGTH]] = text
    return params


# --- an attack ---------------------------------------------------------------------------------

ATTACK_METRICS = ("clean_acc", "adv_acc", "success_rate", "success_rate_all", "l2_median",
                  "linf_median", "steps_mean", "eps")


def attack_metrics(results: list[dict]) -> dict[str, float]:
    """The attack's figures as MLflow metrics. One eps (or none): `adv_acc`, `success_rate`, ...
    With a list of eps, a metric per figure and eps, named by the eps's value: `adv_acc_eps_0.1`
    (MLflow's steps are whole numbers, and an eps's position in the list is not its value);
    `_eps_null` for an unbounded eps (ifgsm's attack.eps=[null,...]), as typed."""
    metrics = {}
    for result in results:
        eps = result.get("eps")
        suffix = "" if len(results) == 1 else f"_eps_{'null' if eps is None else f'{float(eps):g}'}"
        for key in ATTACK_METRICS:
            if isinstance(result.get(key), int | float) and not (suffix and key == "eps"):
                metrics[f"{key}{suffix}"[:MAX_KEY_LENGTH]] = float(result[key])
    return metrics


def log_attack(out: Path, report: dict, trained_run: Path, overrides: list[str]) -> dict | None:
    """`nnlab attack` on a run logged to MLflow: the attack's figures (`attack_metrics`), the
    report as the artifact attack.json and its folder's other files (not adversarial.pt) as a run
    of the same store, nested under the trained run and tagged with its id. What attack.json keeps
    of it (the command writes attack.json once, after this), or None when the trained run was not
    logged to MLflow."""
    from nnlab.runs import read_summary

    trained = (read_summary(Path(trained_run)) or {}).get("tracker") or {}
    if trained.get("name") != "mlflow" or not trained.get("run_id"):
        return None
    uri, experiment = trained["tracking_uri"], trained.get("experiment", "nnlab")
    entry = {"name": "mlflow", "tracking_uri": uri, "trained_run_id": trained["run_id"]}
    try:
        from mlflow.entities import Metric

        store = Store(uri, experiment)
        entry["run_id"] = run_id = store.create_run(
            "attack: " + (" ".join(o for o in overrides if not o.startswith("run=")) or out.name), {
                "mlflow.parentRunId": trained["run_id"], "nnlab.trained_run_id": trained["run_id"],
                "nnlab.kind": "attack", "nnlab.run_dir": str(out.resolve()),
                "nnlab.overrides": " ".join(overrides), "mlflow.source.name": "nnlab"})
        settings = {k: report.get(k) for k in ("run", "checkpoint", "dataset", "split", "n", "target")}
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, 0) for key, value in attack_metrics(report["results"]).items()]
        store.log(run_id, metrics=metrics,
                  params=flatten({**settings, "attack": report.get("attack") or {}}).items())
        text = json.dumps(report, indent=2, default=str) + "\n"  # as write_json writes the file
        retrying(lambda: store.client.log_text(run_id, text, "attack.json"))
        for path in sorted(out.iterdir()):
            if path.is_file() and path.suffix != ".pt" and path.name != "attack.json":
                retrying(lambda path=path: store.client.log_artifact(run_id, str(path)))
        store.end(run_id, "FINISHED")
    except UserError as ex:
        log.warning("logger=mlflow: %s; the attack is recorded in its folder only", ex)
        entry["error"] = str(ex)
    except Exception as ex:  # noqa: BLE001 - the attack's folder is complete without it
        log.warning("logger=mlflow: %s failed (%s: %s); the attack is recorded in its folder only",
                    uri, type(ex).__name__, first_line(ex))
        entry["error"] = f"{type(ex).__name__}: {first_line(ex)}"
    return entry


def first_line(ex: Exception) -> str:
    """What went wrong, short: MLflow's message for a server that is down is 400 characters."""
    text = str(ex)
    if "Connection refused" in text or "NewConnectionError" in text:
        return "no server answers there (connection refused)"
    if "Max retries exceeded" in text or "timed out" in text.lower():
        return "the server did not answer in time"
    return (text.strip().splitlines() or [""])[0][:200]
