"""Generator attack (seeds/001 exercise 2): a network f trained, with the classifier C frozen, so
that C(f(x)) is a chosen target class for any input x, not just for one image.

seeds/001 trains f in two steps: first to reproduce its input (f = identity), then on the
combined model C o f with C's weights frozen. Here f is residual,

    f(x) = clamp(x + delta(x), 0, 1),   delta(x) = eps * tanh(h(x) + u)      (eps given: Linf bound)
                                        delta(x) = h(x) + u                  (eps null: penalty only)

with h a small convolutional net whose last layer starts at zero and u a learnable image-sized
(universal) perturbation starting at zero, so f starts as the identity (the report's first step)
and training only does the second. The loss per sample is a Carlini-Wagner margin on C's logits
(targeted: max_j!=t z_j - z_t; untargeted: z_y - max_j!=y z_j; floored at -kappa) plus
`penalty` * ||delta||_2^2. The margin stops pulling once a sample is kappa past the boundary,
so with a penalty the perturbation then shrinks instead of growing without end.

One generator per target class (the report: one per target, digits sent to every other class),
or one untargeted generator. `fit(model, x_train, y_train, targets)` trains them on a training
split; calling the attack applies them, so a batch gives the same images as its samples one by
one. The classifier's parameters never get gradients (torch.autograd.grad w.r.t. f only).
"""

from __future__ import annotations

import logging
import time

import torch
from torch import nn
from tqdm.auto import tqdm

from nnlab.attacks.base import (
    Attack,
    check_inputs,
    check_label_range,
    eval_mode,
    margin_loss,
)
from nnlab.errors import UserError
from nnlab.schema import check_arguments

log = logging.getLogger("nnlab.attack")

UNTARGETED = -1  # key of the untargeted generator


class PerturbationNet(nn.Module):
    """x -> delta(x): three 3x3 convolutions (receptive field 7x7) plus a learnable universal
    perturbation u. Starts at delta = 0 (last conv and u zero), i.e. f = identity."""

    def __init__(self, shape: tuple[int, ...], width: int, eps: float | None):
        super().__init__()
        channels = shape[0]
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, channels, 3, padding=1),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)
        self.universal = nn.Parameter(torch.zeros(shape))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x) + self.universal
        return self.eps * torch.tanh(h) if self.eps is not None else h


