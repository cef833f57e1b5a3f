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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from nnlab.train.monitors import Monitor, Monitors
from nnlab.train.steps import StepResult

log = logging.getLogger("nnlab.train")


class Diverged(Exception):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int, value: float):
        super().__init__(f"training loss became {value} at epoch {epoch}, step {step}")
        self.epoch, self.step, self.value = epoch, step, value


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
    """One training pass, per model: mean loss and accuracy ([M] tensors, float64 on the CPU), and
    the models that diverged in it."""

    loss: torch.Tensor
    acc: torch.Tensor
    diverged: dict[int, Diverged] = field(default_factory=dict)


def per_model(values) -> torch.Tensor:
    """[M] float64 on the CPU: how the loop holds one number per model (a float's exact value)."""
    if torch.is_tensor(values):
        return values.detach().to("cpu", torch.float64)
    return torch.tensor(values, dtype=torch.float64)


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

    def lrs(self) -> torch.Tensor:
        return per_model([self.learner.optimizer.param_groups[0]["lr"]])

    def train_epoch(self, epoch: int, step_guard, bar) -> EpochResult:
        try:
            loss, acc = train_one_epoch(self.learner, self.train_step, self.batches.train, epoch,
                                        step_guard, bar)
        except Diverged as ex:
            return EpochResult(per_model([math.nan]), per_model([math.nan]), {0: ex})
        return EpochResult(per_model([loss]), per_model([acc]))

    def evaluate(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        out = {}
        for name, split_batches in self.batches.evaluate.items():
            loss, acc = evaluate(self.learner.model, split_batches, self.loss_fn)
            out[name] = (per_model([loss]), per_model([acc]))
        return out

    def schedule(self) -> None:
        if self.learner.scheduler is not None:
            self.learner.scheduler.step()

    def retire(self, index: int) -> None:
        pass  # the loop simply ends: nothing else trains


def train_models(trainer, members: Sequence[Member], epochs: range, hooks: Hooks | None = None,
                 records=None) -> list[Ending]:
    """The loop: train `trainer`'s models over `epochs` (e.g. range(1, 11), or range(k + 1, 11) to
    continue after epoch k); returns each model's Ending.

    Per epoch: one training pass, then (for the models still training) an evaluation of every
    other split, the schedule's step, the monitors, and the epoch's records: `records` (a group's
    bookkeeping, `records.after_epoch(epoch, values, training, improved, monitors)` with [M]
    tensors), then
    each member's probes and `on_epoch_end(row, improved)` for the members that have them. The
    work per epoch grows with M only for those members. A model that diverges or stops early is
    retired and the others go on; the loop ends when none trains. The epoch's records of all
    models are written inside one `step_guard()`, so a Ctrl-C leaves every model with the same
    epochs recorded.
    """
    hooks = hooks or Hooks()
    size = trainer.size
    monitors = Monitors([member.monitor for member in members])
    endings: list[Ending | None] = [None] * size
    training = torch.ones(size, dtype=torch.bool)
    for i in monitors.should_stop().nonzero().flatten().tolist():
        endings[i] = Ending("early_stopped")  # resumed from the epoch its patience ran out: it
        training[i] = False  # stopped there, and trains no epoch more
        trainer.retire(i)
    if not bool(training.any()):
        return endings
    own_work = [i for i, m in enumerate(members) if m.probes or m.on_epoch_end not in (None, _nothing)]
    total_steps = len(epochs) * trainer.steps_per_epoch
    report = _GroupReport(size, epochs, None if hooks.progress else hooks.report_every_s)
    try:
        with tqdm(total=total_steps, disable=not hooks.progress, unit="step", dynamic_ncols=True) as bar:
            for epoch in epochs:
                started = time.perf_counter()
                bar.set_description(f"epoch {epoch}/{epochs[-1]}")
                lrs = trainer.lrs()  # the rates this epoch trains with
                result = trainer.train_epoch(epoch, hooks.step_guard, bar)
                for index, failure in result.diverged.items():
                    endings[index] = Ending("diverged", failure)
                    training[index] = False
                    trainer.retire(index)
                if not bool(training.any()):
                    break
                evaluated = trainer.evaluate()
                trainer.schedule()
                # a group's epoch is shared: each model's row holds its share of the time
                seconds = (time.perf_counter() - started) / size
                values = {"train_loss": result.loss, "train_acc": result.acc}
                for name, (losses, accs) in evaluated.items():
                    values[f"{name}_loss"], values[f"{name}_acc"] = losses, accs
                values["lr"], values["seconds"] = lrs, torch.full((size,), seconds, dtype=torch.float64)
                with hooks.step_guard():
                    improved = monitors.update(epoch, values[monitors.metric], training)
                    if records is not None:
                        records.after_epoch(epoch, values, training, improved, monitors)
                    if own_work:
                        _each_member(epoch, members, own_work, values, training, improved, monitors)
                    for i in (monitors.should_stop() & training).nonzero().flatten().tolist():
                        endings[i] = Ending("early_stopped")
                        training[i] = False
                        trainer.retire(i)
                bar.set_postfix(_postfix(values, training, size), refresh=False)
                report.after(epoch, training, evaluated)
                if not bool(training.any()):
                    break
    finally:
        monitors.sync()  # what the runs' summaries and last checkpoints read
    return [ending or Ending("completed") for ending in endings]


def _each_member(epoch: int, members: Sequence[Member], indices: list[int], values: dict,
                 training: torch.Tensor, improved: torch.Tensor, monitors: Monitors) -> None:
    """Probes and `on_epoch_end(row, improved)` of the members that have them, in order."""
    monitors.sync(indices)  # a checkpoint written now holds each monitor as of this epoch
    columns = {key: column.tolist() for key, column in values.items()}
    active, best = training.tolist(), improved.tolist()
    for i in indices:
        if not active[i]:
            continue
        member = members[i]
        for probe in member.probes:
            probe.after_epoch(epoch, member.model)
        if member.on_epoch_end is not None:
            member.on_epoch_end({"epoch": epoch, **{key: column[i] for key, column in columns.items()}},
                                best[i])


def _postfix(values: dict, training: torch.Tensor, size: int) -> dict:
    if size == 1:
        return {k: f"{float(v[0]):.3f}" for k, v in values.items()
                if k.endswith(("loss", "acc")) and not math.isnan(float(v[0]))}
    return {"training": f"{int(training.sum())}/{size}"}


class _GroupReport:
    """A console line now and then while a group of models trains without a progress bar (stdout
    is a file, a batch job's log): how far, how many still train, and the spread of one metric
    over the models. Per-epoch lines of each model go to its own train.log."""

    def __init__(self, size: int, epochs: range, every_s: float | None):
        self.on = size > 1 and every_s is not None and len(epochs) > 0
        self.size, self.last_epoch, self.every_s = size, epochs[-1] if len(epochs) else 0, every_s
        self.started = self.reported = time.perf_counter()

    def after(self, epoch: int, training: torch.Tensor, evaluated: dict) -> None:
        now = time.perf_counter()
        finished = not bool(training.any()) or epoch == self.last_epoch
        if not self.on or (now - self.reported < self.every_s and not finished):
            return
        self.reported = now
        split = "test" if "test" in evaluated else next(iter(evaluated), None)
        spread = ""
        if split is not None:
            accs = evaluated[split][1]
            accs = accs[~accs.isnan()]
            if len(accs):
                spread = (f"; {split}_acc median {float(accs.quantile(0.5)):.4f} "
                          f"(min {float(accs.min()):.4f}, max {float(accs.max()):.4f})")
        log.info("epoch %d/%d: %d of %d models training%s; %.0f s", epoch, self.last_epoch,
                 int(training.sum()), self.size, spread, now - self.started)


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
