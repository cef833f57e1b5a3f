"""DeepFool (Moosavi-Dezfooli et al. 2016, "DeepFool: a simple and accurate method to fool deep
neural networks"), untargeted, multi-class, L2.

At the current point x_i = clip(x + (1 + overshoot) * r, 0, 1) (r the accumulated perturbation,
r = 0 at first), while the prediction is still the true label y: linearise every class k != y,
f_k = Z_k - Z_y, w_k = grad Z_k - grad Z_y, take the class l with the smallest |f_l| / ||w_l||_2
and add the step r_i = (|f_l| + 1e-4) / ||w_l||_2^2 * w_l to r. A sample stops as soon as its label
flips. The result is clip(x + (1 + overshoot) * r, 0, 1); steps is the number of steps each sample
took (0 for samples misclassified from the start).

Batched: the gradient of class k for all samples comes from one backward pass of Z_k summed over
the batch (samples are independent in eval mode), so a batch gives the same result as its samples
one by one.

Differences from torchattacks.DeepFool 3.5: it applies the overshoot to every step (and clips after
every step) where the original paper and we apply it once to the accumulated perturbation; it has no
1e-4 term in the step, and it runs samples one at a time.
"""

from __future__ import annotations

import torch

from nnlab.attacks.base import Attack
from nnlab.schema import check_arguments

_STEP_FLOOR = 1e-4  # as in the authors' code: |f| + 1e-4, so a step crosses the boundary
_NORM_GUARD = 1e-12


class DeepFool(Attack):
    """Untargeted DeepFool over all classes (see the module docstring). `steps`: at most this many
    linearisation steps per sample; `overshoot`: the final perturbation is (1 + overshoot) * r."""

    targeted = False

    def __init__(self, steps: int = 50, overshoot: float = 0.02):
        vars(self).update(check_arguments("nnlab.attacks.DeepFool", "attack", steps=steps,
                                          overshoot=overshoot))

    def _run(self, model, x, y, target, generator):
        n = x.shape[0]
        r = torch.zeros_like(x)
        used = torch.zeros(n, dtype=torch.long, device=x.device)
        active = torch.arange(n, device=x.device)
        for it in range(self.steps + 1):  # the last pass only checks the labels
            point = (x[active] + (1 + self.overshoot) * r[active]).clamp(0.0, 1.0).requires_grad_(True)
            logits = model(point)
            keep = logits.argmax(dim=1) == y[active]
            if not keep.any() or it == self.steps:
                break
            active, logits, labels = active[keep], logits[keep], y[active][keep]
            num_classes = logits.shape[1]
            grads = torch.stack([
                torch.autograd.grad(logits[:, k].sum(), point, retain_graph=k + 1 < num_classes)[0]
                for k in range(num_classes)], dim=1)[keep]  # (m, K, ...)
            logits = logits.detach()
            own_grad = grads[torch.arange(len(labels), device=x.device), labels]
            w = (grads - own_grad[:, None]).flatten(2)  # (m, K, D)
            f = logits - logits.gather(1, labels[:, None])  # (m, K)
            w_norm = w.norm(dim=2)
            dist = f.abs() / w_norm.clamp_min(_NORM_GUARD)
            dist.scatter_(1, labels[:, None], float("inf"))
            best = dist.argmin(dim=1)
            rows = torch.arange(len(labels), device=x.device)
            f_l, w_l, norm_l = f[rows, best].abs(), w[rows, best], w_norm[rows, best]
            step = ((f_l + _STEP_FLOOR) / norm_l.clamp_min(_NORM_GUARD).pow(2))[:, None] * w_l
            r[active] += step.view(-1, *x.shape[1:])
            used[active] += 1
        adv = (x + (1 + self.overshoot) * r).clamp(0.0, 1.0)
        return adv, used
