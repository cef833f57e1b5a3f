"""What a training run leaves behind (also when it diverges, is interrupted or killed), its
checkpoints read as data, and the behaviours the issue asks to see."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from hydra.utils import instantiate
from matplotlib.image import imread
from omegaconf import OmegaConf

from conftest import Run, nnlab, nnlab_popen, one_error_line, train, wait_for, wait_for_lines
from nnlab.runs import load_checkpoint


@pytest.fixture(scope="module")
def spiral_run(tmp_path_factory):
    """One default-experiment run (spiral, MLP) with boundary snapshots, shared by the tests."""
    tmp = tmp_path_factory.mktemp("spiral")
    train(tmp, "probe=[boundary]", "dataset.val_fraction=0.2", "epochs=30")
    return Run(tmp / "run")


def test_run_folder_holds_every_file(spiral_run):
    p = spiral_run.path
    for rel in (".hydra/config.yaml", ".hydra/overrides.yaml", ".hydra/hydra.yaml", "train.log",
                "metrics.csv", "summary.json", "checkpoints/best.pt", "checkpoints/last.pt",
                "plots/learning_curves.png", "plots/decision_boundary.png",
                "plots/boundary_snapshots.png", "boundary_snapshots.csv"):
        assert (p / rel).is_file(), rel
    assert not list(p.rglob("*.tmp")), "temporary files left behind"


def test_metrics_has_a_row_per_epoch_with_sane_values(spiral_run):
    m = spiral_run.metrics
    assert list(m.columns) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                               "test_loss", "test_acc", "lr", "seconds"]
    assert m["epoch"].tolist() == list(range(1, 31))
    for col in ("train_acc", "val_acc", "test_acc"):
        assert m[col].between(0, 1).all()
    assert (m[["train_loss", "val_loss", "test_loss"]] > 0).all().all()
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0] / 2
    assert (m["lr"] == 0.01).all() and (m["seconds"] > 0).all()


def test_summary_records_results_and_provenance(spiral_run):
    s = spiral_run.summary
    m = spiral_run.metrics
    assert s["status"] == "completed"
    assert s["epochs_completed"] == 30
    assert s["monitor"] == "val_loss"  # auto picks validation when there is a split
    best = m.loc[m["val_loss"].idxmin()]
    assert s["best_epoch"] == int(best["epoch"])
    assert s["best"]["val_loss"] == pytest.approx(best["val_loss"])
    assert s["final"]["test_acc"] == pytest.approx(m["test_acc"].iloc[-1])
    assert s["n_train"] + s["n_val"] == 250 and s["n_test"] == 250 and s["n_val"] == 50
    assert s["n_params"] == 2 * 16 + 16 + 16 * 16 + 16 + 16 * 2 + 2
    assert s["device"] == "cpu" and s["torch"] == torch.__version__
    assert s["wall_time_s"] > 0 and s["dataset"] == "spiral" and s["model"] == "MLP"
    assert "git_commit" in s and "python" in s and "hydra" in s


def test_checkpoints_load_safely_into_the_model(spiral_run):
    cfg = OmegaConf.load(spiral_run.path / ".hydra" / "config.yaml")
    best = load_checkpoint(spiral_run.path / "checkpoints" / "best.pt")
    last = load_checkpoint(spiral_run.path / "checkpoints" / "last.pt")
    assert last["epoch"] == 30 and best["epoch"] == spiral_run.summary["best_epoch"]
    assert last["config"]["epochs"] == 30
    model = instantiate(cfg.model, input_shape=(2,), num_classes=2)
    model.load_state_dict(best["model"])
    assert set(last) >= {"model", "optimizer", "scheduler", "rng", "monitor", "metrics"}


def test_plots_are_real_images(spiral_run):
    for name in ("learning_curves", "decision_boundary", "boundary_snapshots"):
        img = imread(spiral_run.path / "plots" / f"{name}.png")
        assert img.shape[0] > 300 and img.shape[1] > 300
        assert img[..., :3].std() > 0.05  # not a blank canvas


def test_boundary_snapshots_are_spread_over_training(spiral_run):
    lines = (spiral_run.path / "boundary_snapshots.csv").read_text().splitlines()
    epochs = [int(line.split(",")[0]) for line in lines[1:]]
    assert epochs[0] == 1 and epochs[-1] == 30 and len(epochs) >= 6
    assert epochs == sorted(set(epochs))


def test_overrides_recorded_for_the_run(spiral_run):
    overrides = yaml.safe_load((spiral_run.path / ".hydra" / "overrides.yaml").read_text())
    assert "probe=[boundary]" in overrides and "epochs=30" in overrides


# --- the "must show" --------------------------------------------------------------------

def test_xor_tanh_reaches_100_percent(run_in):
    run = run_in("dataset=xor", "model=mlp", "model.hidden=[2]", "model.activation=tanh")
    assert run.summary["final"]["test_acc"] == 1.0


def test_xor_linear_cannot(run_in):
    run = run_in("dataset=xor", "model=mlp", "model.hidden=[2]", "model.activation=linear")
    assert run.summary["final"]["test_acc"] <= 0.75
    assert run.metrics["train_acc"].max() <= 0.75


def test_default_spiral_reaches_95_percent(run_in):
    run = run_in("dataset=spiral")
    assert run.summary["final"]["test_acc"] >= 0.95


def test_circle_linear_on_squared_features_reaches_95_percent(run_in):
    run = run_in("dataset=circle", "model=linear", "dataset.features=[x1sq,x2sq]")
    assert run.summary["final"]["test_acc"] >= 0.95
    assert run.summary["n_params"] == 2 * 2 + 2  # really a linear model on two features


def test_circle_linear_on_raw_coordinates_cannot(run_in):
    run = run_in("dataset=circle", "model=linear", "epochs=30")
    assert run.summary["final"]["test_acc"] < 0.8


# --- training options ---------------------------------------------------------------------------

def test_same_seed_same_numbers_on_cpu(tmp_path):
    for name in ("a", "b"):
        train(tmp_path, "epochs=5", "plots=false", run_dir=name)
    a, b = (Run(tmp_path / n).metrics.drop(columns="seconds") for n in ("a", "b"))
    assert a.equals(b)
    train(tmp_path, "epochs=5", "plots=false", "seed=1", run_dir="c")
    assert not a.equals(Run(tmp_path / "c").metrics.drop(columns="seconds"))


def test_early_stopping_stops_and_says_so(run_in):
    run = run_in("epochs=200", "early_stopping.patience=3", "early_stopping.monitor=test_acc",
                 "optimizer.lr=0.05")
    s = run.summary
    assert s["status"] == "early_stopped"
    assert s["epochs_completed"] < 200
    assert s["epochs_completed"] - s["best_epoch"] == 3
    assert s["best"]["test_acc"] == run.metrics["test_acc"].max()


def test_exponential_schedule_decays_lr_each_epoch(run_in):
    run = run_in("epochs=4", "scheduler=exponential", "scheduler.gamma=0.5", "optimizer=sgd")
    assert run.metrics["lr"].tolist() == pytest.approx([0.1, 0.05, 0.025, 0.0125])


def test_cosine_schedule_spans_the_run(run_in):
    run = run_in("epochs=4", "scheduler=cosine", "optimizer=sgd")
    lrs = run.metrics["lr"].tolist()
    assert lrs[0] == pytest.approx(0.1) and lrs == sorted(lrs, reverse=True) and lrs[-1] > 0


def test_l1_penalty_shrinks_weights(tmp_path):
    train(tmp_path, "epochs=20", "plots=false", run_dir="plain")
    train(tmp_path, "epochs=20", "plots=false", "l1=0.01", run_dir="l1")
    norms = {}
    for name in ("plain", "l1"):
        state = load_checkpoint(tmp_path / name / "checkpoints" / "last.pt")["model"]
        norms[name] = sum(v.abs().sum() for k, v in state.items() if v.dim() > 1)
    assert norms["l1"] < 0.7 * norms["plain"]


def test_cpu_threads_setting_is_applied(run_in):
    assert run_in("epochs=1", "cpu_threads=1", "plots=false").summary["cpu_threads"] == 1


def test_mse_loss_trains(run_in):
    run = run_in("loss=mse", "epochs=40")
    m = run.metrics
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0]
    assert m["train_loss"].max() <= 2.0  # squared error of probabilities is bounded by 2


def test_divergence_stops_with_status_and_keeps_artifacts(tmp_path):
    proc = train(tmp_path, "optimizer=sgd", "optimizer.lr=1e30", "epochs=5", check=False)
    assert proc.returncode == 3
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("nnlab: error: run diverged") and "epoch 1, step" in line
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["status"] == "diverged" and "epoch 1" in s["error"]


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_is_marked_and_keeps_its_files(tmp_path, sig, code):
    proc = nnlab_popen("train", "hydra.run.dir=run", "progress=false", "epochs=100000", "plots=false",
                       cwd=tmp_path)
    wait_for_lines(tmp_path / "run" / "metrics.csv", 5, proc)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code, proc.stderr.read()
    run = Run(tmp_path / "run")
    assert run.summary["status"] == "interrupted"
    assert run.summary["epochs_completed"] == len(run.metrics) >= 4
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert last["epoch"] == len(run.metrics)  # pending checkpoint flushed on the way out


def test_kill_9_leaves_readable_files_and_the_run_resumes(tmp_path):
    # checkpoints are written every 2 s at most: wait until one has landed, then kill
    proc = nnlab_popen("train", "hydra.run.dir=run", "progress=false", "epochs=100000", "plots=false",
                       "dataset.n_samples=4000", cwd=tmp_path)
    wait_for_lines(tmp_path / "run" / "metrics.csv", 41, proc)
    wait_for(lambda: (tmp_path / "run" / "checkpoints" / "last.pt").is_file(), "a checkpoint", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    run = Run(tmp_path / "run")
    metrics = run.metrics  # parses: whole rows only
    assert metrics.notna()[["train_loss", "test_acc"]].all().all()
    assert metrics["epoch"].tolist() == list(range(1, len(metrics) + 1))
    assert run.summary["status"] == "running"  # the truth: nobody marked it finished
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert 1 <= last["epoch"] <= len(metrics)
    # A kill during a checkpoint's write leaves its temporary (the file it replaces is whole);
    # the resumed run clears it away.
    resumed = nnlab("train", "resume=run", f"epochs={last['epoch'] + 2}", "plots=false",
                    cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert not list((tmp_path / "run").rglob("*.tmp"))
    after = Run(tmp_path / "run")
    assert after.summary["status"] == "completed"
    assert after.metrics["epoch"].tolist() == list(range(1, last["epoch"] + 3))


def test_playground_nan_case_is_reported_as_diverged(tmp_path):
    """The playground goes NaN at learning rate 0.3 with L2 rate 10."""
    proc = train(tmp_path, "optimizer=sgd", "optimizer.lr=0.3", "optimizer.weight_decay=10",
                 "epochs=50", check=False)
    assert proc.returncode == 3
    line = proc.stderr.strip().splitlines()[-1]
    assert "diverged" in line and "epoch" in line and "step" in line
    run = Run(tmp_path / "run")
    assert run.summary["status"] == "diverged"
    assert (tmp_path / "run" / "plots" / "learning_curves.png").exists() or len(run.metrics) == 0


# --- checkpoints are data ------------------------------------------------------------------------

class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_planted_pickle_checkpoint_is_refused_without_running_code(tmp_path, monkeypatch):
    train(tmp_path, "epochs=2", "plots=false")
    with open(tmp_path / "run" / "checkpoints" / "last.pt", "wb") as f:
        pickle.dump({"epoch": 1, "model": _Exploit()}, f)
    torch.save({"x": _Exploit()}, tmp_path / "planted.pt")  # a torch-format file too
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(tmp_path / "planted.pt")
    proc = nnlab("train", "resume=run", "epochs=3", cwd=tmp_path)
    assert proc.returncode == 2
    assert "refused to load" in one_error_line(proc)
    assert not (tmp_path / "PWNED").exists()


def test_checkpoint_of_another_model_is_one_line(tmp_path):
    train(tmp_path, "epochs=2", "plots=false", run_dir="a")
    train(tmp_path, "epochs=2", "plots=false", "model.hidden=[8]", run_dir="b")
    (tmp_path / "a" / "checkpoints" / "last.pt").write_bytes(
        (tmp_path / "b" / "checkpoints" / "last.pt").read_bytes())
    proc = nnlab("train", "resume=a", "epochs=3", cwd=tmp_path)
    assert proc.returncode == 2
    assert "does not match this run's model" in one_error_line(proc)


def test_truncated_checkpoint_is_one_line_and_metrics_survive(tmp_path):
    train(tmp_path, "epochs=2", "plots=false")
    before = (tmp_path / "run" / "metrics.csv").read_bytes()
    ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    proc = nnlab("train", "resume=run", "epochs=3", cwd=tmp_path)
    assert proc.returncode == 2 and "not a readable nnlab checkpoint" in one_error_line(proc)
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == before


# --- run folders written before the layout move ------------------------------------------------

BEFORE_MOVE = Path(__file__).parent / "fixtures" / "run_before_layout_move"


@pytest.fixture
def old_run(tmp_path, fake_data):
    """A copy of the committed run folder made by the code before the layout move, and fake
    MNIST files of the size it was trained on (300 + 100 images) under $NNLAB_DATA (its config
    keeps that interpolation)."""
    shutil.copytree(BEFORE_MOVE, tmp_path / "old_run")
    return tmp_path / "old_run", {"NNLAB_DATA": str(fake_data)}


def test_old_run_config_maps_moved_targets(old_run):
    from nnlab.runs import read_config

    path, _ = old_run
    as_written = OmegaConf.load(path / ".hydra" / "config.yaml")
    assert as_written.logger._target_ == "nnlab.trackers.TensorBoardLogger"
    cfg = read_config(path)
    assert cfg.logger._target_ == "nnlab.train.trackers.TensorBoardLogger"
    assert OmegaConf.is_interpolation(cfg.dataset, "root")  # interpolations are kept as written


def test_old_run_is_attacked_resumed_and_reported(old_run):
    path, env = old_run
    tmp = path.parent
    attacked = nnlab("attack", f"run={path}", "hydra.run.dir=attacked", "n=20", cwd=tmp, env=env)
    assert attacked.returncode == 0, attacked.stderr[-2000:]
    assert json.loads((tmp / "attacked" / "attack.json").read_text())["n"] == 20

    resumed = nnlab("train", f"resume={path}", "epochs=3", "progress=false", cwd=tmp, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = Run(path).summary
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3
    assert summary["resumed_at_epochs"] == [2]
    assert list(Run(path).metrics["epoch"]) == [1, 2, 3]
    assert list((path / "tensorboard").iterdir()), "the moved tracker still logs"

    reported = nnlab("report", str(path), "--out", str(tmp / "report"), cwd=tmp)
    assert reported.returncode == 0, reported.stderr[-2000:]
    table = pd.read_csv(tmp / "report" / "report.csv")
    assert list(table["status"]) == ["completed"]


# --- what tells a run from others (figure titles) -----------------------------------------------


def write_record(folder: Path, overrides: list[str], config: dict | None = None) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if config is not None:
        (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def test_run_settings_are_the_overrides_that_change_what_it_computes(tmp_path):
    from nnlab.runs import run_name, run_settings

    run = write_record(tmp_path / "run", [
        "model=lenet", "optimizer.lr=0.01", "device=cpu", "hydra.run.dir=x", "+extra=1", "probe=[shift]",
        "cpu_threads=1", "dataset.root=/data", "progress=false", "dataset.train_size=6000"],
        {"dataset": {"name": "fashion_mnist"}, "model": {"_target_": "nnlab.models.LeNet"}})
    assert run_settings(run) == ["model=lenet", "optimizer.lr=0.01", "extra=1", "dataset.train_size=6000"]
    assert run_name(run) == "fashion_mnist / LeNet"
    assert run_settings(tmp_path) == [] and run_name(tmp_path) is None  # no record: nothing to say


def test_a_sweep_jobs_settings_are_its_swept_values(tmp_path):
    """In a sweep every job shares the other overrides: only the swept keys tell them apart
    (comma lists, ranges and the sweeper's own params, as Optuna's); long floats shortened."""
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {
        "overrides": {"task": ["dataset=fashion_mnist", "epochs=1,4", "seed=range(0,3)", "model=lenet"]},
        "sweeper": {"params": {"optimizer.lr": "tag(log, interval(0.001, 0.1))"}}}}))
    job = write_record(sweep / "2", ["dataset=fashion_mnist", "epochs=4", "seed=1", "model=lenet",
                                     "optimizer.lr=0.012345678901"])
    from nnlab.runs import run_settings

    assert run_settings(job) == ["epochs=4", "seed=1", "optimizer.lr=0.01235"]


def test_settings_wrap_between_words():
    from nnlab.runs import wrap

    assert wrap(["aaaa", "bb", "cccccc", "d"], 7) == ["aaaa bb", "cccccc", "d"]
    assert wrap(["a" * 9, "b"], 7) == ["a" * 9, "b"]


def test_an_atomic_write_leaves_the_file_with_the_usual_permissions_and_no_temporary(tmp_path):
    from nnlab.runs import write_json

    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "summary.json", {"status": "running"})
        write_json(tmp_path / "summary.json", {"status": "completed"})
    finally:
        os.umask(mask)
    assert json.loads((tmp_path / "summary.json").read_text()) == {"status": "completed"}
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
