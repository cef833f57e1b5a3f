"""scripts/experiments/playground.py (seeds/004) at tiny settings (about 25 s: marked slow)."""

from __future__ import annotations

import pandas as pd
import pytest
from experiments import playground  # scripts/ is on sys.path (tests/conftest.py)
from experiments.common import Context


@pytest.mark.slow
def test_playground_l1_keeps_the_circles_squared_features(tmp_path, experiments_in_process):
    ctx = Context(out=tmp_path, title="playground", seed=playground.SEED)
    playground.run(ctx, playground.Settings(datasets=("circle",), hand_epochs_scale=0.2,
                                            reg_epochs=(80, 80), act_epochs=10))
    ctx.finish(1.0)
    weights = pd.read_csv(tmp_path / "feature_weights.csv").set_index("regulariser")
    assert list(weights.index) == ["none", "L1", "L2"]
    l1 = weights.loc["L1", playground.ALL_FEATURES]
    others = l1.drop(["x1sq", "x2sq"])
    # x1^2 + x2^2 is the radius: L1 drives every other input's weights towards zero
    assert min(l1["x1sq"], l1["x2sq"]) > 20 * others.max()
    assert weights.loc["L1", "test acc"] > 0.95
    activations = pd.read_csv(tmp_path / "activations.csv")
    assert list(activations["model"]) == ["sigmoid [5, 5]", "tanh [5, 5]", "relu [5, 5]"]
    for png in ("feature_weights.png", "boundaries_features.png", "boundaries_activations.png"):
        assert (tmp_path / png).stat().st_size > 10_000
