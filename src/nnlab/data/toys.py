"""The XOR truth table and TensorFlow Playground's four 2-D toys.

The generators follow the playground's `src/dataset.ts`: positive examples are class 1 (blue in
the playground), negative ones class 0 (orange); the points are shuffled, then split by
`train_fraction` like the playground's "ratio of training to test data" slider.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from nnlab.data.dataset import Dataset, Plane, Split
from nnlab.data.features import canonical_features, featurize
from nnlab.errors import UserError

PLAYGROUND_EXTENT = (-6.0, 6.0, -6.0, 6.0)  # the playground draws its heatmap over [-6, 6]^2


def circle(n: int, noise: float, rng: np.random.Generator):
    """Class 1 inside radius 2.5, class 0 on the ring 3.5..5; the label is decided on the
    noise-shifted point while the clean point is stored (as the playground does)."""
    radius = 5.0
    half = n // 2
    r = np.concatenate([rng.uniform(0, radius * 0.5, half), rng.uniform(radius * 0.7, radius, n - half)])
    angle = rng.uniform(0, 2 * math.pi, n)
    pts = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    shifted = pts + rng.uniform(-radius, radius, (n, 2)) * noise
    labels = (np.linalg.norm(shifted, axis=1) < radius * 0.5).astype(np.int64)
    return pts, labels


def xor_toy(n: int, noise: float, rng: np.random.Generator):
    """Uniform on [-5,5]^2 pushed 0.3 away from the axes; class 1 where x*y >= 0 after noise."""
    pts = rng.uniform(-5, 5, (n, 2))
    pts += np.where(pts > 0, 0.3, -0.3)
    shifted = pts + rng.uniform(-5, 5, (n, 2)) * noise
    labels = (shifted[:, 0] * shifted[:, 1] >= 0).astype(np.int64)
    return pts, labels


def gauss(n: int, noise: float, rng: np.random.Generator):
    """Two Gaussians, class 1 at (2,2) and class 0 at (-2,-2), variance 0.5 + 7*noise."""
    std = math.sqrt(0.5 + 7.0 * noise)
    half = n // 2
    pos = rng.normal(2.0, std, (half, 2))
    neg = rng.normal(-2.0, std, (n - half, 2))
    labels = np.concatenate([np.ones(half, np.int64), np.zeros(n - half, np.int64)])
    return np.concatenate([pos, neg]), labels


def spiral(n: int, noise: float, rng: np.random.Generator):
    """Two arms, r = 5i/m, t = 1.75*2*pi*i/m (+pi for class 0), m = n/2, noise U(-1,1)*noise."""
    arms = []
    for delta, label, count in ((0.0, 1, n // 2), (math.pi, 0, n - n // 2)):
        i = np.arange(count)
        r = i / count * 5
        t = 1.75 * i / count * 2 * math.pi + delta
        xy = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        xy += rng.uniform(-1, 1, (count, 2)) * noise
        arms.append((xy, np.full(count, label, np.int64)))
    return np.concatenate([a[0] for a in arms]), np.concatenate([a[1] for a in arms])


GENERATORS = {"circle": circle, "xor_toy": xor_toy, "gauss": gauss, "spiral": spiral}


def make_toy(
    name: str,
    n_samples: int = 500,
    noise: float = 0.0,
    train_fraction: float = 0.5,
    val_fraction: float = 0.0,
    features=("x1", "x2"),
    seed: int = 0,
) -> Dataset:
    """Generate a playground toy and split it into train (and val) and test tensors.

    The arguments' types and ranges are checked with the config (nnlab.schema.options); what
    depends on them together (an empty split) is checked here.
    """
    names = canonical_features(features)

    rng = np.random.default_rng(seed)
    pts, labels = GENERATORS[name](int(n_samples), float(noise), rng)
    order = rng.permutation(len(labels))
    pts, labels = torch.from_numpy(pts[order]).float(), torch.from_numpy(labels[order])

    # round() first: 100 * 0.29 is 28.999999999999996 in floating point, and should give 29
    n_train = int(math.floor(round(len(labels) * train_fraction, 6)))
    n_val = int(round(n_train * val_fraction))
    if n_train - n_val < 1 or len(labels) - n_train < 1:
        raise UserError(
            f"dataset: {n_samples} samples with train_fraction={train_fraction} and "
            f"val_fraction={val_fraction} leave an empty split; use more samples or other fractions"
        )
    cuts = {"train": slice(0, n_train - n_val), "val": slice(n_train - n_val, n_train),
            "test": slice(n_train, None)}
    points = {k: pts[s] for k, s in cuts.items() if k != "val" or n_val > 0}
    splits = {k: Split(featurize(p, names), labels[cuts[k]]) for k, p in points.items()}
    return Dataset(
        name=name,
        train=splits["train"],
        val=splits.get("val"),
        test=splits["test"],
        num_classes=2,
        input_shape=(len(names),),
        class_names=["negative", "positive"],
        feature_names=names,
        plane=Plane(points=points, featurize=lambda p: featurize(p, names), extent=PLAYGROUND_EXTENT),
    )


def make_xor() -> Dataset:
    """The four rows of XOR's truth table, used both to train and to test."""
    pts = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0])
    names = ["x1", "x2"]
    split = Split(pts.clone(), labels)
    return Dataset(
        name="xor",
        train=split,
        test=Split(pts.clone(), labels.clone()),
        num_classes=2,
        input_shape=(2,),
        class_names=["0", "1"],
        feature_names=names,
        plane=Plane(points={"train": pts, "test": pts}, featurize=lambda p: featurize(p, names),
                    extent=(-0.5, 1.5, -0.5, 1.5)),
    )

