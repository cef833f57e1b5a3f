"""scripts/experiments/fashion.py (seeds/004) at tiny settings on real Fashion-MNIST: the
table reports the best checkpoint."""

from __future__ import annotations

import math

import pandas as pd
from experiments import fashion  # scripts/ is on sys.path (tests/conftest.py)
from experiments.common import Context

from conftest import needs_fashion

THREADS = ("cpu_threads=1",)  # tests share the CPU with other jobs


@needs_fashion
def test_fashion_reports_the_best_checkpoint(tmp_path, experiments_in_process):
    tiny = ["dataset.train_size=3000", "dataset.val_size=500", "dataset.test_size=500"]
    ctx = Context(out=tmp_path, title="fashion", seed=fashion.SEED)
    fashion.run(ctx, fashion.Settings(
        mlp_epochs=4, cnn_epochs=1, mlp_scale=tiny,
        cnn_scale=[*tiny, "model.channels=[8,16,16]", "model.hidden=32"], extra=THREADS))
    ctx.finish(1.0)
    table = pd.read_csv(tmp_path / "fashion.csv").set_index("model")
    metrics = pd.read_csv(tmp_path / "runs" / "mlp" / "metrics.csv")
    best = metrics.loc[metrics["val_acc"].idxmax()]   # early stopping monitors val_acc
    assert table.loc["MLP", "best epoch"] == best["epoch"]
    assert math.isclose(table.loc["MLP", "test acc (best)"], best["test_acc"], rel_tol=1e-6)
    assert table.loc["MLP", "parameters"] == 244_491
    assert (tmp_path / "runs" / "mlp" / "plots" / "first_layer_weights.png").exists()
