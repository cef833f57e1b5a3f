"""What every dataset builder returns: tensor splits plus what the models and plots need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


def pixels(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float pixels in [0, 1]; float inputs pass through unchanged."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


@dataclass
class Split:
    x: torch.Tensor  # inputs, first dimension = samples
    y: torch.Tensor  # int64 class labels

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Plane:
    """How a 2-D dataset's points map to model inputs, so boundaries can be drawn on the plane."""

    points: dict[str, torch.Tensor]  # split name -> (n, 2) points before featurisation
    featurize: Callable[[torch.Tensor], torch.Tensor]
    extent: tuple[float, float, float, float]  # x1 min, x1 max, x2 min, x2 max


@dataclass
class Dataset:
    name: str
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]
    val: Split | None = None
    class_names: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    plane: Plane | None = None  # set for 2-D datasets
    # Image datasets: Split.x is uint8 (N, C, H, W); models see pixels in [0, 1] (see `pixels`)
    # and normalise inside themselves with these per-channel statistics of the training set.
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    augment: dict = field(default_factory=dict)  # training-time augmentation (data/augment.py)
    # Image datasets: the absolute data root the files were read from (dataset.root resolved),
    # so a run can record it and be resumed or attacked from another folder; None for
    # generated (toy) data.
    root: str | None = None

    @property
    def is_image(self) -> bool:
        return self.mean is not None

    def splits(self) -> dict[str, Split]:
        """The splits that exist, in the order metrics are reported."""
        named = {"train": self.train, "val": self.val, "test": self.test}
        return {name: split for name, split in named.items() if split is not None}
