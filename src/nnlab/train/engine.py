"""The one explicit fit/evaluate loop. It sees plain PyTorch objects, never a config.

Per epoch: one pass of optimisation over the training batches (what each batch computes is the
training step's business: train/steps.py), an evaluation of every other split, a learning-rate
schedule step, probes, then `on_epoch_end(row, improved)`, which the caller uses to write
metrics and checkpoints. Train loss/accuracy are averaged over the epoch's steps (with dropout
and batchnorm in training mode), as most tools report them.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from nnlab.train.steps import StepResult


class Diverged(Exception):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int, value: float):
        super().__init__(f"training loss became {value} at epoch {epoch}, step {step}")
        self.epoch, self.step, self.value = epoch, step, value


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


@torch.no_grad()
def evaluate(model, batches: Iterable, loss_fn) -> tuple[float, float]:
    """Mean loss and accuracy over all batches (sums stay on the device until the end)."""
    model.eval()
    total_loss = total_correct = total = 0
    for x, y in batches:
        logits = model(x)
        total_loss = total_loss + loss_fn(logits, y) * len(y)
        total_correct = total_correct + (logits.argmax(1) == y).sum()
        total += len(y)
    return float(total_loss) / total, float(total_correct) / total


@dataclass
class Learner:
    """What training changes: the model, its optimizer, and the optional per-epoch schedule."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object = None  # an LR scheduler, stepped once per epoch


@dataclass
class Batches:
    """The data, batched: `train` is iterated once per epoch (and has a len), `evaluate` maps a
    split name (val, test) to its batches, evaluated after every epoch."""

    train: Iterable
    evaluate: dict[str, Iterable] = field(default_factory=dict)


def _nothing(row: dict, improved: bool) -> None:
    pass


@dataclass
class Hooks:
    """What hangs off the loop without changing what it computes."""

    on_epoch_end: Callable[[dict, bool], None] = _nothing  # (metrics row, best so far?)
    probes: Sequence = ()  # each gets probe.after_epoch(epoch, model)
    step_guard: Callable = contextlib.nullcontext  # each step runs inside step_guard()
    progress: bool = False  # a tqdm bar over the steps


def train_one_epoch(learner: Learner, train_step: Callable[..., StepResult], batches, epoch: int,
                    step_guard=contextlib.nullcontext, bar=None) -> tuple[float, float]:
    """One pass over the training batches; mean reported loss and accuracy over the samples.

    Each step runs inside `step_guard()`, which lets a caller hold a Ctrl-C until the step ends.
    """
    model, optimizer = learner.model, learner.optimizer
    model.train()
    device = next(model.parameters()).device
    # Per-step losses stay on the device (no sync per step) and name the step that diverged.
    step_losses = torch.zeros(len(batches), device=device)
    total_loss = total_correct = total = 0
    for step, (x, y) in enumerate(batches):
        with step_guard():
            result = train_step(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            result.loss.backward()
            optimizer.step()
        step_losses[step] = result.loss.detach()
        total_loss = total_loss + result.data_loss.detach() * len(y)
        total_correct = total_correct + (result.logits.argmax(1) == y).sum()
        total += len(y)
        if bar is not None:
            bar.update(1)
    bad = (~torch.isfinite(step_losses)).nonzero()
    if len(bad):
        step = int(bad[0])
        raise Diverged(epoch, step + 1, float(step_losses[step]))
    return float(total_loss) / total, float(total_correct) / total


def fit(learner: Learner, train_step: Callable[..., StepResult], loss_fn: Callable,
        batches: Batches, epochs: range, monitor: Monitor, hooks: Hooks | None = None) -> str:
    """Train over `epochs` (e.g. range(1, 11), or range(k + 1, 11) to continue after epoch k);
    returns 'completed' or 'early_stopped'. `loss_fn(logits, y)` evaluates every split.

    Raises Diverged on a non-finite training loss, after the epochs before it were recorded.
    """
    hooks = hooks or Hooks()
    model, optimizer, scheduler = learner.model, learner.optimizer, learner.scheduler
    total_steps = len(epochs) * len(batches.train)
    with tqdm(total=total_steps, disable=not hooks.progress, unit="step", dynamic_ncols=True) as bar:
        for epoch in epochs:
            started = time.perf_counter()
            bar.set_description(f"epoch {epoch}/{epochs[-1]}")
            lr = optimizer.param_groups[0]["lr"]  # the rate this epoch trains with
            train_loss, train_acc = train_one_epoch(learner, train_step, batches.train, epoch,
                                                    hooks.step_guard, bar)
            row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
            for name, split_batches in batches.evaluate.items():
                row[f"{name}_loss"], row[f"{name}_acc"] = evaluate(model, split_batches, loss_fn)
            if scheduler is not None:
                scheduler.step()
            row["lr"] = lr
            row["seconds"] = time.perf_counter() - started
            improved = monitor.update(epoch, row[monitor.metric])
            for probe in hooks.probes:
                probe.after_epoch(epoch, model)
            hooks.on_epoch_end(row, improved)
            bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k.endswith(("loss", "acc"))
                             and not math.isnan(v)}, refresh=False)
            if monitor.should_stop:
                return "early_stopped"
    return "completed"
