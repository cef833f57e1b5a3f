"""Multi-layer perceptron over flattened inputs; `hidden=[]` is softmax regression."""

from __future__ import annotations

import math

from torch import nn

from nnlab.models.activations import make_activation


class MLP(nn.Sequential):
    """Blocks of Linear -> [BatchNorm1d] -> activation -> [Dropout], then Linear to the classes.

    `dropout` and `batchnorm` are one value for every hidden layer, or a list with one value per
    hidden layer, so a Keras-style stack that normalises or drops out after some layers only
    (seeds/004's Fashion-MNIST MLP) can be written down: dropout=[0.2,0.2,0,0,0.2].
    """

    def __init__(self, input_shape, num_classes: int, hidden=(16, 16), activation: str = "tanh",
                 dropout: float | list = 0.0, batchnorm: bool | list = False):
        hidden = list(hidden)
        dropouts = _per_layer(dropout, len(hidden))
        batchnorms = _per_layer(batchnorm, len(hidden))
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


def _per_layer(value, layers: int) -> list:
    """One value per hidden layer: a single value repeated, or the list as given (its length is
    checked with the config: nnlab.schema.options)."""
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        return [value] * layers
    return list(value)
