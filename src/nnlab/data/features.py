"""TensorFlow Playground's input features, computed from 2-D points."""

from __future__ import annotations

import torch

FEATURES = {
    "x1": lambda p: p[:, 0],
    "x2": lambda p: p[:, 1],
    "x1sq": lambda p: p[:, 0] ** 2,
    "x2sq": lambda p: p[:, 1] ** 2,
    "x1x2": lambda p: p[:, 0] * p[:, 1],
    "sin_x1": lambda p: torch.sin(p[:, 0]),
    "sin_x2": lambda p: torch.sin(p[:, 1]),
}

# The playground's own spellings. Hydra's override grammar needs most of them quoted, and the
# shell needs the whole override quoted: 'dataset.features=["x1^2","x2^2"]'.
ALIASES = {
    "x1^2": "x1sq",
    "x2^2": "x2sq",
    "x1*x2": "x1x2",
    "sin(x1)": "sin_x1",
    "sin(x2)": "sin_x2",
}


def canonical_features(names) -> list[str]:
    """A feature list in canonical spelling (x1^2 -> x1sq); the names are checked with the config
    (nnlab.schema.options)."""
    return [ALIASES.get(str(name), str(name)) for name in names]


def featurize(points: torch.Tensor, names: list[str]) -> torch.Tensor:
    """(n, 2) points -> (n, len(names)) float32 inputs."""
    return torch.stack([FEATURES[n](points) for n in names], dim=1).float()
