"""scripts/torchfunc_xor.py and scripts/torchfunc_spiral.py, the hand-written torch.func bars for
`hydra/launcher=vectorized` (issue 21), at a tiny size: they run in-process and write one CSV row
per model and epoch; the spiral script trains what nnlab trains (its data and, for one job, its
metrics)."""

from __future__ import annotations

import math
import sys

import pandas as pd
import pytest
import torch

from conftest import REPO
from inprocess import run_nnlab

METRICS = ["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]

pytestmark = pytest.mark.usefixtures("one_thread")  # the scripts set one thread; put back after


@pytest.fixture
def scripts(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    import torchfunc_spiral
    import torchfunc_xor

    return torchfunc_xor, torchfunc_spiral


def test_spiral_writes_a_row_per_model_and_epoch(scripts, tmp_path, capsys):
    out = tmp_path / "spiral.csv"
    scripts[1].main(["--seeds", "2", "--lrs", "0.1,0.01", "--epochs", "3", "--out", str(out)])
    table = pd.read_csv(out)
    assert list(table.columns) == ["model", "seed", "lr", "epoch", *METRICS]
    assert len(table) == 2 * 2 * 3
    assert sorted(set(zip(table.seed, table.lr, strict=True))) == [(0, 0.01), (0, 0.1), (1, 0.01), (1, 0.1)]
    assert table.groupby("model").epoch.apply(list).tolist() == [[1, 2, 3]] * 4
    assert table[["val_loss", "val_acc"]].isna().all().all()  # no validation split by default
    for column in ("train_acc", "test_acc"):
        assert table[column].between(0, 1).all()
    assert table[["train_loss", "test_loss"]].notna().all().all()
    assert "4 models, final test_acc mean per lr: 0.1: " in capsys.readouterr().out


def test_spiral_val_split(scripts, tmp_path):
    out = tmp_path / "spiral.csv"
    scripts[1].main(["--seeds", "1", "--lrs", "0.01", "--epochs", "2", "--val-fraction", "0.2",
                     "--out", str(out)])
    table = pd.read_csv(out)
    assert len(table) == 2 and table[METRICS].notna().all().all()


@pytest.mark.parametrize("seed, val_fraction", [(0, 0.0), (3, 0.2)])
def test_spiral_data_is_nnlabs(scripts, seed, val_fraction):
    from nnlab.data.toys import make_toy

    ours = scripts[1].spiral_splits(seed, val_fraction=val_fraction)
    theirs = make_toy("spiral", seed=seed, val_fraction=val_fraction)
    assert sorted(ours) == sorted(theirs.splits())
    for name, (x, y) in ours.items():
        assert torch.equal(x, getattr(theirs, name).x) and torch.equal(y, getattr(theirs, name).y)


def test_spiral_trains_as_nnlab(scripts, tmp_path):
    """Same init, data order and Adam: the script's metrics for seed 1 at lr 0.03 are nnlab's run's,
    up to float rounding."""
    out = tmp_path / "spiral.csv"
    scripts[1].main(["--seeds", "2", "--lrs", "0.03", "--epochs", "3", "--out", str(out)])
    ours = pd.read_csv(out).query("seed == 1").reset_index(drop=True)
    run = tmp_path / "run"
    result = run_nnlab(["train", "seed=1", "optimizer.lr=0.03", "epochs=3", "plots=false",
                        "checkpoint=false", "progress=false", "cpu_threads=1", f"hydra.run.dir={run}"],
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    theirs = pd.read_csv(run / "metrics.csv")
    for column in ("train_loss", "train_acc", "test_loss", "test_acc"):
        for a, b in zip(ours[column], theirs[column], strict=True):
            assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5), (column, a, b)


def test_xor_writes_a_row_per_model_and_epoch(scripts, tmp_path, monkeypatch, capsys):
    out = tmp_path / "xor.csv"
    monkeypatch.setattr(sys, "argv", ["torchfunc_xor.py", "--models", "5", "--epochs", "10",
                                      "--out", str(out)])
    scripts[0].main()
    table = pd.read_csv(out)
    assert list(table.columns) == ["model", "epoch", "train_loss", "train_acc", "test_loss", "test_acc"]
    assert len(table) == 5 * 10
    assert table.groupby("model").epoch.apply(list).tolist() == [list(range(1, 11))] * 5
    assert table[["train_acc", "test_acc"]].isin([0.0, 0.25, 0.5, 0.75, 1.0]).all().all()
    assert "of 5 initialisations solve XOR" in capsys.readouterr().out
