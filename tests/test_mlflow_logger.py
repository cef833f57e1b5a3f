"""logger=mlflow, read back through MLflow's own client: a run, a sweep as a parent with a child
per job (every launcher, a real `mlflow server` included), resume=, `nnlab attack`, and a store
that cannot be reached."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import nnlab, wait_for
from nnlab.mlflow_store import CUT, MAX_PARAM_LENGTH, attack_metrics, default_tracking_uri, flatten
from train_helpers import fake_mnist, interrupt_after

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

TOY = ("dataset.n_samples=200", "epochs=3", "progress=false", "cpu_threads=1")
# optimizer.lr=1e30 diverges in its first epoch (the vectorized launcher's tests use it too)
SWEEP = (*TOY, "plots=false", "optimizer=sgd", "model.activation=relu",
         "optimizer.lr=1e30,0.1,0.05,0.01")


def store(folder: Path) -> MlflowClient:
    """The default store of runs started in `folder`."""
    return MlflowClient(default_tracking_uri(folder))


def runs(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("nnlab")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def artifacts(client: MlflowClient, run_id: str) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id)}


def summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


def steps(client: MlflowClient, run_id: str, metric: str = "test_acc") -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, metric))


# --- what is logged ------------------------------------------------------------------------------


def test_params_are_dotted_keys_and_a_value_too_long_for_mlflow_is_cut_and_says_so():
    params = flatten({"optimizer": {"lr": 0.1, "betas": [0.9, 0.999]}, "probe": {},
                      "note": "x" * (MAX_PARAM_LENGTH + 50), "resume": None})
    assert params["optimizer.lr"] == "0.1" and params["optimizer.betas"] == "[0.9, 0.999]"
    assert params["probe"] == "{}" and params["resume"] == "None"
    cut = params["note"]
    assert len(cut) == MAX_PARAM_LENGTH and cut.endswith(CUT.format(n=MAX_PARAM_LENGTH + 50))


def test_a_run_goes_to_the_default_sqlite_store_under_outputs(tmp_path):
    proc = nnlab("train", "logger=mlflow", "hydra.run.dir=elsewhere/run", "optimizer.lr=0.05", *TOY,
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "outputs" / "mlflow.db").is_file()  # the same file wherever the run folder is
    client = store(tmp_path)
    [run] = runs(client)
    recorded = summary(tmp_path / "elsewhere" / "run")["tracker"]
    assert recorded["run_id"] == run.info.run_id and "error" not in recorded
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "optimizer.lr=0.05 dataset.n_samples=200 epochs=3"  # as typed
    assert run.data.params["optimizer.lr"] == "0.05" and run.data.params["epochs"] == "3"
    assert run.data.params["dataset._target_"] == "nnlab.data.toys.make_toy"
    tags = run.data.tags
    assert tags["nnlab.status"] == "completed"
    assert tags["nnlab.run_dir"] == str((tmp_path / "elsewhere" / "run").resolve())
    assert "optimizer.lr=0.05" in tags["nnlab.overrides"].split()
    assert tags["nnlab.version"] and tags["torch.version"] and "mlflow.source.git.commit" in tags
    metrics = run.data.metrics
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "lr"} <= set(metrics)
    assert steps(client, run.info.run_id) == [1, 2, 3]
    csv = pd.read_csv(tmp_path / "elsewhere" / "run" / "metrics.csv")
    assert metrics["test_acc"] == pytest.approx(csv["test_acc"].iloc[-1])
    logged = artifacts(client, run.info.run_id)
    assert {"summary.json", "metrics.csv", "config.yaml", "plots", "train.log"} <= logged
    assert "checkpoints" not in logged  # logger.log_checkpoints=false
    # artifacts live next to the database, not in a ./mlruns of whatever folder the run started in
    assert not (tmp_path / "mlruns").exists() and (tmp_path / "outputs" / "mlartifacts").is_dir()


def test_checkpoints_are_artifacts_when_asked(tmp_path):
    proc = nnlab("train", "logger=mlflow", "logger.log_checkpoints=true", "hydra.run.dir=run", *TOY,
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = store(tmp_path)
    [run] = runs(client)
    assert {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")} == {
        "checkpoints/best.pt", "checkpoints/last.pt"}


def test_log_every_sends_every_nth_epoch_and_always_the_last(tmp_path):
    proc = nnlab("train", "logger=mlflow", "logger.log_every=2", "hydra.run.dir=run", *TOY, "epochs=5",
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = store(tmp_path)
    [run] = runs(client)
    assert steps(client, run.info.run_id) == [2, 4, 5] and run.info.status == "FINISHED"
    assert len(pd.read_csv(tmp_path / "run" / "metrics.csv")) == 5  # the folder keeps every epoch


def test_resume_continues_the_same_mlflow_run(tmp_path, monkeypatch):
    interrupt_after(monkeypatch, 2)
    first = nnlab("train", "logger=mlflow", "hydra.run.dir=run", *TOY, "epochs=4", cwd=tmp_path)
    assert first.returncode == 130, first.stderr[-3000:]
    client = store(tmp_path)
    [run] = runs(client)
    assert run.info.status == "KILLED" and run.data.tags["nnlab.status"] == "interrupted"
    assert steps(client, run.info.run_id) == [1, 2]
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    again = nnlab("train", "resume=run", "progress=false", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    [run] = runs(client)  # still one run
    assert run.info.status == "FINISHED" and steps(client, run.info.run_id) == [1, 2, 3, 4]
    assert summary(tmp_path / "run")["tracker"]["run_id"] == run.info.run_id


# --- sweeps --------------------------------------------------------------------------------------


def check_sweep(client: MlflowClient, sweep_dir: Path, epochs: int = 3) -> None:
    """One parent named after the sweep folder, FAILED (a job diverged), with the sweep's report;
    four children: their params, `epochs` points of each metric, artifacts, statuses."""
    everything = runs(client)
    [parent] = [r for r in everything if r.data.tags.get("nnlab.kind") == "sweep"]
    children = [r for r in everything if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(everything) == 5 and len(children) == 4
    assert Path(parent.data.tags["nnlab.sweep_dir"]) == sweep_dir.resolve()
    assert parent.info.run_name.endswith(sweep_dir.name) and parent.info.status == "FAILED"
    assert parent.data.tags["nnlab.jobs"] == "3 completed, 1 diverged"
    assert {"report.md", "report.csv", "multirun.yaml"} <= artifacts(client, parent.info.run_id)
    by_lr = {r.data.params["optimizer.lr"]: r for r in children}
    assert set(by_lr) == {"1e+30", "0.1", "0.05", "0.01"}
    assert by_lr["1e+30"].info.status == "FAILED" and by_lr["1e+30"].data.tags["nnlab.status"] == "diverged"
    for lr in ("0.1", "0.05", "0.01"):
        run = by_lr[lr]
        assert run.info.status == "FINISHED"
        assert steps(client, run.info.run_id) == list(range(1, epochs + 1))
        assert {"summary.json", "metrics.csv", "config.yaml"} <= artifacts(client, run.info.run_id)
        assert f"optimizer.lr={lr}" in run.info.run_name
        job = Path(run.data.tags["nnlab.run_dir"])
        assert job.parent == sweep_dir.resolve()
        assert summary(job)["tracker"]["parent_run_id"] == parent.info.run_id


@pytest.mark.parametrize("launcher", ["basic", "vectorized", "joblib"])
def test_a_sweep_is_one_parent_run_with_a_child_per_job(tmp_path, launcher):
    """joblib: two worker processes write to one SQLite file at once."""
    workers = ("hydra.launcher.n_jobs=2",) if launcher == "joblib" else ()
    proc = nnlab("train", "-m", f"hydra/launcher={launcher}", *workers, "hydra.sweep.dir=sweep",
                 "logger=mlflow", *SWEEP, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]  # the diverged job fails the sweep
    check_sweep(store(tmp_path), tmp_path / "sweep")


@pytest.mark.slow
def test_submitit_local_jobs_join_the_sweeps_parent_run(tmp_path):
    proc = nnlab("train", "-m", "hydra/launcher=submitit_local", "hydra.sweep.dir=sweep", "logger=mlflow",
                 *SWEEP, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    check_sweep(store(tmp_path), tmp_path / "sweep")


def test_a_continued_sweep_is_the_same_parent_run_and_a_refused_one_changes_nothing(tmp_path, monkeypatch):
    grid = ("train", "-m", "hydra.sweep.dir=sweep", "logger=mlflow", *TOY, "plots=false", "seed=1,2",
            "epochs=4")
    interrupt_after(monkeypatch, 2)  # the first job stops after epoch 2; the second never starts
    assert nnlab(*grid, cwd=tmp_path).returncode == 130
    monkeypatch.undo()
    client = store(tmp_path)
    [parent] = [r for r in runs(client) if r.data.tags.get("nnlab.kind") == "sweep"]
    assert parent.info.status == "KILLED"
    refused = nnlab(*grid[:-1], "epochs=5", "skip_completed=true", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert client.get_run(parent.info.run_id).info.status == "KILLED"  # as it was, and no new run
    assert len(runs(client)) == 2
    again = nnlab(*grid, "skip_completed=true", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    everything = runs(client)
    children = [r for r in everything if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(everything) == 3 and len(children) == 2  # one parent, a run per job
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
    assert all(steps(client, r.info.run_id) == [1, 2, 3, 4] for r in children)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 (a free port, SQLite and artifacts in a temporary
    folder), stopped at the end of the module: its URL."""
    port, folder = free_port(), tmp_path_factory.mktemp("server")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", str(folder / "artifacts")],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(url), "the MLflow server to answer", proc, timeout=180)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)
        proc.stderr.close()


