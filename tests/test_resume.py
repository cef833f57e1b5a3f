"""`resume=RUN_DIR` (train/resume.py): a run stopped and resumed is the run that never stopped,
what may be given again, and where the data is read from. In-process runs in a tmp folder."""

from __future__ import annotations

import json
import shutil

import pytest

from nnlab.runs import load_checkpoint
from train_helpers import fake_mnist, in_tmp_folder, interrupt_after, metrics, nnlab_train  # noqa: F401 - in_tmp_folder is autouse


def _stopped_and_resumed(monkeypatch, after: int, *args: str) -> None:
    """Train `args` into ./cut, stopped by a Ctrl-C after epoch `after`, then resume it."""
    with monkeypatch.context() as m:
        interrupt_after(m, after)
        assert nnlab_train("hydra.run.dir=cut", *args) == 130
    assert json.loads(open("cut/summary.json").read())["status"] == "interrupted"
    assert nnlab_train("resume=cut") == 0


def test_adversarial_run_resumed_equals_the_run_that_never_stopped(tmp_path, monkeypatch):
    """PGD's random starts come from a generator the checkpoint keeps."""
    root = fake_mnist(tmp_path / "data")
    args = ["dataset=mnist", f"dataset.root={root}", "dataset.download=false", "dataset.val_size=20",
            "model=mlp", "model.hidden=[16]", "epochs=3", "batch_size=32", "plots=false",
            "adversarial=pgd", "adversarial.attack.steps=2", "adversarial.attack.eps=0.1",
            "adversarial.attack.alpha=0.05", "adversarial.mix=0.5"]
    assert nnlab_train("hydra.run.dir=whole", *args) == 0
    _stopped_and_resumed(monkeypatch, 1, *args)
    assert metrics("cut").to_dict("list") == metrics("whole").to_dict("list")


def test_boundary_snapshots_of_the_epochs_before_the_interruption_are_kept(tmp_path, monkeypatch):
    args = ["probe=[boundary]", "probe.boundary.snapshots=5", "probe.boundary.resolution=8",
            "epochs=12", "plots=false"]
    assert nnlab_train("hydra.run.dir=whole", *args) == 0
    _stopped_and_resumed(monkeypatch, 5, *args)
    whole = (tmp_path / "whole" / "boundary_snapshots.csv").read_text()
    assert (tmp_path / "cut" / "boundary_snapshots.csv").read_text() == whole
    assert [line.split(",")[0] for line in whole.splitlines()[1:]] == ["1", "2", "3", "6", "12"]


@pytest.mark.parametrize("epochs", [2, 1])
def test_resume_with_no_epoch_left_is_one_line_and_changes_nothing(tmp_path, capsys, epochs):
    assert nnlab_train("hydra.run.dir=run", "epochs=2", "plots=false") == 0
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*")
              if p.is_file() and ".hydra/resume" not in p.as_posix()}
    capsys.readouterr()
    assert nnlab_train("resume=run", f"epochs={epochs}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nnlab: error: resume=run: "), err
    assert f"epochs={epochs} leaves nothing to train; the run finished with 2 epochs" in err[0]
    assert "give epochs=3 or more" in err[0]
    after = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*")
             if p.is_file() and ".hydra/resume" not in p.as_posix()}
    assert after == before


def test_resumed_run_logs_the_epochs_it_trains(tmp_path):
    assert nnlab_train("hydra.run.dir=run", "epochs=2", "plots=false") == 0
    assert nnlab_train("resume=run", "epochs=3") == 0
    log = (tmp_path / "run" / "train.log").read_text()
    assert "epochs 1-2 on cpu" in log
    assert "epoch 3 (resuming after epoch 2) on cpu" in log


# --- where the data is read from --------------------------------------------------------------


@pytest.fixture
def mnist_run(tmp_path):
    """A one-epoch MNIST run trained on files in ./first (which the tests then move)."""
    root = fake_mnist(tmp_path / "first")
    assert nnlab_train("hydra.run.dir=run", "dataset=mnist", f"dataset.root={root}",
                       "dataset.download=false", "dataset.val_size=20", "model=linear", "epochs=1",
                       "plots=false") == 0
    return tmp_path / "run"


def _set_data_root(run, value) -> None:
    summary = json.loads((run / "summary.json").read_text())
    if value is None:
        summary.pop("data_root", None)  # as in run folders written before it was recorded
    else:
        summary["data_root"] = str(value)
    (run / "summary.json").write_text(json.dumps(summary))


def test_resume_reads_the_data_where_the_summary_says_it_was(tmp_path, mnist_run):
    shutil.move(tmp_path / "first", tmp_path / "moved")
    _set_data_root(mnist_run, tmp_path / "moved")
    assert nnlab_train(f"resume={mnist_run}", "epochs=2") == 0
    assert json.loads((mnist_run / "summary.json").read_text())["epochs_completed"] == 2


def test_resume_of_a_run_without_a_recorded_root_uses_its_config(mnist_run):
    _set_data_root(mnist_run, None)
    assert nnlab_train(f"resume={mnist_run}", "epochs=2") == 0
    assert json.loads((mnist_run / "summary.json").read_text())["status"] == "completed"


def test_resume_takes_dataset_root_again(tmp_path, mnist_run):
    shutil.move(tmp_path / "first", tmp_path / "elsewhere")
    _set_data_root(mnist_run, tmp_path / "first")  # recorded, but gone: the command line wins
    assert nnlab_train(f"resume={mnist_run}", "epochs=2", f"dataset.root={tmp_path / 'elsewhere'}") == 0
    assert json.loads((mnist_run / "summary.json").read_text())["epochs_completed"] == 2


