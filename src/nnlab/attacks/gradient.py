"""Gradient attacks in pixel space [0, 1]: FGSM, iterative FGSM (BIM), targeted sign steps, PGD.

Each attack is built from its hyperparameters (so a Hydra config `_target_: nnlab.attacks.PGD`
instantiates it) and called as `attack(model, x, y, target=None) -> AttackResult`.

Targeted or not, the rule: FGSM and PGD take `targeted` (default false). Built with targeted=true
they need `target` labels on every call; built with targeted=false, passing `target` is an error
(never silently ignored). IFGSM is untargeted only (passing `target` is an error); TargetedSign is
targeted only (`target` required). `y` is always the true labels: untargeted attacks try to leave
them, and for targeted attacks they are only checked.

Conventions shared with torchattacks 3.5 (checked in tests/test_attacks.py): sign steps of size
alpha with projection after every step (clamp the perturbation to [-eps, eps], then pixels to
[0, 1]); L2 steps alpha * g / (||g||_2 + 1e-10), projection by the factor min(1, eps / ||delta||_2).

Differences:
- We sum the per-sample losses where torchattacks averages them over the batch, so a sample's
  result never depends on the batch it is in. Signs and normalised directions are the same; the
  one visible effect is that torchattacks' 1e-10 guard acts on gradients N times smaller, so for a
  sample whose loss is saturated (||g|| ~ 1e-9) its L2 step shrinks. Ours equals
  torchattacks.PGDL2(..., eps_for_division=1e-10 / N) on a batch of N.
- The L2 random start is uniform in the ball's volume (radius eps * u^(1/d)); torchattacks draws
  the radius uniformly in [0, eps]. Random starts come from our own generator (see PGD).
"""

from __future__ import annotations

import torch

from nnlab.attacks.base import (
    Attack,
    input_grad,
    per_sample_loss,
    project,
    success_of,
)
from nnlab.schema import check_arguments

_L2_DIVISION_EPS = 1e-10  # as torchattacks.PGDL2's eps_for_division


class FGSM(Attack):
    """Fast gradient sign method (Goodfellow et al. 2014): x + eps * sign(grad CE(x, y)), or
    x - eps * sign(grad CE(x, target)) when targeted; clipped to [0, 1]. steps is 1 for every sample."""

    def __init__(self, eps: float, targeted: bool = False):
        vars(self).update(check_arguments("nnlab.attacks.FGSM", "attack", eps=eps, targeted=targeted))

    def _run(self, model, x, y, target, generator):
        labels = target if target is not None else y
        grad, _ = input_grad(model, x, labels, ascend=target is None)
        adv = (x + self.eps * grad.sign()).clamp(0.0, 1.0)
        return adv, torch.ones(x.shape[0], dtype=torch.long, device=x.device)


def _sign_steps_until(model, x, labels, stop, *, alpha, steps, eps, ascend):
    """Sign steps with per-sample stopping: before each step a sample whose prediction already
    satisfies `stop(pred, labels)` leaves the batch. Only still-active samples are run."""
    adv = x.clone()
    used = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    active = torch.arange(x.shape[0], device=x.device)
    for _ in range(steps):
        grad, logits = input_grad(model, adv[active], labels[active], ascend=ascend)
        keep = ~stop(logits.argmax(dim=1), labels[active])
        active, grad = active[keep], grad[keep]
        if active.numel() == 0:
            break
        adv[active] = project(adv[active] + alpha * grad.sign(), x[active], eps, "linf")
        used[active] += 1
    return adv, used


class IFGSM(Attack):
    """Basic iterative method (Kurakin et al. 2016), untargeted: sign steps of size alpha up the
    loss of the true label, projected onto the eps Linf ball and [0, 1], each sample stopping as
    soon as it is misclassified. eps=None: no ball (only `steps` bounds it). steps in the result:
    steps each sample actually took (0 for samples misclassified from the start)."""

    targeted = False

    def __init__(self, eps: float | None, alpha: float, steps: int):
        vars(self).update(check_arguments("nnlab.attacks.IFGSM", "attack", eps=eps, alpha=alpha,
                                          steps=steps))

    def _run(self, model, x, y, target, generator):
        return _sign_steps_until(model, x, y, lambda pred, lab: pred != lab, alpha=self.alpha,
                                 steps=self.steps, eps=self.eps, ascend=True)


