"""Convolutional models for image datasets; input channels and size come from the dataset."""

from __future__ import annotations

import torch
from torch import nn

from nnlab.errors import UserError
from nnlab.models.activations import make_activation

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def _flat_size(features: nn.Module, input_shape) -> int:
    with torch.no_grad():
        return features(torch.zeros(1, *input_shape)).numel()


def _check_image_shape(input_shape, model: str):
    if len(input_shape) != 3:
        raise UserError(f"model={model} needs image data (channels, height, width); this dataset's "
                        f"inputs have shape {tuple(input_shape)}: use model=mlp or model=linear")


class LeNet(nn.Module):
    """LeNet-5: conv5x5-6, pool, conv5x5-16, pool, fc120, fc84, fc(num_classes).

    `padding=2` on the first convolution lets 28x28 digits play the role of LeNet's 32x32 input.
    """

    def __init__(self, input_shape, num_classes: int, activation: str = "relu", pooling: str = "max",
                 padding: int = 2):
        super().__init__()
        _check_image_shape(input_shape, "lenet")
        channels = input_shape[0]
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=padding), make_activation(activation), POOLS[pooling](2),
            nn.Conv2d(6, 16, 5), make_activation(activation), POOLS[pooling](2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(_flat_size(self.features, input_shape), 120), make_activation(activation),
            nn.Linear(120, 84), make_activation(activation),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class ConvNet(nn.Module):
    """Blocks of [conv3x3 -> batchnorm -> activation] x convs_per_block -> 2x2 max-pool, then
    fc(hidden) with dropout. `cnn` (MNIST-size) and `cifar_cnn` (VGG-style) are presets of it."""

    def __init__(self, input_shape, num_classes: int, channels=(32, 64, 128), convs_per_block: int = 1,
                 hidden: int = 128, dropout: float = 0.3, batchnorm: bool = True,
                 activation: str = "relu"):
        super().__init__()
        _check_image_shape(input_shape, "cnn")
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for c_out in channels:
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm)]
                layers += [nn.BatchNorm2d(c_out)] if batchnorm else []
                layers += [make_activation(activation)]
                c_in = c_out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout),
            nn.Linear(_flat_size(self.features, input_shape), hidden), make_activation(activation),
            nn.Dropout(dropout), nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
