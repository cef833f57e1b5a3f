"""Monitors (M models' best epochs and early stopping as tensors) against Monitor, model by model."""

from __future__ import annotations

import math
import random

import torch

from nnlab.train.monitors import Monitor, Monitors


def test_monitors_decide_as_each_model_s_monitor_would():
    rng = random.Random(0)
    settings = [("val_loss", None, 0.0), ("val_loss", 2, 0.01), ("val_loss", 3, 0.0), ("val_loss", 1, 0.5)]
    alone = [Monitor(metric, patience, delta) for metric, patience, delta in settings]
    together = Monitors([Monitor(metric, patience, delta) for metric, patience, delta in settings])
    active = torch.ones(len(settings), dtype=torch.bool)
    for epoch in range(1, 40):
        values = [rng.choice([math.nan, rng.random(), 0.5]) for _ in settings]
        improved = together.update(epoch, torch.tensor(values, dtype=torch.float64), active).tolist()
        for i, monitor in enumerate(alone):
            if active[i]:
                assert improved[i] == monitor.update(epoch, values[i]), (epoch, i)
            else:
                assert not improved[i]
        stop = together.should_stop().tolist()
        for i, monitor in enumerate(alone):
            if active[i]:
                assert stop[i] == monitor.should_stop
                if stop[i]:
                    active[i] = False  # retired: its monitor no longer changes
    together.sync()
    for mine, theirs in zip(together.monitors, alone, strict=True):
        assert (mine.best_epoch, mine.bad_epochs) == (theirs.best_epoch, theirs.bad_epochs)
        assert mine.best == theirs.best or (mine.best is None and theirs.best is None) or \
            (math.isnan(mine.best) and math.isnan(theirs.best))


def test_accuracy_is_maximised_and_a_restored_monitor_continues():
    restored = Monitor("val_acc", patience=2, best=0.8, best_epoch=3, bad_epochs=1)
    monitors = Monitors([restored])
    active = torch.ones(1, dtype=torch.bool)
    assert not monitors.update(5, torch.tensor([0.7], dtype=torch.float64), active)[0]
    assert bool(monitors.should_stop()[0])  # two epochs without a better accuracy
    monitors.sync()
    assert (restored.best, restored.best_epoch, restored.bad_epochs) == (0.8, 3, 2)


def test_a_nan_never_becomes_the_best():
    monitor = Monitor("val_loss")
    monitors = Monitors([monitor])
    active = torch.ones(1, dtype=torch.bool)
    assert not monitors.update(1, torch.tensor([math.nan], dtype=torch.float64), active)[0]
    monitors.sync()
    assert monitor.best is None and monitor.bad_epochs == 1
    assert monitors.update(2, torch.tensor([3.0], dtype=torch.float64), active)[0]
