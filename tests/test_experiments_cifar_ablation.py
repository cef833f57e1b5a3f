"""scripts/experiments/cifar_ablation.py (seeds/002) at tiny settings on the generated stand-in,
which the README says loudly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from experiments import cifar_ablation  # scripts/ is on sys.path (tests/conftest.py)
from experiments.common import Context

THREADS = ("cpu_threads=1",)  # tests share the CPU with other jobs


def test_cifar_ablation_on_generated_data_says_so(tmp_path, monkeypatch, experiments_in_process):
    monkeypatch.setenv("NNLAB_DATA", str(tmp_path / "no-data"))   # no real CIFAR-10 here
    monkeypatch.delenv("NNLAB_ONLINE", raising=False)
    cifar = cifar_ablation
    ctx = Context(out=tmp_path / "out", title="cifar", seed=cifar.SEED)
    cifar.run(ctx, cifar.Settings(epochs=2, train_size=1500, test_size=300,
                                  ablations=("batch size",), extra=THREADS))
    ctx.finish(1.0)
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "GENERATED, NOT CIFAR-10" in readme
    for preset in ("cifar_ablation_softmax", "cifar_ablation_hidden"):
        table = pd.read_csv(tmp_path / "out" / f"{preset}.csv")
        assert list(table["value"].astype(str)) == ["128", "256", "512", "1024"]
        assert (table["status"] == "completed").all()
        assert table["test acc"].between(0, 1).all()
    # the temporary data root is gone once the experiment returns
    root = next(a.split("=", 1)[1] for line in ctx.commands for a in line.split()
                if a.startswith("dataset.root="))
    assert not Path(root).exists()
