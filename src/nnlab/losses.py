"""Training losses by name. Both take raw class scores (logits) and integer labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nnlab.errors import choice_error


def mse_onehot(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error between softmax outputs and one-hot labels, summed over classes and averaged
    over the batch: the L2 loss of seeds/000 and of TensorFlow Playground."""
    probs = logits.softmax(dim=1)
    onehot = F.one_hot(target, probs.shape[1]).to(probs.dtype)
    return (probs - onehot).pow(2).sum(dim=1).mean()


LOSSES = {"cross_entropy": F.cross_entropy, "mse": mse_onehot}


def make_loss(name: str):
    if name not in LOSSES:
        raise choice_error("loss", name, LOSSES)
    return LOSSES[name]


def l1_penalty(model: torch.nn.Module) -> torch.Tensor:
    """Sum of |w| over weight matrices and kernels (biases and norm scales are left alone)."""
    return sum(p.abs().sum() for p in model.parameters() if p.dim() > 1)
