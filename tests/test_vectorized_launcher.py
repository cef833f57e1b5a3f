"""`hydra/launcher=vectorized` through the real CLI: each grouped job's run folder is the one a run
of its own writes, its trajectory the one it would have had alone, and each model stops, diverges
and is interrupted on its own."""

from __future__ import annotations

import contextlib
import json
import signal
from pathlib import Path

import pandas as pd
import pytest

from conftest import nnlab
from train_helpers import interrupt_after

TOY = ("dataset.n_samples=200", "epochs=3", "plots=false")


def sweep(tmp_path: Path, name: str, launcher: str, *overrides: str, code: int = 0):
    """`nnlab train -m OVERRIDES` into tmp_path/name with `launcher`; the finished process."""
    proc = nnlab("train", "-m", f"hydra/launcher={launcher}", f"hydra.sweep.dir={name}",
                 "progress=false", "cpu_threads=1", *overrides, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr[-3000:]
    return proc


def jobs(folder: Path) -> dict[tuple, Path]:
    """Each job folder of a sweep by its overrides (Hydra numbers jobs the same way under both
    launchers, but the overrides say what a job is)."""
    out = {}
    for job in sorted(p for p in folder.iterdir() if (p / "summary.json").is_file()):
        out[tuple(json.loads((job / "summary.json").read_text())["overrides"])] = job
    return out


def metrics(job: Path) -> pd.DataFrame:
    return pd.read_csv(job / "metrics.csv").drop(columns="seconds")


def summary(job: Path) -> dict:
    return json.loads((job / "summary.json").read_text())


def assert_same_trajectories(alone: Path, together: Path, samples: int) -> None:
    """Every loss within 1e-4 (relative) of the job run alone, every accuracy within one sample."""
    solo, grouped = jobs(alone), jobs(together)
    assert solo.keys() == grouped.keys() and solo
    for key, job in grouped.items():
        a, b = metrics(solo[key]), metrics(job)
        assert list(a["epoch"]) == list(b["epoch"]), key
        for column in a.columns:
            assert list(a[column].isna()) == list(b[column].isna()), (key, column)
            if a[column].isna().all():
                continue  # a split this dataset does not have (val)
            if column.endswith("_loss"):
                assert (b[column] - a[column]).abs().max() <= 1e-4 * a[column].abs().max(), (key, column)
            elif column.endswith("_acc"):
                assert (b[column] - a[column]).abs().max() <= 1.0 / samples + 1e-9, (key, column)
        assert summary(job)["status"] == summary(solo[key])["status"] == "completed"


@pytest.mark.parametrize("overrides", [
    ("model=mlp", "seed=0,1", "optimizer.lr=0.01,0.03"),
    ("model=deep", "model.depth=6", "model.width=16", "model.activation=tanh",
     "model.init=default,xavier_uniform", "seed=0,1"),
    ("seed=0,1", "optimizer.lr=0.01,0.02", "optimizer.weight_decay=0,0.001",
     "scheduler=exponential", "scheduler.gamma=0.5,0.9"),
    ("loss=mse", "seed=0,1", "optimizer.lr=0.01,0.03", "optimizer.weight_decay=0,0.001"),
    ("loss=mse", "optimizer=adadelta", "optimizer._target_=torch.optim.Adagrad", "~optimizer.rho",
     "seed=0,1", "optimizer.lr=0.01,0.03", "optimizer.weight_decay=0,0.001", "scheduler=cosine"),
], ids=["mlp spiral", "deep tanh stack", "seed lr decay gamma at once", "mse", "adagrad on mse"])
def test_grouped_jobs_follow_the_trajectories_they_have_alone(tmp_path, overrides):
    sweep(tmp_path, "basic", "basic", *TOY, *overrides)
    proc = sweep(tmp_path, "vec", "vectorized", *TOY, *overrides)
    assert_same_trajectories(tmp_path / "basic", tmp_path / "vec", samples=100)
    grouped = jobs(tmp_path / "vec")
    assert "trained in 1 group(s), 0 alone" in proc.stderr + proc.stdout
    records = [summary(job)["vectorized"] for job in grouped.values()]
    assert sorted(r["position"] for r in records) == list(range(len(grouped)))
    assert {(r["group"], r["size"]) for r in records} == {(1, len(grouped))}


def test_lenet_on_images_follows_its_solo_trajectory(tmp_path, fake_data):
    images = ("dataset=mnist", f"dataset.root={fake_data}", "dataset.download=false", "model=lenet",
              "dataset.val_size=20", "epochs=3", "plots=false", "batch_size=16", "seed=0,1",
              "optimizer.lr=0.001,0.003")
    sweep(tmp_path, "basic", "basic", *images)
    sweep(tmp_path, "vec", "vectorized", *images)
    assert_same_trajectories(tmp_path / "basic", tmp_path / "vec", samples=20)


def test_a_vectorized_sweep_reports_what_the_basic_one_does(tmp_path):
    overrides = (*TOY, "seed=0,1", "optimizer.lr=0.01,0.03")
    sweep(tmp_path, "basic", "basic", *overrides)
    sweep(tmp_path, "vec", "vectorized", *overrides)
    a = pd.read_csv(tmp_path / "basic" / "report.csv")
    b = pd.read_csv(tmp_path / "vec" / "report.csv")
    assert list(a.columns) == list(b.columns) and len(a) == len(b) == 4
    assert list(a["status"]) == list(b["status"]) == ["completed"] * 4
    for column in a.columns:
        if column.endswith("_loss"):
            assert ((a[column] - b[column]).abs() <= 1e-4 * a[column].abs()).all(), column


def test_each_grouped_job_writes_a_whole_run_folder(tmp_path):
    sweep(tmp_path, "vec", "vectorized", "dataset.n_samples=200", "epochs=2", "seed=0,1",
          "probe=[boundary]", "probe.boundary.resolution=8")
    for job in jobs(tmp_path / "vec").values():
        for name in (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "train.log",
                     "metrics.csv", "summary.json", "checkpoints/best.pt", "checkpoints/last.pt",
                     "plots/learning_curves.png", "plots/decision_boundary.png",
                     "boundary_snapshots.csv"):
            assert (job / name).is_file(), (job, name)
        log = (job / "train.log").read_text()
        assert "epoch 1:" in log and "epoch 2:" in log and "completed after 2 epochs" in log
        assert "seed=" in (job / ".hydra" / "overrides.yaml").read_text()


def test_dropout_groups_are_reproducible_and_draw_their_own_masks(tmp_path):
    # two jobs with the same seed and settings: only their dropout masks can tell them apart
    overrides = (*TOY, "model.dropout=0.5", "seed=0,0")
    sweep(tmp_path, "one", "vectorized", *overrides)
    sweep(tmp_path, "two", "vectorized", *overrides)
    first, second = sorted((tmp_path / "one").glob("[0-9]")), sorted((tmp_path / "two").glob("[0-9]"))
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(metrics(a), metrics(b))  # run twice: the same files
    assert not metrics(first[0]).equals(metrics(first[1]))  # masks differ between the models


def test_a_model_that_stops_early_stops_alone(tmp_path):
    # min_delta 10: no epoch after the first improves, so patience 1 stops after epoch 2
    overrides = ("dataset.n_samples=200", "epochs=4", "plots=false", "early_stopping.min_delta=10",
                 "early_stopping.patience=1,100")
    sweep(tmp_path, "vec", "vectorized", *overrides)
    sweep(tmp_path, "basic", "basic", *overrides)
    grouped, solo = jobs(tmp_path / "vec"), jobs(tmp_path / "basic")
    ends = sorted((summary(job)["status"], summary(job)["epochs_completed"]) for job in grouped.values())
    assert ends == [("completed", 4), ("early_stopped", 2)]
    for key, job in grouped.items():
        pd.testing.assert_frame_equal(metrics(job), metrics(solo[key]), rtol=1e-4)


def test_a_diverging_model_is_frozen_and_the_others_finish_as_without_it(tmp_path):
    sane = ("dataset.n_samples=200", "epochs=3", "plots=false", "optimizer=sgd", "model.activation=relu")
    proc = sweep(tmp_path, "with", "vectorized", *sane, "optimizer.lr=1e30,0.1,0.05,0.01", code=1)
    sweep(tmp_path, "without", "vectorized", *sane, "optimizer.lr=0.1,0.05,0.01")
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("nnlab: error: 1 of 4 jobs") and "diverged" in error
    # Hydra's sweeper writes the value back as 1e+30
    named = [line for line in (proc.stdout + proc.stderr).splitlines() if "optimizer.lr=1e+30" in line]
    assert any("diverged" in line and "frozen" in line for line in named)  # the log names the job
    with_it, without_it = jobs(tmp_path / "with"), jobs(tmp_path / "without")
    diverged = [job for key, job in with_it.items() if "optimizer.lr=1e+30" in key]
    assert summary(diverged[0])["status"] == "diverged"
    for key, job in without_it.items():
        pd.testing.assert_frame_equal(metrics(with_it[key]), metrics(job), check_exact=True)


def test_ctrl_c_ends_the_running_group_interrupted_and_the_rest_not_run(tmp_path, monkeypatch):
    interrupt_after(monkeypatch, 2)  # a real SIGINT while epoch 2's records are written
    # batch sizes 16 and 32 cannot train together: two groups of two, the second never starts
    proc = sweep(tmp_path, "vec", "vectorized", "dataset.n_samples=200", "epochs=5", "plots=false",
                 "batch_size=16,32", "seed=0,1", code=128 + signal.SIGINT)
    started = jobs(tmp_path / "vec")
    assert len(started) == 2
    for job in started.values():
        assert summary(job)["status"] == "interrupted"
        assert list(metrics(job)["epoch"]) == [1, 2]
        assert (job / "checkpoints" / "last.pt").is_file()
    report = nnlab("report", "vec", cwd=tmp_path)
    assert report.stdout.count("not run") >= 2, report.stdout + proc.stderr


def test_a_grouped_job_resumes_alone_where_it_stopped(tmp_path):
    sweep(tmp_path, "vec", "vectorized", "dataset.n_samples=200", "epochs=2", "plots=false",
          "seed=0,1", "optimizer.lr=0.01,0.03")
    sweep(tmp_path, "basic", "basic", "dataset.n_samples=200", "epochs=4", "plots=false",
          "seed=0,1", "optimizer.lr=0.01,0.03")
    solo = {without_epochs(key): job for key, job in jobs(tmp_path / "basic").items()}
    for key, job in jobs(tmp_path / "vec").items():
        proc = nnlab("train", f"resume={job}", "epochs=4", "progress=false", "cpu_threads=1", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert summary(job)["status"] == "completed"
        # the optimizer state saved from the stack is the model's own: the rest is as if alone
        pd.testing.assert_frame_equal(metrics(job), metrics(solo[without_epochs(key)]), rtol=1e-4)


def without_epochs(overrides: tuple) -> tuple:
    return tuple(o for o in overrides if not o.startswith("epochs="))


def test_jobs_that_cannot_train_together_run_alone_and_the_log_says_why(tmp_path):
    proc = sweep(tmp_path, "vec", "vectorized", "dataset.n_samples=200", "epochs=2", "plots=false",
                 "model.batchnorm=true,false", "seed=0,1", "optimizer.momentum=0.9,0.5",
                 "optimizer=sgd")
    log = proc.stderr + proc.stdout
    assert log.count("trains alone: BatchNorm updates running statistics in place") == 4
    assert "no other job of the sweep shares its settings" not in log  # seeds pair them up
    done = jobs(tmp_path / "vec")
    assert len(done) == 8 and all(summary(job)["status"] == "completed" for job in done.values())
    for key, job in done.items():  # one group per momentum, of the two seeds without BatchNorm
        expected = None if "model.batchnorm=True" in key else 2
        assert summary(job).get("vectorized", {}).get("size") == expected, key


def test_max_models_caps_a_group(tmp_path):
    sweep(tmp_path, "vec", "vectorized", *TOY, "seed=0,1,2", "hydra.launcher.max_models=2")
    done = jobs(tmp_path / "vec").values()
    assert sorted(summary(job).get("vectorized", {}).get("size", 1) for job in done) == [1, 2, 2]


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_a_bad_max_models_is_one_line(tmp_path, value):
    proc = nnlab("train", "-m", "hydra/launcher=vectorized", f"hydra.launcher.max_models={value}",
                 "seed=0,1", "epochs=1", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("nnlab: error: hydra.launcher.max_models")
    assert not (tmp_path / "outputs").exists()  # refused before the sweep folder is written


def test_jobs_differing_in_lr_share_one_copy_of_their_data(tmp_path, monkeypatch):
    from nnlab.train import stack

    seen = []
    original = stack._StackedSplit.__init__

    def spy(self, batchers):
        original(self, batchers)
        seen.append(len({id(b.x) for b in batchers}))

    monkeypatch.setattr(stack._StackedSplit, "__init__", spy)
    sweep(tmp_path, "vec", "vectorized", *TOY, "seed=0,1", "optimizer.lr=0.01,0.02,0.03")
    assert seen and set(seen) == {2}  # six models, two seeds: two datasets per split


def test_derived_configs_are_the_ones_hydra_composes():
    import yaml
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from hydra_plugins.nnlab_launcher.template import SweepComposer

    GlobalHydra.instance().clear()
    with initialize_config_module("nnlab.configs", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("train", overrides=["hydra/launcher=vectorized"],
                                           run_mode=RunMode.MULTIRUN)
        composed = []
        composer = SweepComposer(lambda m, o: composed.append(o) or loader.load_sweep_config(m, o))
        jobs = [["seed=0", "optimizer.lr=0.01", "model.hidden=[8,8]"],
                ["seed=3", "optimizer.lr=0.1", "model.hidden=[4]"],  # values only: derived
                ["seed=3", "optimizer.lr=0.1", "model=lenet"],  # another key: Hydra composes
                ["seed=4", "optimizer.lr=0.1", "model=deep"],  # another group choice: Hydra composes
                ["seed=0", "early_stopping={patience:3}"],
                ["seed=1", "early_stopping={patience:5}"],  # a dict: merged into the node by Hydra
                ["seed=1", "early_stopping={min_delta:0.1}"],  # (not the template's patience: 3)
                ["seed=1", "dataset.name='1e-3'"], ["seed=2", "dataset.name=spiral: a b"]]
        specs = [composer.spec(master, overrides) for overrides in jobs]
        for number, (overrides, spec) in enumerate(zip(jobs, specs, strict=True)):
            hydra_made = loader.load_sweep_config(master, overrides)
            hydra_made.hydra.job.num = hydra_made.hydra.job.id = number
            expected = OmegaConf.to_container(hydra_made)
            assert OmegaConf.to_container(spec.config(number)) == expected, overrides
            # what a group's job is built from: the template's job config with its values applied
            with spec.template.applied(spec.values) as applied:
                hydra_made_job = OmegaConf.to_container(hydra_made)
                hydra_made_job.pop("hydra")
                assert OmegaConf.to_container(applied) == hydra_made_job, overrides
                # its .hydra/config.yaml: the template's, dumped once, with the job's values put in
                assert yaml.safe_load(spec.template.config_yaml(spec.values)) == hydra_made_job, overrides
            # its .hydra/hydra.yaml: the template's, dumped once, with the job's fields put in
            out = Path("/tmp/some dir: with 'quotes'") / str(number)
            hydra_made.hydra.runtime.output_dir = str(out)
            written = yaml.safe_load(spec.template.hydra_yaml(number, spec.overrides, spec.override_dirname(),
                                                              out))
            assert written == {"hydra": OmegaConf.to_container(hydra_made.hydra, enum_to_str=True)}, overrides
        assert composed == [jobs[0], jobs[2], jobs[3], jobs[4], jobs[5], jobs[6], jobs[7]]
    GlobalHydra.instance().clear()


def test_a_group_takes_one_gpu_and_groups_spread_over_them(monkeypatch):
    """device=auto: every job of group k gets GPU k mod count (its RunContext's device slot),
    whatever its own job number, so a group trains on one device."""
    import torch
    from omegaconf import OmegaConf

    from nnlab.train import task
    from nnlab.train.context import RunContext

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    cfg = OmegaConf.create({"device": "auto", "seed": 0, "deterministic": False, "cpu_threads": None})
    monkeypatch.setattr(task, "seed_everything", lambda seed, deterministic: None)
    # a job of another launcher: GPU 7 mod 4
    assert task.set_up_runtime(cfg, RunContext(Path("."), job_number=7)) == torch.device("cuda", 3)
    for slot, gpu in ((0, 0), (1, 1), (5, 1)):
        context = RunContext(Path("."), job_number=7, device_slot=slot)
        assert task.set_up_runtime(cfg, context) == torch.device("cuda", gpu)


def test_a_group_records_its_time_once_and_each_job_its_share(tmp_path):
    sweep(tmp_path, "vec", "vectorized", *TOY, "seed=0,1,2")
    folders = list(jobs(tmp_path / "vec").values())
    grouped = [summary(job) for job in folders]
    group_time = grouped[0]["vectorized"]["group_wall_time_s"]
    assert {s["vectorized"]["group_wall_time_s"] for s in grouped} == {group_time} and group_time > 0
    for s in grouped:  # each job's wall time is its share: summed, the group's time counts once
        assert s["wall_time_s"] == pytest.approx(group_time / 3, abs=1e-3)
    # the epochs' seconds are shares too: all the jobs' epochs together fit in the group's time
    epoch_seconds = sum(pd.read_csv(job / "metrics.csv")["seconds"].sum() for job in folders)
    assert epoch_seconds <= group_time + 1e-3


def test_a_signal_while_the_stack_is_built_ends_the_group_interrupted(tmp_path, monkeypatch):
    from nnlab.train import group

    build = group.stacked_trainer

    def signal_then_build(jobs):
        signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, handlers installed, before the loop
        return build(jobs)

    monkeypatch.setattr(group, "stacked_trainer", signal_then_build)
    with contextlib.suppress(KeyboardInterrupt):  # it escaped the run, leaving it `running`
        sweep(tmp_path, "vec", "vectorized", *TOY, "seed=0,1,2", code=128 + signal.SIGINT)
    started = jobs(tmp_path / "vec")
    assert len(started) == 3
    for job in started.values():
        assert summary(job)["status"] == "interrupted"
        assert summary(job)["epochs_completed"] == 0


def test_a_stop_in_a_lone_job_of_a_group_ends_the_untrained_rest_interrupted_unprobed(
        tmp_path, monkeypatch):
    from nnlab.probes.boundary import BoundarySnapshots

    finished = []
    finish = BoundarySnapshots.finish
    monkeypatch.setattr(BoundarySnapshots, "finish",
                        lambda self: finished.append(self.ctx.run_dir.name) or finish(self))
    interrupt_after(monkeypatch, 1)
    # one planned group; BatchNorm makes each of its jobs train alone, one after the other
    sweep(tmp_path, "vec", "vectorized", *TOY, "model.batchnorm=true", "seed=0,1,2",
          "probe=[boundary]", "probe.boundary.resolution=8", code=128 + signal.SIGINT)
    ends = {job.name: (summary(job)["status"], summary(job).get("epochs_completed"))
            for job in jobs(tmp_path / "vec").values()}
    assert ends == {"0": ("interrupted", 1), "1": ("interrupted", 0), "2": ("interrupted", 0)}
    assert finished == ["0"]  # no probe analyses the models that never trained


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_while_jobs_are_prepared_ends_the_prepared_ones_interrupted(tmp_path, monkeypatch, sig):
    from nnlab.train import task

    start, end = task.start_tracker, task.end_tracker
    started, ended = [], []

    def start_then_signal(job):  # the last step of a job's preparation, its summary `running`
        started.append(job.folder.path.name)
        tracker = start(job)
        if len(started) == 2:
            signal.raise_signal(sig)  # a real signal while job #1 is prepared
        return tracker

    monkeypatch.setattr(task, "start_tracker", start_then_signal)
    monkeypatch.setattr(task, "end_tracker", lambda job, status: ended.append(
        (job.folder.path.name, status)) or end(job, status))
    with contextlib.suppress(KeyboardInterrupt):  # it escaped the launcher, leaving them `running`
        sweep(tmp_path, "vec", "vectorized", *TOY, "seed=0,1,2,3", code=128 + sig)
    ends = {job.name: (summary(job)["status"], summary(job).get("epochs_completed"))
            for job in jobs(tmp_path / "vec").values()}
    assert ends == {"0": ("interrupted", 0), "1": ("interrupted", 0)}  # #2 and #3 never started
    assert sorted(ended) == [("0", "interrupted"), ("1", "interrupted")]  # an MLflow run ends KILLED
    report = nnlab("report", "vec", cwd=tmp_path)
    assert report.stdout.count("not run") >= 2 and "running" not in report.stdout, report.stdout


def test_every_job_started_is_ended_for_hydras_callbacks_those_that_failed_while_prepared_too(tmp_path):
    # monitor=val_acc: the toy has no validation split, which the job finds while it is prepared
    sweep(tmp_path, "vec", "vectorized", *TOY, "seed=0,1", "early_stopping.monitor=val_acc,auto",
          "+hydra.callbacks.ends._target_=job_end_counter.JobEndCounter", code=1)
    ended = sorted((tmp_path / "job_ends.txt").read_text().splitlines())
    assert len(ended) == 4 and sum("monitor=val_acc" in line for line in ended) == 2, ended


def test_a_large_group_keeps_the_console_short_and_says_how_it_goes(tmp_path, monkeypatch):
    """Not a line per job prepared, not a line listing every model, but a line now and then while
    the group trains (stdout is no terminal here: no bar); each job's own lines in its train.log."""
    from nnlab.train import task

    monkeypatch.setattr(task, "GROUP_REPORT_EVERY_S", 0.0)  # a line every epoch, for the test
    proc = sweep(tmp_path, "vec", "vectorized", *TOY, "seed=range(12)", "progress=false")
    console = (proc.stdout + proc.stderr).splitlines()
    assert not [line for line in console if "MLP on spiral" in line]
    [group] = [line for line in console if "as one stacked model" in line]
    assert "training 12 models" in group and "(7 more)" in group and len(group) < 400, group
    progress = [line for line in console if "models training; test_acc median" in line]
    assert [line.split("epoch ")[1].split(":")[0] for line in progress] == ["1/3", "2/3", "3/3"]
    for job in jobs(tmp_path / "vec").values():
        log = (job / "train.log").read_text()
        assert "MLP on spiral" in log and "of 12 in one stacked model" in log


def test_a_group_larger_than_job_figures_up_to_draws_no_figure_per_job(tmp_path):
    big = sweep(tmp_path, "big", "vectorized", "dataset.n_samples=200", "epochs=2", "seed=0,1,2",
                "probe=[boundary]", "hydra.launcher.job_figures_up_to=2")
    assert "figures: the 3 jobs of this group draw none of their own" in big.stdout + big.stderr
    for job in jobs(tmp_path / "big").values():
        assert not list(job.rglob("*.png")) and (job / "boundary_snapshots.csv").is_file()
        assert summary(job)["figures"].startswith("not drawn: a group of 3 jobs, more than")
        assert "figures not drawn" in (job / "train.log").read_text()
    assert (tmp_path / "big" / "curves.png").is_file()  # the sweep's own figures are drawn
    sweep(tmp_path, "small", "vectorized", "dataset.n_samples=200", "epochs=2", "seed=0,1,2",
          "hydra.launcher.job_figures_up_to=3")
    for job in jobs(tmp_path / "small").values():
        assert {p.name for p in (job / "plots").glob("*.png")} == {"learning_curves.png",
                                                                   "decision_boundary.png"}


@pytest.mark.parametrize("value", ["-1", "many", "1.5"])
def test_a_bad_job_figures_up_to_is_one_line(tmp_path, value):
    proc = sweep(tmp_path, "s", "vectorized", "seed=0,1", "epochs=1",
                 f"hydra.launcher.job_figures_up_to={value}", code=2)
    assert proc.stderr.strip().startswith("nnlab: error: hydra.launcher.job_figures_up_to:"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "s").exists()


def test_a_job_another_sweeper_launches_is_checked_before_it_is_prepared(tmp_path):
    """Hydra's own basic sweeper checks nothing: the launcher checks each job as the CLI would,
    and a bad one fails alone, recorded."""
    sweep(tmp_path, "vec", "vectorized", *TOY, "hydra/sweeper=basic", "optimizer.lr=0.1,abc", code=1)
    statuses = {key: summary(job) for key, job in jobs(tmp_path / "vec").items()}
    bad = [s for key, s in statuses.items() if "optimizer.lr=abc" in key]
    assert [s["status"] for s in bad] == ["failed"]
    assert "optimizer.lr: expected a number > 0, got 'abc'" in bad[0]["error"]
    assert [s["status"] for key, s in statuses.items() if "optimizer.lr=0.1" in key] == ["completed"]
