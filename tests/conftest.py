"""Shared helpers: run the real `nnlab` command in a subprocess, read run folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))  # the seed experiments' modules, for their tests

from experiments.common import has_fashion_mnist  # noqa: E402

needs_fashion = pytest.mark.skipif(not has_fashion_mnist(), reason="needs real Fashion-MNIST "
                                   "(Debian package dataset-fashion-mnist or data/FashionMNIST/raw)")


def nnlab(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300):
    """Run `python -m nnlab ARGS` in `cwd`; returns the CompletedProcess (never raises on rc)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", "nnlab", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def train(tmp_path: Path, *overrides: str, run_dir: str = "run", check: bool = True):
    """`nnlab train` into tmp_path/run_dir with progress bars off; asserts success if `check`."""
    proc = nnlab("train", f"hydra.run.dir={run_dir}", "progress=false", *overrides, cwd=tmp_path)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


class Run:
    """A run folder as data."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def summary(self) -> dict:
        return json.loads((self.path / "summary.json").read_text())

    @property
    def metrics(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "metrics.csv")


@pytest.fixture
def run_in(tmp_path):
    """run_in(*overrides) trains in a fresh folder and returns its Run."""

    def _run(*overrides: str) -> Run:
        train(tmp_path, *overrides)
        return Run(tmp_path / "run")

    return _run


# --- the attack tests' small trained models (tests/attack_models.py), trained once per module ----


@pytest.fixture(scope="module")
def models():
    from attack_models import trained_models

    return trained_models()


@pytest.fixture(scope="module")
def batch(models):
    from attack_models import attack_batch

    return attack_batch(models)
