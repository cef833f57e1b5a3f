"""Multi-layer perceptron over flattened inputs; `hidden=[]` is softmax regression."""

from __future__ import annotations

import math

from torch import nn

from nnlab.errors import UserError
from nnlab.models.activations import make_activation


class MLP(nn.Sequential):
    def __init__(self, input_shape, num_classes: int, hidden=(16, 16), activation: str = "tanh",
                 dropout: float = 0.0, batchnorm: bool = False):
        hidden = _check_widths("model.hidden", hidden)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)):
            raise UserError(f"model.dropout: expected a number in [0, 1), got {dropout!r}")
        if not 0.0 <= dropout < 1.0:
            raise UserError(f"model.dropout: {dropout} is out of range; it must be in [0, 1)")
        make_activation(activation)  # validate the name even when there is no hidden layer
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


def _check_widths(key: str, widths) -> list[int]:
    if isinstance(widths, str) or not hasattr(widths, "__iter__"):
        raise UserError(f"{key}: expected a list of layer widths such as [16,16], got {widths!r}")
    widths = list(widths)
    if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise UserError(f"{key}: every width must be a positive integer, got {widths}")
    return widths
