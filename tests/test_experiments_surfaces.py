"""scripts/experiments/surfaces.py: `reproduce.py surfaces` end to end (README, tables, figures)."""

from __future__ import annotations

import re

import reproduce  # scripts/ is on sys.path (tests/conftest.py)

FIGURES = ["output.png", "l2.png", "l2_grad_w.png", "ce.png", "ce_grad_w.png", "overview.png"]


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
