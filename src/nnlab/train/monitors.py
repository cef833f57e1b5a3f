"""Which epoch is a model's best, and when it stops early: one `Monitor` per model, and `Monitors`,
the same rule for the M models of a loop as [M] tensors (the work per epoch does not grow with M).

A Monitor is what a run's checkpoint saves and restores; `Monitors` reads the models' Monitors
at the start of the loop and writes their fields back (`sync`) whenever something reads them: a
model's own callback, a checkpoint, the end of training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class Monitor:
    """Tracks the best value of one metric; says when to stop early."""

    metric: str
    patience: int | None = None
    min_delta: float = 0.0
    best: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0

    @property
    def higher_is_better(self) -> bool:
        return self.metric.endswith("acc")

    def update(self, epoch: int, value: float) -> bool:
        """Record this epoch's value; True if it is the best so far."""
        sign = 1.0 if self.higher_is_better else -1.0
        if math.isnan(value):
            improved = False  # a NaN is never the best, and must not become the bar to beat
        else:
            improved = (self.best is None or math.isnan(self.best)
                        or sign * (value - self.best) > self.min_delta)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience


class Monitors:
    """`Monitor.update` and `should_stop` for M models at once, in float64 as a Monitor computes
    (the models of one loop watch one metric; patience and min_delta are each model's)."""

    def __init__(self, monitors: Sequence[Monitor]):
        self.monitors = list(monitors)
        metrics = {m.metric for m in self.monitors}
        if len(metrics) != 1:
            raise ValueError(f"the models of one loop must monitor one metric, not {sorted(metrics)}")
        self.metric = self.monitors[0].metric
        self.sign = 1.0 if self.monitors[0].higher_is_better else -1.0

        def column(values, dtype=torch.float64):
            return torch.tensor(values, dtype=dtype)

        self.best = column([math.nan if m.best is None else m.best for m in self.monitors])
        self.best_epoch = column([m.best_epoch for m in self.monitors], torch.int64)
        self.bad_epochs = column([m.bad_epochs for m in self.monitors], torch.int64)
        self.patience = column([math.inf if m.patience is None else m.patience for m in self.monitors])
        self.min_delta = column([m.min_delta for m in self.monitors])
        self.none_yet = column([m.best is None for m in self.monitors], torch.bool)  # best is None

    def update(self, epoch: int, values: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Record this epoch's `values` [M] of the `active` models; [M] bool: best so far."""
        values = values.to(torch.float64)
        improved = ~values.isnan() & (self.best.isnan() | (self.sign * (values - self.best) > self.min_delta))
        improved &= active
        self.best = torch.where(improved, values, self.best)
        self.best_epoch = torch.where(improved, epoch, self.best_epoch)
        self.bad_epochs = torch.where(improved, 0, self.bad_epochs + active.long())
        self.none_yet &= ~improved
        return improved

    def should_stop(self) -> torch.Tensor:
        return self.bad_epochs >= self.patience

    def sync(self, indices: Sequence[int] | None = None) -> None:
        """Write the tensors back into the models' Monitors (all, or those of `indices`)."""
        best, best_epoch, bad = self.best.tolist(), self.best_epoch.tolist(), self.bad_epochs.tolist()
        none_yet = self.none_yet.tolist()
        for i in range(len(self.monitors)) if indices is None else indices:
            monitor = self.monitors[i]
            monitor.best = None if none_yet[i] else best[i]
            monitor.best_epoch, monitor.bad_epochs = best_epoch[i], bad[i]
