"""Seed experiments surfaces, vanishing and lr-batch (issue 6): the neuron-surface script's
gradient check and figures, `reproduce.py surfaces` end to end, and the tables the two training
experiments build from `nnlab report` output."""

from __future__ import annotations

import re

import matplotlib.image as mpimg
import neuron_surfaces as ns  # scripts/ is on sys.path (tests/conftest.py)
import pandas as pd
import pytest
import reproduce
from experiments import lr_batch, vanishing

FIGURES = ["output.png", "l2.png", "l2_grad_w.png", "ce.png", "ce_grad_w.png", "overview.png"]


@pytest.mark.parametrize("x,y", [(1.0, 0.5), (-2.0, 1.0), (0.5, 0.0)])
def test_autograd_matches_the_reports_closed_forms(x, y):
    q = ns.compute(x, y)
    assert q["w"].shape == (41, 41)  # [-5, 5] in steps of 0.25
    errors = ns.check_gradients(q)
    assert max(errors.values()) < 1e-12
    s = q["output"]
    assert q["ce"].sub(-(y * s.log() + (1 - y) * (1 - s).log())).abs().max() < 1e-9  # the report's CE


def test_a_wrong_closed_form_is_caught(monkeypatch):
    # dropping the factor 2 of d(y' - y)^2 / dy' is the kind of slip the check exists for
    monkeypatch.setattr(ns, "closed_form_l2_grad", lambda s, x, y: (s - y) * s * (1 - s) * x)
    with pytest.raises(ns.GradientMismatch, match=r"^l2_grad_w: autograd and the closed form differ"):
        ns.check_gradients(ns.compute())


def test_script_stops_without_figures_when_the_gradients_disagree(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ns, "closed_form_ce_grad", lambda s, x, y: (y - s) * x)  # sign flipped
    assert ns.main(["--out", str(tmp_path / "out")]) == 1
    assert "ce_grad_w: autograd and the closed form differ" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_script_rejects_a_target_outside_0_1(tmp_path, capsys):
    assert ns.main(["--out", str(tmp_path), "--y", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "neuron_surfaces: error: the target y must be in [0, 1], got 2.0"


def test_script_writes_its_table_and_figures(tmp_path):
    assert ns.main(["--out", str(tmp_path), "--step", "0.5"]) == 0
    table = pd.read_csv(tmp_path / "surfaces.csv")
    assert len(table) == 21 * 21 and {"output", "l2", "l2_grad_w", "ce", "ce_grad_w"} <= set(table)
    for name in FIGURES:
        image = mpimg.imread(tmp_path / name)
        assert image.shape[0] > 300 and image.std() > 0.05, name  # a real picture, not a blank page


def test_reproduce_surfaces_writes_readme_tables_and_figures(tmp_path):
    assert reproduce.main(["surfaces", "--out", str(tmp_path)]) == 0
    readme = (tmp_path / "README.md").read_text()
    assert "Reproduces seeds/000 problem 1" in readme
    assert "neuron_surfaces.py --out" in readme
    assert "CE > L2 at 100.0% of the grid" in readme  # with y = 0.5, CE >= ln 2 > max L2 = 1/4
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme):
        assert (tmp_path / link).exists(), link
    assert len(re.findall(r"!\[", readme)) == len(FIGURES)
    assert (tmp_path / "ranges.csv").exists() and (tmp_path / "observations.csv").exists()


def test_the_three_experiments_are_listed():
    found = reproduce.available()
    for name in ("surfaces", "vanishing", "lr-batch"):
        assert name in found and found[name].SEED.startswith("seeds/00") and callable(found[name].run)


def report_rows(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["optimizer.lr", "batch_size", "status", "final_test_acc"])


def test_lr_batch_table_marks_runs_not_made_and_runs_that_failed():
    jobs = report_rows([(0.1, 32, "completed", 0.9), (0.1, 64, "diverged", float("nan")),
                        (0.1, 128, "completed", 0.8), (0.01, 32, "completed", 0.7),
                        (0.01, 64, "completed", 0.6), (0.01, 128, "completed", 0.5),
                        (1e-05, 128, "completed", 0.1)])
    table = lr_batch.pivot(jobs, "final_test_acc")
    assert table.to_dict("records") == [
        {"lr": "0.1", "batch 32": "0.9000", "batch 64": "diverged", "batch 128": "0.8000"},
        {"lr": "0.01", "batch 32": "0.7000", "batch 64": "0.6000", "batch 128": "0.5000"},
        {"lr": "1e-05", "batch 32": "-", "batch 64": "-", "batch 128": "0.1000"},
    ]


def grad_rows(epochs: list[int], first: float, last: float, layers: int = 3) -> pd.DataFrame:
    rows = [(e, k, str(k), first if k == 1 else last if k == layers else 1.0, 0.0)
            for e in epochs for k in range(1, layers + 1)]
    return pd.DataFrame(rows, columns=["epoch", "layer", "name", "max_abs_grad", "mean_abs_grad"])


def test_vanishing_tables_from_sweep_output():
    jobs = pd.DataFrame([(d, a, d / 100, 0.9 - d / 100)
                         for d in vanishing.DEPTHS for a in vanishing.ACTIVATIONS],
                        columns=["model.depth", "model.activation", "final_test_loss", "final_test_acc"])
    scores = vanishing.scores(jobs)
    assert list(scores["layers"]) == list(vanishing.DEPTHS)
    assert scores.loc[2, "loss sigmoid"] == pytest.approx(0.40)
    assert scores.loc[2, "acc relu"] == pytest.approx(0.50)
    # a run shorter than GRAD_EPOCH epochs falls back to its last recorded epoch
    grads = {(d, a): grad_rows([0, 1, 2], first=1e-6 if a == "sigmoid" else 0.5, last=0.1)
             for d in vanishing.DEPTHS for a in vanishing.ACTIVATIONS}
    assert list(vanishing.at_epoch(grads[(5, "relu")], vanishing.GRAD_EPOCH)["epoch"]) == [2, 2, 2]
    ratios = vanishing.ratios(grads)
    assert ratios.loc[0, "sigmoid untrained"] == pytest.approx(1e5)
    assert ratios.loc[0, "relu epoch 3"] == pytest.approx(0.2)
