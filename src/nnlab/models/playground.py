"""TensorFlow Playground's network and its update rule, as its source has them.

Mirrors tensorflow/playground at HEAD (src/nn.ts after the 2017-03-08 commit bd89e3a "Improve SGD
with L1 regularization", src/playground.ts):

- `PlaygroundNet`: buildNetwork + forwardProp. Fully connected hidden layers with one activation
  (tanh, relu, sigmoid or linear), one output unit with tanh, weights drawn uniformly from
  [-0.5, 0.5] (`Link.weight = Math.random() - 0.5`), every bias 0.1 (`Node.bias = 0.1`).
- `PlaygroundSGD`: updateWeights, called by oneStep after every `batchSize` points. Each weight
  and bias moves by -lr x the mean of its error derivatives over the batch; then each weight
  (a link: biases are never regularised) moves by -lr x rate x der(w), der(w) being taken of the
  weight *before* the gradient step (`regulDer` is read first), L2: der(w) = w, L1: sign(w). Under
  L1 a weight that the regularisation step carries across zero is set to 0 and is dead from then
  on: never updated again (`link.isDead`).
- The error: Errors.SQUARE, 0.5 (output - label)^2 with labels -1/+1, averaged over the points
  (getLoss). The network returns two class scores, [-z, z] with z the output unit's total input,
  so that everything in nnlab that reads class scores reads Playground's output o = tanh(z):
  argmax is sign(o) (accuracy, the boundary probe), softmax gives P(class 1) = (1 + o) / 2 (the
  heatmap, which Playground colours by o), and nnlab's `loss=mse` (squared error of the softmax
  against one-hot labels, summed over the two classes) is exactly 0.5 (o - label)^2:
  2 ((1 + o)/2 - (1 + label)/2)^2. The model config selects that loss.

What nnlab's loop adds around it: each epoch visits the training points in a fresh seeded order
(Playground keeps the one order it shuffled the data into), and a last batch smaller than
`batch_size` is applied at the end of the epoch (Playground carries its derivatives into the next
epoch's first batch; with the report's 350 training points and batch 10 there is none).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nnlab.errors import UserError
from nnlab.models.activations import make_activation

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")  # Playground's choices for hidden units
REGULARIZATIONS = ("none", "l1", "l2")


class TanhAsClassScores(nn.Module):
    """z (the output unit's total input, shape (n, 1)) -> class scores [-z, z]: argmax is the sign
    of tanh(z), softmax's class 1 is (1 + tanh(z)) / 2 = sigmoid(2z)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([-z, z], dim=1)


class PlaygroundNet(nn.Sequential):
    """Flatten -> [Linear -> activation] per hidden width -> Linear(1) -> class scores [-z, z].

    Initialised as Playground's buildNetwork does (weights U[-0.5, 0.5], biases 0.1), from torch's
    random generator, so `seed` decides it. Two classes only: Playground has one output unit.
    """

    def __init__(self, input_shape, num_classes: int, hidden=(4, 2), activation: str = "tanh"):
        if num_classes != 2:
            raise UserError(f"model=playground has one tanh output unit, for two classes; this "
                            f"dataset has {num_classes}: choose a toy dataset (circle, gauss, "
                            f"xor_toy, spiral, xor) or another model")
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), make_activation(activation)]
            width = h
        layers += [nn.Linear(width, 1), TanhAsClassScores()]
        super().__init__(*layers)
        for layer in self:
            if isinstance(layer, nn.Linear):
                nn.init.uniform_(layer.weight, -0.5, 0.5)  # Link: weight = Math.random() - 0.5
                nn.init.constant_(layer.bias, 0.1)  # Node: bias = 0.1

    def output(self, x: torch.Tensor) -> torch.Tensor:
        """Playground's output o = tanh(z) in [-1, 1] (the class-1 score is z)."""
        return torch.tanh(self(x)[:, 1])


class PlaygroundSGD(torch.optim.Optimizer):
    """Playground's updateWeights: the gradient step, then the regulariser step on weights.

    The loss nnlab backpropagates is the batch mean, so `p.grad` is the mean of the per-point
    derivatives Playground accumulates (accErrorDer / numAccumulatedDers). Parameters with two or
    more dimensions are weights (links), the others biases, which are never regularised. The dead
    links of L1 are this optimizer's state (`state[p]["dead"]`), so checkpoints keep them.

    Usable with any network: `model=mlp optimizer=playground` trains an MLP with Playground's rule.
    """

    def __init__(self, params, lr: float = 0.03, regularization: str = "none",
                 regularization_rate: float = 0.0):
        if regularization not in REGULARIZATIONS:  # also checked with the config (nnlab.schema)
            raise ValueError(f"regularization: {regularization!r}; valid: {', '.join(REGULARIZATIONS)}")
        super().__init__(params, {"lr": lr, "regularization": regularization,
                                  "regularization_rate": regularization_rate})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, rate, kind = group["lr"], group["regularization_rate"], group["regularization"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.dim() < 2 or kind == "none":  # a bias, or no regularisation
                    p.add_(p.grad, alpha=-lr)  # bias -= lr * accInputDer / numAccumulatedDers
                    continue
                der = p.sign() if kind == "l1" else p.clone()  # regulDer = der(weight), read first
                stepped = p - lr * p.grad  # weight -= lr / numAccumulatedDers * accErrorDer
                new = stepped - (lr * rate) * der  # newLinkWeight = weight - lr * rate * regulDer
                if kind == "l1":
                    dead = self._dead(p)
                    crossed = stepped * new < 0  # crossed 0 by the regulariser: weight 0, isDead
                    new = torch.where(crossed, torch.zeros_like(new), new)
                    new = torch.where(dead, p, new)  # a dead link is skipped: it stays at 0
                    dead |= crossed
                p.copy_(new)
        return loss

    def _dead(self, p: torch.Tensor) -> torch.Tensor:
        """The weight's dead-link mask. Optimizer.load_state_dict casts state tensors to the
        parameter's dtype, so a mask read back from a checkpoint is made boolean again here."""
        state = self.state[p]
        if "dead" not in state:
            state["dead"] = torch.zeros_like(p, dtype=torch.bool)
        elif state["dead"].dtype != torch.bool:
            state["dead"] = state["dead"] != 0
        return state["dead"]