def test_a_real_mlflow_server_sees_a_joblib_sweep_as_one_parent_with_four_children(tmp_path, mlflow_server):
    proc = nnlab("train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweep.dir=sweep",
                 "logger=mlflow", f"logger.tracking_uri={mlflow_server}", *SWEEP, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    check_sweep(MlflowClient(mlflow_server), tmp_path / "sweep")  # (the other test: experiment "links")
    assert not (tmp_path / "outputs" / "mlflow.db").exists()  # nothing went to the default store


def test_a_sweep_on_a_server_prints_one_link_to_its_parent_run_not_one_per_job(tmp_path, mlflow_server):
    proc = nnlab("train", "-m", "hydra.sweep.dir=sweep", "logger=mlflow", "logger.experiment=links",
                 f"logger.tracking_uri={mlflow_server}", *TOY, "plots=false", "seed=1,2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    links = [line for line in proc.stdout.splitlines() if "View run" in line]
    assert len(links) == 1 and "View run sweep at: http://127.0.0.1" in links[0], links


# --- a store that cannot be reached ----------------------------------------------------------------


@pytest.mark.parametrize("uri", ["http://127.0.0.1:{port}", "sqlite:////proc/no/such/folder/mlflow.db"])
def test_an_unreachable_store_is_one_warning_and_the_run_goes_on(tmp_path, uri):
    uri = uri.format(port=free_port())  # nothing listens there
    proc = nnlab("train", "logger=mlflow", f"logger.tracking_uri={uri}", "hydra.run.dir=run", *TOY,
                 cwd=tmp_path, env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"})  # one retry: ~2 s
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = [line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING" in line]
    assert len(said) == 1 and "logger=mlflow" in said[0] and "the run goes on" in said[0], said
    record = summary(tmp_path / "run")
    assert record["status"] == "completed" and record["tracker"]["error"].startswith("start:")
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 4  # header + 3 epochs


@pytest.mark.parametrize("failing", ["metrics", "start"])
def test_a_run_whose_store_failed_once_is_still_ended_not_left_running(tmp_path, monkeypatch, failing):
    """A call that failed earlier (a batch of metrics, or the params at the start) must not keep
    the run RUNNING for good: the run that was created is terminated with the run's status."""
    from nnlab.mlflow_store import Store
    from nnlab.train.mlflow_logger import MLflowLogger

    uri = default_tracking_uri(tmp_path)
    log_batch = Store.log

    def failing_log(self, run_id, metrics=(), params=(), tags=()):
        if (failing == "metrics" and metrics) or (failing == "start" and params):
            raise RuntimeError("the store refused the batch")
        return log_batch(self, run_id, metrics=metrics, params=params, tags=tags)

    monkeypatch.setattr(Store, "log", failing_log)
    (tmp_path / "run").mkdir()
    tracker = MLflowLogger(tmp_path / "run", tracking_uri=uri)
    tracker.start({"epochs": 1}, {}, [], None)
    tracker.log({"epoch": 1, "train_loss": 0.5})
    tracker.flush()
    assert tracker.run_id is not None and tracker.error.startswith(failing)
    tracker.end("completed")
    run = MlflowClient(uri).get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["nnlab.status"] == "completed"
    assert tracker.record()["error"].startswith(failing)  # summary.json still says what failed


def test_logger_mlflow_without_the_package_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # import mlflow.tracking fails
    proc = nnlab("train", "logger=mlflow", "hydra.run.dir=run", *TOY, cwd=tmp_path)
    assert proc.returncode == 2
    assert "pip install 'nnlab[mlflow]'" in proc.stderr.strip().splitlines()[-1]


# --- nnlab attack -----------------------------------------------------------------------------------


def test_attack_metrics_are_named_by_the_eps_value_when_there_is_a_list_of_eps():
    one = {"eps": 0.1, "adv_acc": 0.5, "success_rate": 0.4, "per_class_success": {"0": 1.0}}
    assert attack_metrics([one]) == {"eps": 0.1, "adv_acc": 0.5, "success_rate": 0.4}
    curve = attack_metrics([{"eps": None, "adv_acc": 0.0}, {"eps": 0.0313725, "adv_acc": 0.25},
                            {"eps": 1e-5, "adv_acc": 0.75}])
    assert curve == {"adv_acc_eps_null": 0.0, "adv_acc_eps_0.0313725": 0.25, "adv_acc_eps_1e-05": 0.75}


def test_an_attack_on_a_tracked_run_is_a_run_nested_under_it(tmp_path, monkeypatch):
    """...with a metric per eps named by its value (adv_acc_eps_0.1), attack.json as an artifact,
    and attack.json written once, naming the MLflow run."""
    from nnlab.attacks import command

    written, write_json = [], command.write_json
    monkeypatch.setattr(command, "write_json", lambda path, data: (written.append(path.name),
                                                                   write_json(path, data)))
    root = fake_mnist(tmp_path / "data")
    trained = nnlab("train", "logger=mlflow", "hydra.run.dir=victim", "dataset=mnist", "model=lenet",
                    f"dataset.root={root}", "epochs=1", "progress=false", "cpu_threads=1", "plots=false",
                    cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    attacked = nnlab("attack", "run=victim", "hydra.run.dir=att", "attack=fgsm",
                     "attack.eps=[0.1,0.3]", "n=20", cwd=tmp_path)
    assert attacked.returncode == 0, attacked.stderr[-3000:]
    client = store(tmp_path)
    victim_id = summary(tmp_path / "victim")["tracker"]["run_id"]
    [attack] = [r for r in runs(client) if r.data.tags.get("nnlab.kind") == "attack"]
    assert attack.data.tags["nnlab.trained_run_id"] == victim_id
    assert attack.data.tags["mlflow.parentRunId"] == victim_id and attack.info.status == "FINISHED"
    report = json.loads((tmp_path / "att" / "attack.json").read_text())
    assert report["tracker"]["run_id"] == attack.info.run_id
    assert written == ["attack.json"]
    metrics = attack.data.metrics
    assert [metrics[f"adv_acc_eps_{eps}"] for eps in ("0.1", "0.3")] == pytest.approx(
        [r["adv_acc"] for r in report["results"]])
    assert "adv_acc" not in metrics and "eps" not in metrics  # no eps by its position in the list
    assert {m.step for m in client.get_metric_history(attack.info.run_id, "adv_acc_eps_0.3")} == {0}
    assert attack.data.params["attack._target_"] == "nnlab.attacks.FGSM"
    logged = artifacts(client, attack.info.run_id)
    assert {"attack.json", "gallery.png", "robustness.csv", "robustness.png"} <= logged
    assert "adversarial.pt" not in logged
