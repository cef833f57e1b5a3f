"""`nnlab train`'s task (train/task.py): signal handlers given back on every way out, plots=false,
what summary.json records, and which way imports flow. In-process runs in a tmp folder."""

from __future__ import annotations

import ast
import contextlib
import json
import signal
from pathlib import Path

import pytest

import nnlab
from nnlab.probes.boundary import BoundarySnapshots
from train_helpers import fake_mnist, in_tmp_folder, interrupt_after, nnlab_train  # noqa: F401 - in_tmp_folder is autouse

SRC = Path(nnlab.__file__).parent


# --- signal handlers ---------------------------------------------------------------------------


def _boom(*args, **kwargs):
    raise RuntimeError("boom")


def _loop_fails(monkeypatch):
    monkeypatch.setattr("nnlab.train.task.train_models", _boom)


def _probe_fails_during_training(monkeypatch):
    monkeypatch.setattr(BoundarySnapshots, "after_epoch", _boom)


def _probe_fails_at_the_end(monkeypatch):
    monkeypatch.setattr(BoundarySnapshots, "finish", _boom)


def _interrupted(monkeypatch):
    interrupt_after(monkeypatch, 2)


def _as_configured(monkeypatch):
    pass  # the run ends as its overrides make it


@pytest.mark.parametrize(("arrange", "overrides", "code"), [
    (_as_configured, [], 0),
    (_loop_fails, [], 1),
    (_probe_fails_during_training, [], 1),
    (_probe_fails_at_the_end, [], 1),
    (_interrupted, [], 130),
    (_as_configured, ["optimizer=sgd", "optimizer.lr=1e30"], 3),
], ids=["completed", "the loop raises", "probe raises in an epoch", "probe raises at the end",
        "interrupted", "diverged"])
def test_signal_handlers_are_given_back_on_every_way_out(monkeypatch, arrange, overrides, code):
    def mine(signum, frame):  # the handlers of whoever called run(), e.g. a sweep launcher
        raise AssertionError("not to be called")

    before = {s: signal.signal(s, mine) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with monkeypatch.context() as m:
            arrange(m)
            assert nnlab_train("hydra.run.dir=run", "epochs=3", "probe=[boundary]",
                               "probe.boundary.resolution=4", "plots=false", *overrides) == code
        assert signal.getsignal(signal.SIGINT) is mine
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


# --- plots=false -------------------------------------------------------------------------------


def test_plots_false_writes_no_figure_and_the_probes_data(tmp_path):
    assert nnlab_train("hydra.run.dir=toy", "epochs=3", "probe=[boundary]", "plots=false") == 0
    root = fake_mnist(tmp_path / "data")
    assert nnlab_train("hydra.run.dir=images", "dataset=mnist", f"dataset.root={root}",
                       "dataset.download=false", "dataset.val_size=20", "model=linear", "epochs=1",
                       "probe=[confusion,misclassified]", "plots=false") == 0
    assert not list(tmp_path.rglob("*.png"))
    assert not (tmp_path / "toy" / "plots").exists() and not (tmp_path / "images" / "plots").exists()
    for data in ("toy/boundary_snapshots.csv", "images/confusion_matrix.csv", "images/misclassified.csv"):
        assert (tmp_path / data).is_file(), data


def test_checkpoint_false_leaves_no_checkpoints_folder(tmp_path):
    assert nnlab_train("hydra.run.dir=run", "epochs=2", "checkpoint=false", "plots=false") == 0
    assert (tmp_path / "run" / "metrics.csv").is_file()
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_plots_true_still_draws_them(tmp_path):
    assert nnlab_train("hydra.run.dir=run", "epochs=3", "probe=[boundary]",
                       "probe.boundary.resolution=4") == 0
    assert {p.name for p in (tmp_path / "run" / "plots").glob("*.png")} == {
        "learning_curves.png", "decision_boundary.png", "boundary_snapshots.png"}


# --- summary.json ------------------------------------------------------------------------------


def test_summary_records_no_data_root_for_generated_data(tmp_path):
    assert nnlab_train("hydra.run.dir=run", "epochs=1", "plots=false") == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "data_root" in summary and summary["data_root"] is None


def test_summary_records_where_the_data_was_read(tmp_path, monkeypatch):
    """Datasets read from files say where (`data.root`, an absolute path): the run keeps it."""
    from nnlab.data import vision

    make_vision = vision.make_vision

    def with_root(*args, **kwargs):
        data = make_vision(*args, **kwargs)
        data.root = "/somewhere/absolute"
        return data

    monkeypatch.setattr(vision, "make_vision", with_root)
    root = fake_mnist(tmp_path / "data")
    assert nnlab_train("hydra.run.dir=run", "dataset=mnist", f"dataset.root={root}",
                       "dataset.download=false", "dataset.val_size=20", "model=linear", "epochs=1",
                       "plots=false") == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["data_root"] == "/somewhere/absolute"


# --- imports flow one way ----------------------------------------------------------------------


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_nothing_below_the_training_command_imports_it():
    """The plain PyTorch packages and the run-folder format know nothing of `nnlab train`."""
    below = [*(SRC / pkg for pkg in ("data", "models", "probes", "attacks")), SRC / "runs.py"]
    files = [f for place in below for f in ([place] if place.is_file() else place.rglob("*.py"))]
    assert len(files) > 10
    offenders = {str(f.relative_to(SRC)): sorted(m for m in _imported_modules(f)
                                                  if m == "nnlab.train" or m.startswith("nnlab.train."))
                 for f in files}
    assert {f: m for f, m in offenders.items() if m} == {}


def test_a_signal_while_the_trainer_is_built_ends_the_run_interrupted(tmp_path, monkeypatch):
    from nnlab.train import task

    build = task.solo_trainer

    def signal_then_build(job):
        signal.raise_signal(signal.SIGTERM)  # a real signal, the handlers installed, no epoch yet
        return build(job)

    monkeypatch.setattr(task, "solo_trainer", signal_then_build)
    code = None
    with contextlib.suppress(KeyboardInterrupt):  # it escaped the run, leaving it `running`
        code = nnlab_train("dataset.n_samples=100", "epochs=2", "plots=false", "hydra.run.dir=run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_completed"] == 0
    assert code == 128 + signal.SIGTERM
