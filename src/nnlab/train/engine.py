"""The one explicit fit/evaluate loop. It sees plain PyTorch objects, never a config.

Per epoch: one pass of optimisation over the training batches (what each batch computes is the
training step's business: train/steps.py), an evaluation of every other split, a learning-rate
schedule step, probes, then `on_epoch_end(row, improved)`, which the caller uses to write
metrics and checkpoints. Train loss/accuracy are averaged over the epoch's steps (with dropout
and batchnorm in training mode), as most tools report them.

`train_models` is that loop for M models at once, each a Member with its own monitor, probes and
records, so each stops, diverges and is recorded alone. What one epoch of training and
evaluation computes belongs to a trainer: `SoloTrainer` here (one model, plain PyTorch: the path
of every run of its own, unchanged), or train/stack.py's StackedTrainer (M models as one stacked
model, for the vectorized launcher). One loop rather than a second copy of it; and a solo run
keeps its plain module rather than a stack of one, so its numbers and its code stay as simple as
they were. `fit` is the one-model call, raising Diverged as it always has.
"""

from __future__ import annotations

import contextlib
import logging
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from nnlab.train.steps import StepResult

log = logging.getLogger("nnlab.train")


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

    on_epoch_end: Callable[[dict, bool], None] = _nothing  # fit's one model: (row, best so far?)
    probes: Sequence = ()  # fit's one model: each gets probe.after_epoch(epoch, model)
    step_guard: Callable = contextlib.nullcontext  # each step, and each epoch's records, run inside
    progress: bool = False  # a tqdm bar over the steps
    # without a bar (a log file, a batch job): a line for a group of models this often
    report_every_s: float | None = None


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


class Ending(NamedTuple):
    """How one model's training ended."""

    status: str  # completed, early_stopped or diverged
    failure: Diverged | None = None  # what made it diverge


@dataclass
class Member:
    """One model's own bookkeeping in the loop. A solo run has one member; a group of M models
    trained as one stacked model (train/stack.py) has M, each with its monitor, its probes and
    its records, so each model stops, diverges and is recorded alone."""

    monitor: Monitor
    model: torch.nn.Module  # what the probes analyse (in a group: a module viewing its slice)
    on_epoch_end: Callable[[dict, bool], None] = _nothing  # (metrics row, best so far?)
    probes: Sequence = ()  # each gets probe.after_epoch(epoch, model)


@dataclass
class EpochResult:
    """One training pass, per model: mean loss and accuracy, and the models that diverged in it."""

    loss: list[float]
    acc: list[float]
    diverged: dict[int, Diverged] = field(default_factory=dict)


class SoloTrainer:
    """One model, its optimizer and schedule: what `train_models` drives for a run of its own.

    A trainer says how one epoch trains its models, how they evaluate, which learning rate each
    uses and how the schedule steps; the loop around it is the same for one model or many.
    """

    size = 1

    def __init__(self, learner: Learner, train_step: Callable[..., StepResult], loss_fn: Callable,
                 batches: Batches):
        self.learner, self.train_step, self.loss_fn, self.batches = learner, train_step, loss_fn, batches

    @property
    def steps_per_epoch(self) -> int:
        return len(self.batches.train)

    def lrs(self) -> list[float]:
        return [self.learner.optimizer.param_groups[0]["lr"]]

    def train_epoch(self, epoch: int, step_guard, bar) -> EpochResult:
        try:
            loss, acc = train_one_epoch(self.learner, self.train_step, self.batches.train, epoch,
                                        step_guard, bar)
        except Diverged as ex:
            return EpochResult([math.nan], [math.nan], {0: ex})
        return EpochResult([loss], [acc])

    def evaluate(self) -> dict[str, tuple[list[float], list[float]]]:
        out = {}
        for name, split_batches in self.batches.evaluate.items():
            loss, acc = evaluate(self.learner.model, split_batches, self.loss_fn)
            out[name] = ([loss], [acc])
        return out

    def schedule(self) -> None:
        if self.learner.scheduler is not None:
            self.learner.scheduler.step()

    def retire(self, index: int) -> None:
        pass  # the loop simply ends: nothing else trains


