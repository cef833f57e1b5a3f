"""The CIFAR-10 stand-in of the seed experiments: where CIFAR-10's files are absent (and
NNLAB_ONLINE is not 1), images generated in CIFAR-10's exact file format into a temporary
folder, with a loud note in the experiment's README."""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from experiments.common import Context, data_root
from nnlab.data.formats import write_cifar_dataset
from nnlab.data.vision import CIFAR_FILES


def cifar_or_generated(ctx: Context, stack: ExitStack, train_size: int | None,
                       test_size: int | None, part: str = "", caveat: str = "") -> tuple[list[str], str]:
    """(overrides, label for the figures): the real CIFAR-10 when its files are here or may be
    downloaded; otherwise `train_size` (None: 50k) training and `test_size` (None: 10k) test
    images of `blocks_on_noise` in a temporary folder removed when `stack` closes. `part` names
    the part of the experiment the note is about; `caveat` says what the numbers then show."""
    real = data_root() / "cifar-10-batches-py"
    if all((real / f).is_file() for f in CIFAR_FILES) or os.environ.get("NNLAB_ONLINE") == "1":
        ctx.note(f"**Data{part}:** CIFAR-10 (real).")
        return [], "this run (CIFAR-10)"
    root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nnlab-cifar-")))
    n_train, n_test = train_size or 50000, test_size or 10000
    write_cifar_dataset(root / "cifar-10-batches-py", per_batch=-(-n_train // 5), n_test=n_test,
                        seed=0, make_images=blocks_on_noise)
    ctx.note(f"**Data{part}: GENERATED, NOT CIFAR-10.** CIFAR-10 is not on this machine and "
             f"cannot be downloaded here, so every number below is on {n_train} training "
             f"(validation included) and {n_test} test images generated in CIFAR-10's exact file "
             "format (`nnlab.data.formats.write_cifar_dataset` with `blocks_on_noise` of "
             "scripts/experiments/cifar_data.py, seed 0) into a temporary folder, removed "
             "afterwards. Class k is a slightly brighter 6x5 block at a class-specific place, "
             "moved by up to 3 pixels, on noise with pixel statistics near CIFAR-10's. "
             f"{caveat} Put the real files under {real} (or set NNLAB_ONLINE=1) to get those.")
    return [f"dataset.root={root}", "dataset.download=false"], "this run (generated data)"


def blocks_on_noise(n: int, shape: tuple[int, ...], classes: int, seed: int):
    """(n, *shape) uint8 images and labels: uniform noise in [40, 200) (mean and spread near
    CIFAR-10's, which nnlab normalises with), plus 30 on a 6x5 block whose place is set by the
    class and jittered by up to 3 pixels, so neighbouring classes overlap."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(40, 200, (n, *shape))
    h, w = shape[-2:]
    jitter = rng.integers(-3, 4, (n, 2))
    for i, k in enumerate(labels):
        r = min(max(2 + (k // 5) * (h // 2 - 2) + jitter[i, 0], 0), h - 6)
        c = min(max(2 + (k % 5) * ((w - 6) // 5) + jitter[i, 1], 0), w - 5)
        images[i, ..., r:r + 6, c:c + 5] += 30
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)
