"""What one training batch computes: the loss to optimise, and what to report about it.

The loop (engine.py) owns the order of things: zero the gradients, call the step, backward,
optimizer step. The step owns what the loss is: the data loss on the clean batch, on an attacked
batch, or a mix of both (adversarial training), plus the L1 penalty on the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from nnlab.losses import l1_penalty


class StepResult(NamedTuple):
    loss: torch.Tensor  # what is optimised (data loss + L1 term)
    data_loss: torch.Tensor  # what is reported as train_loss (no L1 term)
    logits: torch.Tensor  # of the batch the reported loss is on, for train_acc


class TrainStep:
    """`step(model, x, y) -> StepResult`.

    loss_fn(logits, y): the data loss. l1: coefficient of the L1 penalty on weights (0: none).
    adversary: an attack (`attack(model, x, y, generator=...) -> AttackResult`); with one, each
    batch is attacked and the data loss is mix * adversarial loss + (1 - mix) * clean loss (Madry
    et al.: mix 1), reported loss and accuracy being those of the mix / of the attacked batch.
    The attack's random draws (PGD's random starts) come from this step's own generator, seeded
    with `seed`, so a checkpoint can hold its state and a resumed run draws what it would have.
    """

    def __init__(self, loss_fn: Callable, l1: float = 0.0, adversary=None, mix: float = 1.0,
                 seed: int = 0, device: torch.device | str = "cpu"):
        self.loss_fn, self.l1, self.adversary, self.mix = loss_fn, l1, adversary, mix
        self.generator = None
        if adversary is not None:
            self.generator = torch.Generator(device=device).manual_seed(seed)

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        if self.adversary is None:
            logits = model(x)
            data_loss = self.loss_fn(logits, y)
        else:
            x_adv = self.adversary(model, x, y, generator=self.generator).adversarial.detach()
            logits = model(x_adv)
            data_loss = self.loss_fn(logits, y)
            if self.mix < 1:
                data_loss = self.mix * data_loss + (1 - self.mix) * self.loss_fn(model(x), y)
        loss = data_loss + self.l1 * l1_penalty(model) if self.l1 else data_loss
        return StepResult(loss, data_loss, logits)

    def state_dict(self) -> dict:
        """The random state a resumed run needs (empty without an attack)."""
        return {"generator": self.generator.get_state()} if self.generator is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.generator is not None and "generator" in state:
            self.generator.set_state(state["generator"])
