"""scripts/neuron_surfaces.py (seeds/000 problem 1): autograd against the report's closed-form
gradients, the check that catches a wrong one, and the table and figures it writes."""

from __future__ import annotations

import matplotlib.image as mpimg
import neuron_surfaces as ns  # scripts/ is on sys.path (tests/conftest.py)
import pandas as pd
import pytest

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
