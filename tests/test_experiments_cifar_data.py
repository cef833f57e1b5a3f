"""scripts/experiments/cifar_data.py: the generated CIFAR-10 stand-in (read by the real loader,
classes told apart by one jittered block), and its use when real CIFAR-10 is missing."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
from experiments import cifar_data  # scripts/ is on sys.path (tests/conftest.py)
from experiments.common import Context

from nnlab.data.formats import write_cifar_dataset
from nnlab.data.vision import make_vision


def test_generated_cifar_loads_through_the_real_loader(tmp_path):
    write_cifar_dataset(tmp_path / "cifar-10-batches-py", per_batch=40, n_test=30,
                        make_images=cifar_data.blocks_on_noise)
    data = make_vision("cifar10", root=str(tmp_path), download=False, val_size=20)
    assert (len(data.train), len(data.val), len(data.test)) == (180, 20, 30)
    assert data.train.x.dtype == torch.uint8 and data.train.x.shape[1:] == (3, 32, 32)
    # pixel statistics near CIFAR-10's, which the model's normalisation assumes
    mean = data.train.x.float().mean().item() / 255
    assert abs(mean - 0.47) < 0.05


def test_generated_cifar_classes_differ_only_by_a_jittered_block():
    images, labels = cifar_data.blocks_on_noise(2000, (3, 32, 32), 10, seed=0)
    assert set(np.unique(labels)) == set(range(10))
    class_means = np.stack([images[labels == k].mean(0) for k in range(10)])  # (10, 3, 32, 32)
    brighter = class_means - class_means.mean(0)
    for k in range(10):   # each class is brightest near its own block, not everywhere
        peak = np.unravel_index(brighter[k].mean(0).argmax(), (32, 32))
        row, col = 2 + (k // 5) * 14, 2 + (k % 5) * 5
        assert abs(peak[0] - (row + 2.5)) <= 5 and abs(peak[1] - (col + 2)) <= 5


def test_generated_cifar_is_said_loudly_and_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLAB_DATA", str(tmp_path / "empty"))
    monkeypatch.delenv("NNLAB_ONLINE", raising=False)
    ctx = Context(out=tmp_path / "out")
    with ExitStack() as stack:
        overrides, label = cifar_data.cifar_or_generated(ctx, stack, train_size=100, test_size=20)
        root = overrides[0].split("=", 1)[1]
        data = make_vision("cifar10", root=root, download=False, val_size=10)
        assert (len(data.train) + len(data.val), len(data.test)) == (100, 20)
    assert not Path(root).exists()                     # removed with the stack
    assert "GENERATED, NOT CIFAR-10" in "\n".join(ctx.lines) and "generated" in label