def test_resume_refuses_dataset_root_for_generated_data(tmp_path, capsys):
    assert nnlab_train("hydra.run.dir=run", "epochs=1", "plots=false") == 0
    assert nnlab_train("resume=run", "epochs=2", "dataset.root=somewhere") == 2
    assert "is generated, not read from files" in capsys.readouterr().err


def test_resume_clears_what_a_killed_write_left(tmp_path):
    """kill -9 during a checkpoint's write leaves its temporary beside the whole older file."""
    assert nnlab_train("hydra.run.dir=run", "epochs=2", "plots=false") == 0
    left = tmp_path / "run" / "checkpoints" / ".best.pt.k9x2a1.tmp"
    left.write_bytes(b"half a checkpoint")
    assert nnlab_train("resume=run", "epochs=3") == 0
    assert not left.exists()


# --- the schedule and early stopping across a resume ------------------------------------------


def test_resume_with_more_epochs_gives_a_cosine_schedule_the_new_horizon(tmp_path):
    """scheduler=cosine has T_max: ${epochs}. A 4-epoch run resumed with epochs=8 goes on with the
    rates an 8-epoch run has at epochs 5-8 (the same floats: the schedule is replayed), not with
    the old T_max=4, past which the cosine climbs again; the log says so in one line."""
    args = ["scheduler=cosine", "plots=false", "dataset.n_samples=200"]
    assert nnlab_train("hydra.run.dir=whole", "epochs=8", *args) == 0
    assert nnlab_train("hydra.run.dir=run", "epochs=4", *args) == 0
    assert nnlab_train("resume=run", "epochs=8") == 0
    whole, resumed = metrics("whole")["lr"].tolist(), metrics("run")["lr"].tolist()
    assert resumed[4:] == whole[4:]  # epochs 5-8: the 8-epoch schedule's rates
    assert resumed[:4] != whole[:4]  # epochs 1-4 ran under the 4-epoch schedule
    assert all(a > b > 0 for a, b in zip(resumed[4:-1], resumed[5:], strict=True))  # down, not up again
    # to the bit (metrics.csv rounds): the rate and the schedule's state in the last checkpoints
    whole_last, resumed_last = (load_checkpoint(tmp_path / run / "checkpoints" / "last.pt")
                                for run in ("whole", "run"))
    assert resumed_last["optimizer"]["param_groups"] == whole_last["optimizer"]["param_groups"]
    assert resumed_last["scheduler"] == whole_last["scheduler"]
    said = [line for line in (tmp_path / "run" / "train.log").read_text().splitlines()
            if "scheduler.T_max" in line]
    assert len(said) == 1 and "scheduler.T_max 4 -> 8" in said[0] and "from epoch 5 on" in said[0], said


def test_resume_with_more_epochs_keeps_a_schedule_that_does_not_depend_on_them(tmp_path):
    """exponential's state does not change with epochs: the checkpoint's state is restored as is,
    and the run resumed equals the run that never stopped, without a word about the schedule."""
    args = ["scheduler=exponential", "scheduler.gamma=0.5", "plots=false", "dataset.n_samples=200"]
    assert nnlab_train("hydra.run.dir=whole", "epochs=4", *args) == 0
    assert nnlab_train("hydra.run.dir=run", "epochs=2", *args) == 0
    assert nnlab_train("resume=run", "epochs=4") == 0
    assert metrics("run").equals(metrics("whole"))  # NaN (no val split) equals NaN
    assert "scheduler." not in (tmp_path / "run" / "train.log").read_text()


# A min_delta no change reaches: epoch 1 is the best, and patience=2 stops the run after epoch 3
STOPS_AT_3 = ("epochs=10", "plots=false", "dataset.n_samples=200", "early_stopping.patience=2",
              "early_stopping.min_delta=1e6")


def test_resume_of_an_early_stopped_run_whose_patience_is_spent_is_refused(tmp_path, capsys):
    assert nnlab_train("hydra.run.dir=run", *STOPS_AT_3) == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "early_stopped"
    assert metrics("run")["epoch"].tolist() == [1, 2, 3]
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*")
              if p.is_file() and ".hydra/resume" not in p.as_posix()}
    capsys.readouterr()
    assert nnlab_train("resume=run", "epochs=20") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nnlab: error: resume=run: "), err
    assert "early_stopping.patience=3 or more" in err[0]
    after = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*")
             if p.is_file() and ".hydra/resume" not in p.as_posix()}
    assert after == before
    # with more patience it trains on: one epoch more, then stops again
    assert nnlab_train("resume=run", "epochs=20", "early_stopping.patience=3") == 0
    assert metrics("run")["epoch"].tolist() == [1, 2, 3, 4]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "early_stopped"


def test_a_run_interrupted_as_its_patience_ran_out_resumes_into_early_stopped_without_an_epoch_more(
        tmp_path, monkeypatch):
    """Ctrl-C while the stopping epoch is recorded: the run that never stopped ended there."""
    assert nnlab_train("hydra.run.dir=whole", *STOPS_AT_3) == 0
    _stopped_and_resumed(monkeypatch, 3, *STOPS_AT_3)
    assert metrics("cut").equals(metrics("whole"))
    summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert summary["status"] == "early_stopped"
