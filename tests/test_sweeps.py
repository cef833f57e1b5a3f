"""Sweeps on a GPU box and a cluster: launchers, automatic reports, jobs that fail or diverge,
skip_completed, Optuna, TensorBoard, and spreading jobs over GPUs."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pandas as pd
import pytest
import torch

from conftest import Run, nnlab, nnlab_popen, wait_for_lines


def sweep(tmp_path, *args: str, folder: str = "sweep"):
    return nnlab("train", "-m", "progress=false", "plots=false", f"hydra.sweep.dir={folder}", *args,
                 cwd=tmp_path)


def test_joblib_launcher_runs_jobs_in_parallel_and_reports(tmp_path):
    proc = sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                 "optimizer.lr=0.1,0.01", "batch_size=10,32", "epochs=2")
    assert proc.returncode == 0, proc.stderr
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == ["0", "1", "2", "3"]
    assert {Run(tmp_path / "sweep" / j).summary["status"] for j in jobs} == {"completed"}
    table = pd.read_csv(tmp_path / "sweep" / "report.csv")  # written when the sweep ended
    assert len(table) == 4 and set(table["status"]) == {"completed"}
    assert (tmp_path / "sweep" / "curves.png").is_file()
    assert "ConfigStore schema" not in proc.stderr  # Hydra 1.3's notice about the config's name


def test_sweep_prints_its_final_table_aggregated_over_the_seeds(tmp_path):
    """The issue's sweep: at its end `nnlab train -m` prints what `nnlab report` prints, mean ± std
    over the seeds per learning rate, checked against the jobs' own summaries."""
    import statistics

    from test_report import md_table

    proc = sweep(tmp_path, "dataset=spiral", "optimizer.lr=0.1,0.01", "seed=1,2,3,4,5", "epochs=3")
    assert proc.returncode == 0, proc.stderr
    accs: dict[str, list[float]] = {}
    for job in (tmp_path / "sweep").iterdir():
        if job.is_dir():
            lr = next(o for o in Run(job).summary["overrides"] if o.startswith("optimizer.lr="))
            accs.setdefault(lr.split("=")[1], []).append(Run(job).summary["final"]["test_acc"])
    cells = {lr: f"{statistics.mean(v):.4f} ± {statistics.stdev(v):.4f} (n=5)" for lr, v in accs.items()}
    best = max(accs, key=lambda lr: statistics.mean(accs[lr]))
    cells[best] = f"**{cells[best]}**"
    table = md_table(proc.stdout, "10 jobs: 10 completed")
    assert table == [["optimizer.lr", "test_acc"], ["0.01", cells["0.01"]], ["0.1", cells["0.1"]]]
    assert proc.stdout.rstrip().endswith(f"| 0.1 | {cells['0.1']} |")  # the last thing printed
    report = nnlab("report", "sweep", cwd=tmp_path)
    assert md_table(report.stdout, "10 jobs: 10 completed") == table  # as `nnlab report` prints it


def test_joblib_workers_are_forked_warm_and_share_the_cores(tmp_path):
    """hydra/launcher=joblib forks its workers from the launching process (torch already
    imported, see src/hydra_plugins/nnlab_launcher): each job's process is a direct child of
    `nnlab`, and the cores are shared out (torch's default would give every worker all of them)."""
    proc = sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2,3",
                 "epochs=1", "hydra.job_logging.root.level=DEBUG")
    assert proc.returncode == 0, proc.stderr
    assert "workers forked with torch imported" in proc.stdout + proc.stderr
    threads = {Run(tmp_path / "sweep" / j).summary["cpu_threads"] for j in "012"}
    assert threads == {max(1, (os.cpu_count() or 1) // 2)}
    explicit = sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2",
                     "epochs=1", "cpu_threads=1", folder="explicit")
    assert explicit.returncode == 0, explicit.stderr
    assert {Run(tmp_path / "explicit" / j).summary["cpu_threads"] for j in "01"} == {1}


def test_joblib_loky_backend_still_available(tmp_path):
    proc = sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                 "hydra.launcher.backend=loky", "seed=1,2", "epochs=1")
    assert proc.returncode == 0, proc.stderr
    assert "workers forked" not in proc.stdout + proc.stderr
    assert len(pd.read_csv(tmp_path / "sweep" / "report.csv")) == 2


