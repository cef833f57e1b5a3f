"""scripts/reproduce.py: every seed experiment is listed, with its seed report and description."""

from __future__ import annotations

import importlib

import reproduce  # scripts/ is on sys.path (tests/conftest.py)
from experiments import adversarial


def test_the_three_experiments_are_listed():
    found = reproduce.available()
    for name in ("surfaces", "vanishing", "lr-batch"):
        assert name in found and found[name].SEED.startswith("seeds/00") and callable(found[name].run)


def test_the_experiments_are_listed():
    reproduce = importlib.import_module("reproduce")
    found = reproduce.available()
    for name in ("shift", "playground", "fashion", "cifar-ablation"):
        assert found[name].SEED.startswith("seeds/00") and found[name].DESCRIPTION


def test_the_experiment_is_listed():
    reproduce = importlib.import_module("reproduce")
    found = reproduce.available()
    assert found["adversarial"] is adversarial
    assert adversarial.SEED.startswith("seeds/000") and adversarial.DESCRIPTION
