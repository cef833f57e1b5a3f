"""Normalisation inside the model: every model takes pixels in [0, 1], so attacks work in pixel
space and an epsilon means what people think it means."""

from __future__ import annotations

import torch
from torch import nn


class Normalized(nn.Module):
    def __init__(self, net: nn.Module, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)
