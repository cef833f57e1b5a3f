"""scripts/experiments/vanishing.py: the score and gradient-ratio tables it builds from sweep
output."""

from __future__ import annotations

import pandas as pd
import pytest
from experiments import vanishing  # scripts/ is on sys.path (tests/conftest.py)


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