def test_ctrl_c_stops_a_forked_sweep_and_keeps_finished_epochs(tmp_path):
    """Ctrl-C reaches the whole process group: workers finish their step and write their files,
    the launcher stops instead of waiting for jobs that will never report, and the command that
    continues the sweep is printed."""
    proc = nnlab_popen("train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                       "seed=1,2,3,4", "epochs=100000", "progress=false", "plots=false",
                       "hydra.sweep.dir=sweep", cwd=tmp_path, start_new_session=True)
    for job in "01":  # both workers are training: a few epochs written
        wait_for_lines(tmp_path / "sweep" / job / "metrics.csv", 3, proc)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the sweep did not stop after Ctrl-C") from None
    assert proc.returncode == 130, stderr[-2000:]  # an exit, not a traceback
    for job in "01":
        run = Run(tmp_path / "sweep" / job)
        assert run.summary["status"] == "interrupted", stderr[-2000:]
        assert len(run.metrics) >= 1 and run.metrics["epoch"].tolist() == list(
            range(1, len(run.metrics) + 1))
    printed = stderr.strip().splitlines()[-1].strip()
    assert printed.startswith("nnlab train -m ") and printed.endswith("skip_completed=true"), stderr


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]],
                         ids=["sequential", "joblib"])
def test_sweep_goes_on_past_a_diverged_and_a_failed_job(tmp_path, launcher):
    # val_acc passes the declarations (a bad value would refuse the whole sweep before it runs:
    # test_a_sweep_with_a_bad_value_is_refused_before_any_job_trains), but this dataset has no
    # validation split, which the job finds once its data is built
    proc = nnlab("train", "-m", "optimizer=sgd", "optimizer.lr=1e30,0.1",
                 "early_stopping.monitor=val_acc,auto", "epochs=2", "progress=false", "plots=false",
                 "hydra.sweep.dir=sweep", *launcher, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "nnlab: error: 3 of 4 jobs in sweep did not complete: 0 (failed), 1 (diverged), 2 (failed); "
        "see their summary.json and train.log")
    status = {j: Run(tmp_path / "sweep" / j).summary["status"] for j in "0123"}
    assert status == {"0": "failed", "1": "diverged", "2": "failed", "3": "completed"}
    assert "monitor: 'val_acc' is not recorded" in Run(tmp_path / "sweep" / "2").summary["error"]
    assert len(Run(tmp_path / "sweep" / "3").metrics) == 2


