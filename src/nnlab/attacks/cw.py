"""Carlini & Wagner L2 attack (Carlini and Wagner 2017, "Towards evaluating the robustness of neural
networks"), with the per-sample binary search over the trade-off constant c.

The image is optimised in tanh space, x_adv = (tanh(w) + 1) / 2, so pixels stay in [0, 1] without
clipping; Adam minimises, for every sample independently,

    ||x_adv - x||_2^2 + c * f(x_adv)
    f = max(Z_y - max_{j != y} Z_j, -kappa)          (untargeted, Z the logits)
    f = max(max_{j != t} Z_j - Z_t, -kappa)          (targeted)

Binary search (binary_search_steps rounds, each a fresh optimisation from w = atanh(2x - 1)): a
sample that succeeded in a round sets c_upper = min(c_upper, c), otherwise c_lower = max(c_lower, c);
the next c is (c_lower + c_upper) / 2 once an upper bound is known, else c * 10. Each sample keeps the
smallest-L2 successful image seen at any step of any round (a success: the attack criterion on the
prediction, with a margin of at least kappa). Samples never successful get the input back unchanged.

Differences from torchattacks.CW 3.5: torchattacks has no binary search (one fixed c), averages the
loss over the batch (so a sample's step depends on the batch) and keeps the last improving image; ours
sums per-sample losses (a batch gives the same result as its samples one by one), searches c per
sample and keeps the smallest successful perturbation.
"""

from __future__ import annotations

import torch

from nnlab.attacks.base import Attack, margin
from nnlab.schema import check_arguments

_C_UNBOUNDED = 1e10
_ATANH_SHRINK = 1 - 1e-6  # keep atanh finite at pixels 0 and 1


class CarliniWagnerL2(Attack):
    """C&W L2 (see the module docstring). `c`: initial trade-off constant (per sample, then searched);
    `kappa`: confidence margin; `steps`: Adam steps per binary-search round; `lr`: Adam learning rate
    on w; `binary_search_steps`: rounds (1 = a single fixed c). steps in the result:
    steps * binary_search_steps for every sample (no early abort)."""

    def __init__(self, c: float = 1.0, kappa: float = 0.0, steps: int = 100, lr: float = 0.01,
                 binary_search_steps: int = 5, targeted: bool = False):
        vars(self).update(check_arguments(
            "nnlab.attacks.CarliniWagnerL2", "attack", c=c, kappa=kappa, steps=steps, lr=lr,
            binary_search_steps=binary_search_steps, targeted=targeted))

    def _run(self, model, x, y, target, generator):
        n = x.shape[0]
        view = (-1, *([1] * (x.dim() - 1)))
        labels = target if target is not None else y
        w0 = torch.atanh((x * 2 - 1) * _ATANH_SHRINK)
        c = torch.full((n,), self.c, dtype=x.dtype, device=x.device)
        lower = torch.zeros_like(c)
        upper = torch.full_like(c, _C_UNBOUNDED)
        best_l2 = torch.full_like(c, float("inf"))
        best_adv = x.clone()

        for _ in range(self.binary_search_steps):
            w = w0.clone().requires_grad_(True)
            optimizer = torch.optim.Adam([w], lr=self.lr)
            round_success = torch.zeros(n, dtype=torch.bool, device=x.device)
            for step in range(self.steps + 1):  # the last pass only evaluates the final w
                adv = (torch.tanh(w) + 1) / 2
                l2sq = (adv - x).flatten(1).pow(2).sum(dim=1)
                logits = model(adv)
                met = margin(logits, labels, self.targeted)  # > 0: criterion met, >= kappa: success
                pred = logits.argmax(dim=1)
                success = (pred == target) if target is not None else (pred != y)
                success = success & (met >= self.kappa)
                with torch.no_grad():
                    round_success |= success
                    better = success & (l2sq < best_l2)
                    best_l2 = torch.where(better, l2sq, best_l2)
                    best_adv = torch.where(better.view(view), adv, best_adv)
                if step == self.steps:
                    break
                f = (-met).clamp_min(-self.kappa)  # margin_loss, from the margin already at hand
                loss = (l2sq + c * f).sum()
                (grad,) = torch.autograd.grad(loss, w)
                w.grad = grad
                optimizer.step()
                w.grad = None

            upper = torch.where(round_success, torch.minimum(upper, c), upper)
            lower = torch.where(round_success, lower, torch.maximum(lower, c))
            c = torch.where(upper < _C_UNBOUNDED, (lower + upper) / 2, c * 10)

        total = self.steps * self.binary_search_steps
        return best_adv.detach(), torch.full((n,), total, dtype=torch.long, device=x.device)
