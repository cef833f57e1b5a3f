"""Activations by name, including LeCun's scaled tanh."""

from __future__ import annotations

import torch
from torch import nn


class LeCunTanh(nn.Module):
    """f(x) = 1.7159 * tanh(2x/3) + 0.01x (LeCun et al., "Efficient BackProp"): f(+-1) ~ +-1,
    and the small linear term keeps a gradient where tanh saturates."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(2.0 * x / 3.0) + 0.01 * x


ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "linear": nn.Identity,
    "lecun_tanh": LeCunTanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}


def make_activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()  # the name is checked with the config (nnlab.schema.options)