def test_sweep_with_every_job_fine_exits_zero(tmp_path):
    proc = nnlab("train", "-m", "seed=1,2", "epochs=1", "plots=false", "hydra.sweep.dir=s",
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_submitit_local_launcher_completes_and_is_reported(tmp_path):
    """submitit_local stands in for SLURM (submitit_slurm, or the slurm_gpu preset)."""
    proc = sweep(tmp_path, "hydra/launcher=submitit_local", "optimizer.lr=0.1,0.01", "epochs=2")
    assert proc.returncode == 0, proc.stderr
    for job in ("0", "1"):
        assert Run(tmp_path / "sweep" / job).summary["status"] == "completed"
    assert len(pd.read_csv(tmp_path / "sweep" / "report.csv")) == 2


def test_slurm_gpu_preset_composes():
    from hydra import compose, initialize_config_module

    with initialize_config_module("nnlab.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=["hydra/launcher=slurm_gpu"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.gpus_per_node == 1


def test_skip_completed_reruns_only_what_did_not_complete(tmp_path):
    args = ("optimizer=sgd", "optimizer.lr=0.1,1e30,0.05", "epochs=2")
    assert sweep(tmp_path, *args).returncode == 1  # job 1 diverges
    before = {j: (tmp_path / "sweep" / j / "metrics.csv").stat().st_mtime_ns for j in ("0", "2")}
    again = sweep(tmp_path, *args, "skip_completed=true")
    assert again.returncode == 1  # it diverges again, and says so
    assert "3 jobs, 2 completed (not run again), 1 start afresh" in again.stdout + again.stderr
    after = {j: (tmp_path / "sweep" / j / "metrics.csv").stat().st_mtime_ns for j in ("0", "2")}
    assert before == after  # completed jobs untouched
    job1 = tmp_path / "sweep" / "1"
    earlier = json.loads((job1 / "attempts" / "1" / "summary.json").read_text())
    assert earlier["status"] == "diverged"  # the first attempt is kept, not overwritten
    assert Run(job1).summary["status"] == "diverged"


def test_without_skip_completed_a_rerun_into_the_same_folder_is_refused(tmp_path):
    sweep(tmp_path, "optimizer.lr=0.1", "epochs=1")
    proc = sweep(tmp_path, "optimizer.lr=0.1", "epochs=1")
    assert proc.returncode == 2  # before any job runs (tests/test_continuation.py)
    assert Run(tmp_path / "sweep" / "0").summary["status"] == "completed"  # first run kept


def test_optuna_study_survives_a_diverged_trial(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    proc = nnlab("train", "hparams_search=spiral_optuna", "hydra.sweep.dir=study", "epochs=3",
                 "progress=false", "plots=false", "optimizer=sgd", "hydra.sweeper.n_trials=4",
                 "hydra.sweeper.sampler.seed=2", "optimizer.lr=choice(1e30,0.05)", cwd=tmp_path)
    summaries = [Run(p).summary for p in sorted((tmp_path / "study").iterdir())
                 if (p / "summary.json").exists()]
    statuses = [s["status"] for s in summaries]
    assert len(statuses) == 4  # every trial ran
    assert "diverged" in statuses and "completed" in statuses
    assert proc.returncode == 1  # and the command says some trials failed
    best = yaml_load(tmp_path / "study" / "optimization_results.yaml")
    completed = [s["final"]["val_acc"] for s in summaries if s["status"] == "completed"]
    assert best["best_value"] == pytest.approx(max(completed))  # from completed trials only


def yaml_load(path):
    import yaml

    return yaml.safe_load(path.read_text())


def test_objective_is_what_the_run_returns(tmp_path):
    from omegaconf import OmegaConf

    from nnlab.train.task import objective

    summary = {"final": {"val_acc": 0.75}, "best": {"val_loss": 0.2}}
    assert objective(OmegaConf.create({"objective": "final.val_acc"}), summary) == 0.75
    assert objective(OmegaConf.create({"objective": None}), summary) is summary
    from nnlab.errors import UserError

    with pytest.raises(UserError, match="objective"):
        objective(OmegaConf.create({"objective": "final.nope"}), summary)


def test_tensorboard_logger_writes_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    proc = nnlab("train", "logger=tensorboard", "epochs=3", "hydra.run.dir=run", "plots=false",
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    acc = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    acc.Reload()
    assert {"loss/train", "acc/test", "lr"} <= set(acc.Tags()["scalars"])
    steps = [e.step for e in acc.Scalars("acc/test")]
    assert steps == [1, 2, 3]
    csv = Run(tmp_path / "run").metrics
    assert acc.Scalars("acc/test")[-1].value == pytest.approx(csv["test_acc"].iloc[-1], abs=1e-5)


def test_auto_device_spreads_sweep_jobs_over_gpus(monkeypatch):
    from nnlab.runtime import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert [resolve_device("auto", k).index for k in range(5)] == [0, 1, 2, 0, 1]
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", 4) == torch.device("cpu")


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                                      ["hydra/launcher=vectorized"]], ids=["basic", "joblib", "vectorized"])
def test_a_sweep_with_a_bad_value_is_refused_before_any_job_trains(tmp_path, launcher):
    proc = sweep(tmp_path, *launcher, "optimizer.lr=0.1,abc", "epochs=2")
    assert proc.returncode == 2
    # the last line (Hydra warns about the joblib launcher's config first)
    assert proc.stderr.strip().splitlines()[-1] == (
        "nnlab: error: job 1 (optimizer.lr=abc): optimizer.lr: expected a number > 0, got 'abc'; no "
        "job was run"), proc.stderr
    assert not (tmp_path / "sweep").exists()  # nothing written