def train_models(trainer, members: Sequence[Member], epochs: range, hooks: Hooks | None = None
                 ) -> list[Ending]:
    """The loop: train `trainer`'s models over `epochs` (e.g. range(1, 11), or range(k + 1, 11) to
    continue after epoch k); returns each model's Ending.

    Per epoch: one training pass, then (for the models still training) an evaluation of every
    other split, the schedule's step, each model's row, monitor, probes and `on_epoch_end`. A
    model that diverges or stops early is retired and the others go on; the loop ends when none
    trains. The epoch's records of all models are written inside one `step_guard()`, so a Ctrl-C
    leaves every model with the same epochs recorded.
    """
    hooks = hooks or Hooks()
    endings: list[Ending | None] = [None] * trainer.size
    for i, member in enumerate(members):
        if member.monitor.should_stop:  # resumed from the epoch its patience ran out: it stopped
            endings[i] = Ending("early_stopped")  # there, and trains no epoch more
            trainer.retire(i)
    if all(ending is not None for ending in endings):
        return endings
    total_steps = len(epochs) * trainer.steps_per_epoch
    report = _GroupReport(trainer.size, epochs, None if hooks.progress else hooks.report_every_s)
    with tqdm(total=total_steps, disable=not hooks.progress, unit="step", dynamic_ncols=True) as bar:
        for epoch in epochs:
            started = time.perf_counter()
            bar.set_description(f"epoch {epoch}/{epochs[-1]}")
            lrs = trainer.lrs()  # the rates this epoch trains with
            result = trainer.train_epoch(epoch, hooks.step_guard, bar)
            for index, failure in result.diverged.items():
                endings[index] = Ending("diverged", failure)
                trainer.retire(index)
            training = [i for i, ending in enumerate(endings) if ending is None]
            if not training:
                break
            evaluated = trainer.evaluate()
            trainer.schedule()
            seconds = time.perf_counter() - started
            with hooks.step_guard():
                for i in training:
                    row = {"epoch": epoch, "train_loss": result.loss[i], "train_acc": result.acc[i]}
                    for name, (losses, accs) in evaluated.items():
                        row[f"{name}_loss"], row[f"{name}_acc"] = losses[i], accs[i]
                    row["lr"], row["seconds"] = lrs[i], seconds
                    member = members[i]
                    improved = member.monitor.update(epoch, row[member.monitor.metric])
                    for probe in member.probes:
                        probe.after_epoch(epoch, member.model)
                    member.on_epoch_end(row, improved)
                    if member.monitor.should_stop:
                        endings[i] = Ending("early_stopped")
                        trainer.retire(i)
            if trainer.size == 1:
                bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k.endswith(("loss", "acc"))
                                 and not math.isnan(v)}, refresh=False)
            else:
                bar.set_postfix({"training": f"{sum(e is None for e in endings)}/{trainer.size}"},
                                refresh=False)
            report.after(epoch, endings, evaluated)
            if all(ending is not None for ending in endings):
                break
    return [ending or Ending("completed") for ending in endings]


class _GroupReport:
    """A console line now and then while a group of models trains without a progress bar (stdout
    is a file, a batch job's log): how far, how many still train, and the spread of one metric
    over the models. Per-epoch lines of each model go to its own train.log."""

    def __init__(self, size: int, epochs: range, every_s: float | None):
        self.on = size > 1 and every_s is not None and len(epochs) > 0
        self.size, self.last_epoch, self.every_s = size, epochs[-1] if len(epochs) else 0, every_s
        self.started = self.reported = time.perf_counter()

    def after(self, epoch: int, endings: list, evaluated: dict) -> None:
        now = time.perf_counter()
        finished = all(ending is not None for ending in endings) or epoch == self.last_epoch
        if not self.on or (now - self.reported < self.every_s and not finished):
            return
        self.reported = now
        training = sum(ending is None for ending in endings)
        split = "test" if "test" in evaluated else next(iter(evaluated), None)
        spread = ""
        if split is not None:
            accs = [a for a in evaluated[split][1] if not math.isnan(a)]
            if accs:
                spread = (f"; {split}_acc median {statistics.median(accs):.4f} "
                          f"(min {min(accs):.4f}, max {max(accs):.4f})")
        log.info("epoch %d/%d: %d of %d models training%s; %.0f s", epoch, self.last_epoch, training,
                 self.size, spread, now - self.started)


def fit(learner: Learner, train_step: Callable[..., StepResult], loss_fn: Callable,
        batches: Batches, epochs: range, monitor: Monitor, hooks: Hooks | None = None) -> str:
    """One model: `train_models` with a SoloTrainer; returns 'completed' or 'early_stopped'.
    `loss_fn(logits, y)` evaluates every split.

    Raises Diverged on a non-finite training loss, after the epochs before it were recorded.
    """
    hooks = hooks or Hooks()
    member = Member(monitor, learner.model, hooks.on_epoch_end, hooks.probes)
    [ending] = train_models(SoloTrainer(learner, train_step, loss_fn, batches), [member], epochs, hooks)
    if ending.failure is not None:
        raise ending.failure
    return ending.status
