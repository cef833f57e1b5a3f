"""What every attack shares: the result type, input checks, model handling. (Hyperparameters are
checked against their declarations in nnlab.schema.options.)

Conventions (all attacks):

- Inputs are pixels in [0, 1] with the batch first, e.g. (N, C, H, W); models normalise inside.
- Losses are per-sample cross-entropies *summed* over the batch, so each sample's gradient is
  independent of the batch size and a batch gives the same result as its samples one by one.
- The model is put in eval mode for the attack and every submodule gets its own previous
  `training` flag back afterwards; gradients are taken with `torch.autograd.grad` w.r.t. the
  input only, so parameters' `.grad` are never touched.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from nnlab.errors import UserError
from nnlab.models.modes import evaluating


class AttackResult:
    """`adversarial`: same shape/dtype/device as the input, pixels in [0, 1].
    `steps`: LongTensor (N,), gradient steps spent on each sample (0 where none was needed).
    `success`: BoolTensor (N,), whether `adversarial` fools the model (untargeted: prediction != y;
    targeted: prediction == target), computed on the returned images.

    `success` costs a forward pass over the batch; attacks pass `judge` (a function returning it)
    instead of the tensor, and the pass runs on first access only: FGSM is one forward/backward,
    and callers such as `nnlab attack` or adversarial training that predict for themselves (or
    not at all) would otherwise pay half as much again. Read it before changing the model."""

    def __init__(self, adversarial: torch.Tensor, steps: torch.Tensor,
                 success: torch.Tensor | None = None, *, judge=None):
        self.adversarial, self.steps = adversarial, steps
        self._success, self._judge = success, judge

    @property
    def success(self) -> torch.Tensor | None:
        if self._success is None and self._judge is not None:
            self._success, self._judge = self._judge(), None
        return self._success

    def __repr__(self) -> str:
        return f"AttackResult(adversarial={tuple(self.adversarial.shape)}, steps={self.steps.tolist()})"


class Attack:
    """What every attack is: built from its hyperparameters (so a Hydra config's `_target_`
    instantiates it), then called as `attack(model, x, y, target=None) -> AttackResult`.

    The call checks the inputs (pixels in [0, 1], labels, targets against `targeted`), puts the
    model in eval mode with every submodule's flag restored afterwards, checks the labels against
    the model's classes, and hands the work to `_run(model, x, y, target, generator)`, which a
    subclass writes and which returns (adversarial images, steps spent per sample). Success is
    judged on the returned images when first asked for (AttackResult).
    """

    targeted: bool | None = False  # None: targeted-only attack

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 target: torch.Tensor | None = None, *, generator: torch.Generator | None = None
                 ) -> AttackResult:
        x, y, target = check_inputs(x, y, target, targeted=self.targeted)
        with eval_mode(model):
            if x.shape[0] == 0:
                return AttackResult(x.clone(), torch.zeros(0, dtype=torch.long, device=x.device),
                                    torch.zeros(0, dtype=torch.bool, device=x.device))
            with torch.no_grad():
                num_classes = model(x[:1]).shape[1]
            check_label_range("attack labels (y)", y, num_classes)
            if target is not None:
                check_label_range("attack target", target, num_classes)
            adv, steps = self._run(model, x, y, target, generator)
        adv = adv.detach()
        return AttackResult(adv, steps, judge=judge(model, adv, y, target))

    def _run(self, model, x, y, target, generator) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must define _run")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def judge(model: nn.Module, adv: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
    """A deferred `success` for AttackResult: predictions on adv in eval mode, when asked."""

    def success() -> torch.Tensor:
        with eval_mode(model):
            _, pred = per_sample_loss(model, adv, target if target is not None else y)
        return success_of(pred, y, target)

    return success


# ---------------------------------------------------------------------------- inputs


def check_inputs(x, y, target, *, targeted: bool | None):
    """Validate one call. `targeted`: True needs `target`, False forbids it, None (attacks that are
    always targeted) needs it too. Returns detached (x, y, target) on x's device."""
    x = check_pixels(x)
    n = x.shape[0]
    y = _labels("attack labels (y)", y, n, x.device)
    if target is not None:
        if targeted is False:
            raise UserError("attack.targeted: target labels were given but the attack was built with "
                            "targeted=false; build it with targeted=true for a targeted attack")
        target = _labels("attack target", target, n, x.device)
    elif targeted is not False:
        raise UserError("attack.targeted: this attack is targeted and needs target labels; pass "
                        "target=least_likely_targets(model, x) or random_other_targets(y, classes)")
    return x.detach(), y, target


