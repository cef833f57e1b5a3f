"""A deep stack of equal-width layers with one activation, for vanishing-gradient studies."""

from __future__ import annotations

import math

from torch import nn

from nnlab.models.activations import make_activation


def _lecun_normal(weight):
    fan_in = weight.shape[1]
    return nn.init.normal_(weight, 0.0, 1.0 / math.sqrt(fan_in))


INITS = {
    "default": None,  # PyTorch's own (Kaiming-uniform with a=sqrt(5))
    "xavier_uniform": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
    "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "lecun_normal": _lecun_normal,
}


class DeepStack(nn.Sequential):
    """Flatten -> depth x (Linear(width) -> activation) -> Linear(num_classes)."""

    def __init__(self, input_shape, num_classes: int, depth: int = 20, width: int = 64,
                 activation: str = "sigmoid", init: str = "default"):
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = math.prod(input_shape)
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), make_activation(activation)]
            fan_in = width
        layers.append(nn.Linear(fan_in, num_classes))
        super().__init__(*layers)
        if INITS[init] is not None:
            for layer in self:
                if isinstance(layer, nn.Linear):
                    INITS[init](layer.weight)
                    nn.init.zeros_(layer.bias)