class TargetedSign(Attack):
    """I <- I - alpha * sign(grad_I CE(I, target)), clipped to [0, 1] (and to the eps Linf ball
    when eps is given), each sample stopping as soon as the target class is predicted.
    Always targeted: `target` is required on every call."""

    targeted = None

    def __init__(self, alpha: float, steps: int, eps: float | None = None):
        vars(self).update(check_arguments("nnlab.attacks.TargetedSign", "attack", alpha=alpha,
                                          steps=steps, eps=eps))

    def _run(self, model, x, y, target, generator):
        return _sign_steps_until(model, x, target, lambda pred, lab: pred == lab, alpha=self.alpha,
                                 steps=self.steps, eps=self.eps, ascend=False)


class PGD(Attack):
    """Projected gradient descent (Madry et al. 2017) in the Linf or L2 ball of radius eps.

    Linf step: alpha * sign(g); L2 step: alpha * g / ||g||_2 per sample; projection onto the ball
    and [0, 1] after every step. random_start: uniform in the Linf ball / uniform in the L2 ball,
    drawn from `generator` (a call keyword) or else from the attack's own stream seeded with `seed`
    (one per device; later calls carry on the stream, so a fresh attack repeats the same sequence).
    With restarts > 1 each sample keeps its most successful run: fooled (untargeted) or reaching
    the target (targeted) first, then the highest loss of the true label (untargeted) or the lowest
    loss of the target (targeted). No early stopping: steps in the result is steps * restarts for
    every sample.
    """

    def __init__(self, eps: float, alpha: float, steps: int, norm: str = "linf", random_start: bool = True,
                 restarts: int = 1, targeted: bool = False, seed: int = 0):
        vars(self).update(check_arguments(
            "nnlab.attacks.PGD", "attack", eps=eps, alpha=alpha, steps=steps, norm=norm,
            random_start=random_start, restarts=restarts, targeted=targeted, seed=seed))

    def _run(self, model, x, y, target, generator):
        if generator is None and self.random_start:
            generator = self._generator(x.device)
        labels = target if target is not None else y
        best_adv = best_success = best_score = None
        for _ in range(self.restarts):
            adv = self._start(x, generator) if self.random_start else x.clone()
            for _ in range(self.steps):
                grad, _ = input_grad(model, adv, labels, ascend=target is None)
                if self.norm == "linf":
                    step = grad.sign()
                else:
                    norms = grad.flatten(1).norm(p=2, dim=1) + _L2_DIVISION_EPS
                    step = grad / norms.view(-1, *([1] * (grad.dim() - 1)))
                adv = project(adv + self.alpha * step, x, self.eps, self.norm)
            loss, pred = per_sample_loss(model, adv, labels)
            success = success_of(pred, y, target)
            score = loss if target is None else -loss
            if best_adv is None:
                best_adv, best_success, best_score = adv, success, score
                continue
            better = (success & ~best_success) | ((success == best_success) & (score > best_score))
            best_adv = torch.where(better.view(-1, *([1] * (x.dim() - 1))), adv, best_adv)
            best_success = torch.where(better, success, best_success)
            best_score = torch.where(better, score, best_score)
        steps = torch.full((x.shape[0],), self.steps * self.restarts, dtype=torch.long, device=x.device)
        return best_adv, steps

    def _generator(self, device: torch.device) -> torch.Generator:
        """This attack's own stream on `device`, seeded with `seed` at first use and carried on by
        later calls (so adversarial training draws new starts for every batch, and a fresh attack
        with the same seed repeats the same sequence)."""
        generators = self.__dict__.setdefault("_generators", {})
        if str(device) not in generators:
            generators[str(device)] = torch.Generator(device=device).manual_seed(self.seed)
        return generators[str(device)]

    def _start(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A uniform random point of the ball around x, clamped to [0, 1] (which keeps it inside)."""
        shape, dev = x.shape, generator.device
        if self.norm == "linf":
            noise = (torch.rand(shape, generator=generator, device=dev, dtype=x.dtype) * 2 - 1) * self.eps
        else:
            direction = torch.randn(shape, generator=generator, device=dev, dtype=x.dtype)
            direction = direction / direction.flatten(1).norm(p=2, dim=1).clamp_min(1e-12).view(
                -1, *([1] * (x.dim() - 1)))
            u = torch.rand((shape[0],), generator=generator, device=dev, dtype=x.dtype)
            radius = self.eps * u.pow(1.0 / x[0].numel())
            noise = direction * radius.view(-1, *([1] * (x.dim() - 1)))
        return project(x + noise.to(x.device), x, self.eps, self.norm)