def check_pixels(x) -> torch.Tensor:
    """x detached, after checking it is a float batch of pixels in [0, 1]."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
        raise UserError("attack input: expected a float tensor of pixels with the batch first, "
                        f"e.g. (N, C, H, W); got {_describe(x)}")
    if x.numel() and (x.min() < 0 or x.max() > 1 or not torch.isfinite(x).all()):
        raise UserError(f"attack input: pixels must be in [0, 1] (got min {x.min().item():g}, max "
                        f"{x.max().item():g}); nnlab models normalise inside, so pass raw pixels")
    return x.detach()


def _labels(what: str, labels, n: int, device) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.shape[0] != n \
            or labels.is_floating_point() or labels.dtype == torch.bool:
        raise UserError(f"{what}: expected integer class labels of shape ({n},), got {_describe(labels)}")
    return labels.detach().to(device=device, dtype=torch.long)


def check_label_range(what: str, labels: torch.Tensor, num_classes: int) -> None:
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise UserError(f"{what}: labels must be in [0, {num_classes - 1}] for a model with "
                        f"{num_classes} outputs; got values in "
                        f"[{labels.min().item()}, {labels.max().item()}]")


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return repr(value) if not hasattr(value, "shape") else f"{type(value).__name__} {tuple(value.shape)}"


# ---------------------------------------------------------------------------- model


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Eval mode with gradients on (attacks differentiate w.r.t. the input); every submodule's own
    `training` flag restored on exit (even on errors)."""
    with evaluating(model), torch.enable_grad():
        yield model


def input_grad(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, *, ascend: bool = True):
    """(gradient, logits) of the summed cross-entropy w.r.t. x only; params' .grad untouched.
    `ascend=False` returns the gradient of the negated loss (towards `labels`)."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits, labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss if ascend else -loss, x)
    return grad, logits.detach()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(dim=1)


@torch.no_grad()
def per_sample_loss(model: nn.Module, x: torch.Tensor, labels: torch.Tensor):
    logits = model(x)
    return F.cross_entropy(logits, labels, reduction="none"), logits.argmax(dim=1)


def success_of(pred: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    return pred == target if target is not None else pred != y


# ---------------------------------------------------------------------------- geometry


def flat_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm, shaped (N, 1, 1, ...) to broadcast against t."""
    return t.flatten(1).norm(p=2, dim=1).view(-1, *([1] * (t.dim() - 1)))


def project(adv: torch.Tensor, x: torch.Tensor, eps: float | None, norm: str) -> torch.Tensor:
    """Onto the eps ball around x (no ball if eps is None), then onto [0, 1]. Clamping to [0, 1]
    only moves coordinates towards x (x is in [0, 1]), so the result stays inside the ball."""
    if eps is not None:
        delta = adv - x
        if norm == "linf":
            delta = delta.clamp(-eps, eps)
        else:  # same rule as torchattacks.PGDL2: scale by min(1, eps / ||delta||), no 0/0 at eps=0
            norms = flat_norm(delta)
            delta = delta * torch.where(norms > eps, eps / norms.clamp_min(1e-30), torch.ones_like(norms))
        adv = x + delta
    return adv.clamp(0.0, 1.0)


def margin(logits: torch.Tensor, labels: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Carlini and Wagner's logit margin, per sample, > 0 where the attack's goal is met.
    Untargeted (labels = the true classes): max_{j != y} Z_j - Z_y; targeted (labels = the
    targets): Z_t - max_{j != t} Z_j."""
    own = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), float("-inf")).amax(dim=1)
    return own - others if targeted else others - own


def margin_loss(logits: torch.Tensor, labels: torch.Tensor, targeted: bool, kappa: float) -> torch.Tensor:
    """The margin as a loss to minimise, floored at -kappa: it stops pulling once a sample is
    kappa past the decision boundary (0 or below means the goal is reached)."""
    return (-margin(logits, labels, targeted)).clamp_min(-kappa)
