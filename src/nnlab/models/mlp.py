"""Multi-layer perceptron over flattened inputs; `hidden=[]` is softmax regression."""

from __future__ import annotations

import math

from torch import nn

from nnlab.errors import UserError
from nnlab.models.activations import make_activation


class MLP(nn.Sequential):
    """Blocks of Linear -> [BatchNorm1d] -> activation -> [Dropout], then Linear to the classes.

    `dropout` and `batchnorm` are one value for every hidden layer, or a list with one value per
    hidden layer, so a Keras-style stack that normalises or drops out after some layers only
    (seeds/004's Fashion-MNIST MLP) can be written down: dropout=[0.2,0.2,0,0,0.2].
    """

    def __init__(self, input_shape, num_classes: int, hidden=(16, 16), activation: str = "tanh",
                 dropout: float | list = 0.0, batchnorm: bool | list = False):
        hidden = _check_widths("model.hidden", hidden)
        dropouts = _per_layer("model.dropout", dropout, len(hidden), _check_dropout)
        batchnorms = _per_layer("model.batchnorm", batchnorm, len(hidden), _check_flag)
        make_activation(activation)  # validate the name even when there is no hidden layer
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h, p, norm in zip(hidden, dropouts, batchnorms, strict=True):
            layers.append(nn.Linear(width, h))
            if norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(make_activation(activation))
            if p > 0:
                layers.append(nn.Dropout(p))
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


def _per_layer(key: str, value, layers: int, check) -> list:
    """One value per hidden layer: a single value repeated, or a list of exactly `layers` values."""
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        check(key, value)  # checked even without hidden layers, so a typo never passes silently
        return [value] * layers
    values = list(value)
    if len(values) != layers:
        raise UserError(f"{key}: a list needs one value per hidden layer ({layers}), "
                        f"got {len(values)}: {values}")
    for v in values:
        check(key, v)
    return values


def _check_dropout(key: str, p) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise UserError(f"{key}: expected a number in [0, 1), got {p!r}")
    if not 0.0 <= p < 1.0:
        raise UserError(f"{key}: {p} is out of range; it must be in [0, 1)")


def _check_flag(key: str, flag) -> None:
    if not isinstance(flag, bool):
        raise UserError(f"{key}: expected true or false, got {flag!r}")
