"""scripts/experiments/shift.py (seeds/003) at tiny settings on real Fashion-MNIST: an MLP
loses accuracy under shifts faster than LeNet-5."""

from __future__ import annotations

import pandas as pd
from experiments import shift  # scripts/ is on sys.path (tests/conftest.py)
from experiments.common import Context

from conftest import needs_fashion

THREADS = ("cpu_threads=1",)  # tests share the CPU with other jobs


@needs_fashion
def test_shift_mlp_loses_accuracy_under_shift_faster_than_lenet(tmp_path, experiments_in_process):
    ctx = Context(out=tmp_path, title="shift", seed=shift.SEED)
    shift.run(ctx, shift.Settings(epochs=2, train_size=8000, test_size=1000, max_shift=3,
                                  extra=THREADS))
    ctx.finish(1.0)
    table = pd.read_csv(tmp_path / "shift_accuracy.csv").set_index("shift")

    def kept(model: str) -> float:
        """Accuracy kept after shifting 3 pixels, as a fraction of the unshifted accuracy."""
        cols = [c for c in table.columns if c.startswith(model + " ")]
        return float(table.loc[3, cols].mean() / table.loc[0, cols].mean())

    assert kept("MLP") < kept("LeNet-5") - 0.05
    assert (tmp_path / "shift_accuracy.png").stat().st_size > 10_000
    readme = (tmp_path / "README.md").read_text()
    assert "Fashion-MNIST" in readme and "shift_accuracy.png" in readme
