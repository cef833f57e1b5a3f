"""scripts/experiments/playground.py (seeds/004) at tiny settings (about 30 s: marked slow)."""

from __future__ import annotations

import pandas as pd
import pytest
from experiments import playground  # scripts/ is on sys.path (tests/conftest.py)
from experiments.common import Context


@pytest.mark.slow
def test_playground_l1_keeps_the_circles_squared_features(tmp_path, experiments_in_process):
    ctx = Context(out=tmp_path, title="playground", seed=playground.SEED)
    playground.run(ctx, playground.Settings(datasets=("circle",), seeds=(0, 1), hand_epochs_scale=0.2,
                                            reg_epochs=(80, 80), act_epochs=10, jobs=1,
                                            regularisers=("none", "l1", "l2")))
    ctx.finish(1.0)
    weights = pd.read_csv(tmp_path / "feature_weights.csv").set_index("regulariser")
    assert list(weights.index) == ["none", "L1", "L2"]
    l1 = weights.loc["L1", playground.ALL_FEATURES]
    others = l1.drop(["x1sq", "x2sq"])
    # x1^2 + x2^2 is the radius: L1 kills every other input's links (Playground's dead links)
    assert min(l1["x1sq"], l1["x2sq"]) > 20 * others.max()
    assert weights.loc["L1", "inputs that mattered"] == "x1sq, x2sq"
    table = pd.read_csv(tmp_path / "regularised.csv").set_index("regulariser")
    assert str(table.loc["L1", "report test loss"]) == "0.013" and "±" in table.loc["L1", "test loss"]
    runs = pd.read_csv(tmp_path / "regularised_runs.csv")
    assert len(runs) == 6 and set(runs["seed"]) == {0, 1}
    assert runs[runs["regulariser"] == "L1"]["test acc"].min() > 0.95
    hand = pd.read_csv(tmp_path / "hand_crafted.csv")
    assert str(hand.loc[0, "report test loss"]) == "0" and hand.loc[0, "epochs"] == round(306 * 0.2)
    activations = pd.read_csv(tmp_path / "activations.csv")
    assert list(activations["model"]) == ["sigmoid [5, 5]", "tanh [5, 5]", "relu [5, 5]"]
    for png in ("feature_weights.png", "boundaries_features.png", "boundaries_activations.png"):
        assert (tmp_path / png).stat().st_size > 10_000


def test_a_cell_is_matched_when_the_report_lies_within_the_seeds():
    values = pd.Series([0.011, 0.015, 0.023])
    assert playground.verdict(values, 0.02) == "matched"
    assert playground.verdict(values, 0.0234) == "matched"  # the site's rounding
    assert playground.verdict(values, 0.051) == "differs: nnlab lower"
    assert playground.verdict(values, 0.0) == "differs: nnlab higher"
    assert playground.spread(values) == "0.016 ± 0.006 (0.011-0.023)"
