"""Small attackable models for the attack tests: an MLP and a conv net (with batchnorm and
dropout, so a wrong train/eval mode shows) trained for a moment on separable 8x8 images."""

from __future__ import annotations

import torch
from torch import nn

from nnlab.models.mlp import MLP
from nnlab.models.normalize import Normalized

CLASSES = 4
SHAPE = (3, 8, 8)
MEAN, STD = [0.5, 0.4, 0.6], [0.25, 0.2, 0.3]


def _data(n: int, seed: int):
    g = torch.Generator().manual_seed(1234)
    templates = torch.rand((CLASSES, *SHAPE), generator=g) * 0.3 + 0.35
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    x = (templates[y] + 0.15 * torch.randn((n, *SHAPE), generator=g)).clamp(0, 1)
    return x, y


def _conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(0.2), nn.Linear(8 * 4 * 4, CLASSES))


def _train(net: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = Normalized(net, MEAN, STD)
    x, y = _data(512, seed=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return model.eval()


def trained_models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {"mlp": _train(MLP(SHAPE, CLASSES, hidden=[32]), seed=0), "conv": _train(_conv_net(), seed=1)}


def attack_batch(models: dict[str, nn.Module]):
    """48 test images, their labels, and fixed targets != label; checks the models learnt."""
    from nnlab.attacks import random_other_targets

    x, y = _data(48, seed=2)
    for model in models.values():
        assert (model(x).argmax(1) == y).float().mean() > 0.9  # something to break
    return x, y, random_other_targets(y, CLASSES, torch.Generator().manual_seed(3))
