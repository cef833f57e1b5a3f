"""The one explicit fit/evaluate loop. It sees plain PyTorch objects, never a config.

Per epoch: one pass of optimisation over the training batches, an evaluation of every other
split, a learning-rate schedule step, probes, then `on_epoch_end(row, improved)`, which the
caller uses to write metrics and checkpoints. Train loss/accuracy are averaged over the epoch's
steps (with dropout and batchnorm in training mode), as most tools report them.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from nnlab.losses import l1_penalty


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


def train_one_epoch(model, batches, optimizer, loss_fn, l1: float, epoch: int, bar,
                    step_guard=contextlib.nullcontext, adversary=None,
                    adversarial_mix: float = 1.0) -> tuple[float, float]:
    """One pass over the training batches; mean data loss (without the L1 term) and accuracy.

    Each step runs inside `step_guard()`, which lets a caller hold a Ctrl-C until the step ends.
    With an `adversary` (an attack), each batch is also attacked and the loss is
    (1 - adversarial_mix) * clean loss + adversarial_mix * adversarial loss (Madry et al.: mix 1);
    the reported loss and accuracy are then those of that mix / of the adversarial batch.
    """
    model.train()
    device = next(model.parameters()).device
    # Per-step losses stay on the device (no sync per step) and name the step that diverged.
    step_losses = torch.zeros(len(batches), device=device)
    total_loss = total_correct = total = 0
    for step, (x, y) in enumerate(batches):
        with step_guard():
            if adversary is not None:
                x_adv = adversary(model, x, y).adversarial.detach()
                logits = model(x_adv)
                data_loss = loss_fn(logits, y)
                if adversarial_mix < 1:
                    data_loss = adversarial_mix * data_loss + (1 - adversarial_mix) * loss_fn(model(x), y)
            else:
                logits = model(x)
                data_loss = loss_fn(logits, y)
            loss = data_loss + l1 * l1_penalty(model) if l1 else data_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        step_losses[step] = loss.detach()
        total_loss = total_loss + data_loss.detach() * len(y)
        total_correct = total_correct + (logits.argmax(1) == y).sum()
        total += len(y)
        bar.update(1)
    bad = (~torch.isfinite(step_losses)).nonzero()
    if len(bad):
        step = int(bad[0])
        raise Diverged(epoch, step + 1, float(step_losses[step]))
    return float(total_loss) / total, float(total_correct) / total


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    loss_fn: Callable,
    train_batches,
    eval_batches: dict,
    epochs: int,
    monitor: Monitor,
    on_epoch_end: Callable[[dict, bool], None],
    probes: list = (),
    l1: float = 0.0,
    start_epoch: int = 1,
    progress: bool = False,
    step_guard=contextlib.nullcontext,
    adversary=None,
    adversarial_mix: float = 1.0,
) -> str:
    """Train from `start_epoch` to `epochs`; returns 'completed' or 'early_stopped'.

    Raises Diverged on a non-finite training loss, after the epochs before it were recorded.
    """
    total_steps = (epochs - start_epoch + 1) * len(train_batches)
    with tqdm(total=total_steps, disable=not progress, unit="step", dynamic_ncols=True) as bar:
        for epoch in range(start_epoch, epochs + 1):
            started = time.perf_counter()
            bar.set_description(f"epoch {epoch}/{epochs}")
            lr = optimizer.param_groups[0]["lr"]
            train_loss, train_acc = train_one_epoch(
                model, train_batches, optimizer, loss_fn, l1, epoch, bar, step_guard, adversary,
                adversarial_mix,
            )
            row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
            for name, batches in eval_batches.items():
                row[f"{name}_loss"], row[f"{name}_acc"] = evaluate(model, batches, loss_fn)
            if scheduler is not None:
                scheduler.step()
            row["lr"] = lr
            row["seconds"] = time.perf_counter() - started
            improved = monitor.update(epoch, row[monitor.metric])
            for probe in probes:
                probe.after_epoch(epoch, model)
            on_epoch_end(row, improved)
            bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k.endswith(("loss", "acc"))
                             and not math.isnan(v)}, refresh=False)
            if monitor.should_stop:
                return "early_stopped"
    return "completed"