class GeneratorAttack(Attack):
    """Train one perturbation generator per target class with the classifier frozen (see module doc).

    eps: Linf bound on the perturbation (pixel units), or None for no bound (then `penalty` > 0
    must keep it small). penalty: weight of the mean squared L2 norm of the perturbation.
    kappa: margin the generator aims past the decision boundary. width: channels of f's
    convolutions. epochs, batch_size, lr: Adam training of f (the universal part at 10 x lr) on
    the training samples given to `fit` (samples already of the target class are left out).
    train_n: at most this many of them.
    """

    def __init__(self, eps: float | None = 0.3, penalty: float = 0.0, kappa: float = 0.0,
                 width: int = 16, epochs: int = 5, batch_size: int = 128, lr: float = 0.01,
                 train_n: int | None = 5000, targeted: bool = True, seed: int = 0):
        vars(self).update(check_arguments(
            "nnlab.attacks.GeneratorAttack", "attack", eps=eps, penalty=penalty, kappa=kappa,
            width=width, epochs=epochs, batch_size=batch_size, lr=lr, train_n=train_n,
            targeted=targeted, seed=seed))
        self.generators: dict[int, PerturbationNet] = {}
        self.training_log: dict[int, dict] = {}

    # ------------------------------------------------------------------ training
    def fit(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets=None,
            progress: bool | None = None) -> dict[int, dict]:
        """Train the generators on (x, y): one per class in `targets` (targeted), or the one
        untargeted generator. Returns {target: {"train_success": ..., "seconds": ...}}."""
        x, y, _ = check_inputs(x, y, None, targeted=False)
        if x.dim() != 4:
            raise UserError(f"generator attack: expected image batches (N, C, H, W), got shape "
                            f"{tuple(x.shape)}")
        with eval_mode(model), torch.no_grad():
            num_classes = model(x[:1]).shape[1]
        check_label_range("attack labels (y)", y, num_classes)
        if self.targeted:
            if targets is None or len(targets) == 0:
                raise UserError("attack.targeted: the generator attack needs target classes "
                                "(target=all | random | least_likely | a class index)")
            keys = sorted({int(t) for t in targets})
            check_label_range("attack target", torch.tensor(keys), num_classes)
        else:
            keys = [UNTARGETED]
        # progress None: a bar only on a terminal (tqdm's disable=None)
        for key in tqdm(keys, desc="generators", disable=None if progress is None else not progress,
                        leave=False):
            self.generators[key], self.training_log[key] = self._fit_one(model, x, y, key)
            what = f"target {key}" if key != UNTARGETED else "untargeted"
            log.info("generator (%s): success on its training samples %.4f (%.1f s)", what,
                     self.training_log[key]["train_success"], self.training_log[key]["seconds"])
        return self.training_log

    def _fit_one(self, model, x, y, key: int) -> tuple[PerturbationNet, dict]:
        start = time.monotonic()
        if key != UNTARGETED:  # samples already of the target class have nothing to learn
            keep = y != key
            x, y = x[keep], y[keep]
        if self.train_n is not None:
            x, y = x[: self.train_n], y[: self.train_n]
        if len(x) == 0:
            raise UserError(f"generator attack: no training samples for target {key}")
        rng = torch.Generator().manual_seed(self.seed * 1000 + key + 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1000 + key + 1)  # f's initial weights
            net = PerturbationNet(tuple(x.shape[1:]), self.width, self.eps).to(x.device)
        # The universal part learns at 10x the rate: at the convolutions' rate it barely moves in a
        # few hundred steps, and at its rate the convolutions' outputs blow up and saturate tanh
        # (measured: 0.02 vs 0.89 targeted success on Fashion-MNIST LeNet after 5 epochs).
        optimizer = torch.optim.Adam([{"params": net.body.parameters(), "lr": self.lr},
                                      {"params": [net.universal], "lr": 10 * self.lr}])
        params = list(net.parameters())
        with eval_mode(model):
            for _ in range(self.epochs):
                for batch in torch.randperm(len(x), generator=rng).split(self.batch_size):
                    xb, yb = x[batch.to(x.device)], y[batch.to(x.device)]
                    labels = yb if key == UNTARGETED else torch.full_like(yb, key)
                    loss = self._loss(model, net, xb, labels).sum() / len(xb)
                    grads = torch.autograd.grad(loss, params)
                    for p, g in zip(params, grads, strict=True):
                        p.grad = g
                    optimizer.step()
            net.eval()
            success = torch.cat([self._success(model, net, x[i:i + 1000], y[i:i + 1000], key)
                                 for i in range(0, len(x), 1000)])
        return net, {"train_success": float(success.float().mean()), "train_n": len(x),
                     "seconds": round(time.monotonic() - start, 3)}

    def _loss(self, model, net, x, labels):
        delta = net(x)
        adv = (x + delta).clamp(0.0, 1.0)
        loss = margin_loss(model(adv), labels, self.targeted, self.kappa)
        if self.penalty:
            loss = loss + self.penalty * (adv - x).flatten(1).pow(2).sum(1)
        return loss

    @torch.no_grad()
    def _success(self, model, net, x, y, key):
        pred = model(self._apply(net, x)).argmax(1)
        return pred != y if key == UNTARGETED else pred == key

    @staticmethod
    @torch.no_grad()
    def _apply(net: PerturbationNet, x: torch.Tensor) -> torch.Tensor:
        return (x + net(x)).clamp(0.0, 1.0)

    # ------------------------------------------------------------------ attacking
    def _run(self, model, x, y, target, generator):
        """Apply the trained generators: each sample goes through its target's generator (or the
        untargeted one). steps is 1 per sample (one pass through f)."""
        keys = [UNTARGETED] if target is None else sorted({int(t) for t in target.tolist()})
        missing = [k for k in keys if k not in self.generators]
        if missing:
            raise UserError(f"generator attack: no generator trained for target(s) {missing}; call "
                            "fit(model, x_train, y_train, targets) first (nnlab attack does this)")
        adv = x.clone()
        for key in keys:
            net = self.generators[key].to(x.device).eval()
            rows = slice(None) if key == UNTARGETED else target == key
            adv[rows] = self._apply(net, x[rows])
        return adv, torch.ones(x.shape[0], dtype=torch.long, device=x.device)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                         if k not in ("generators", "training_log"))
        return f"GeneratorAttack({args})"
