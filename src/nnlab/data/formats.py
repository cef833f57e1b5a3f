"""Writers for torchvision's on-disk dataset formats (IDX for MNIST/Fashion-MNIST, pickled
batches for CIFAR-10), used to make small stand-in datasets so the real loaders run offline: in
the tests, and in benchmarks when the real files are absent.

Images are learnable: class k has a bright block at a position set by k, plus noise.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def patterned_images(n: int, shape: tuple[int, ...], classes: int, seed: int):
    """(n, *shape) uint8 images and (n,) labels; class k lights a block at a k-dependent place."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 60, (n, *shape), dtype=np.int64)
    h, w = shape[-2:]
    for i, k in enumerate(labels):
        r, c = 2 + (k // 5) * (h // 2 - 2), 2 + (k % 5) * ((w - 6) // 5)
        images[i, ..., r:r + 6, c:c + 5] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX format: magic (0, 0, type 0x08 = uint8, ndim), big-endian dims, then the data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_dataset(folder: Path, n_train: int = 600, n_test: int = 200, gz: bool = False,
                      seed: int = 0) -> Path:
    """MNIST/Fashion-MNIST raw files (train-images-idx3-ubyte, ...) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, s in (("train", n_train, seed), ("t10k", n_test, seed + 1)):
        images, labels = patterned_images(n, (28, 28), 10, s)
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            data = idx_bytes(array)
            path = folder / f"{prefix}-{kind}"
            if gz:
                with gzip.open(f"{path}.gz", "wb") as f:
                    f.write(data)
            else:
                path.write_bytes(data)
    return folder


def write_cifar_dataset(folder: Path, per_batch: int = 100, n_test: int = 100, seed: int = 0,
                        make_images=patterned_images) -> Path:
    """cifar-10-batches-py: data_batch_1..5 and test_batch (pickled dicts with 'data' (N, 3072)
    uint8 rows and 'labels'), and batches.meta, as in the real tarball (whose Python 2 pickles
    load with str keys under encoding='latin1'). `make_images(n, shape, classes, seed)` makes each
    batch's (images, labels); pass another generator for data of another difficulty."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for j, name in enumerate(names):
        n = n_test if name == "test_batch" else per_batch
        images, labels = make_images(n, (3, 32, 32), 10, seed + j)
        entry = {"batch_label": name, "labels": [int(v) for v in labels],
                 "data": images.reshape(n, -1), "filenames": ["x.png"] * n}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                            "ship", "truck"], "num_cases_per_batch": per_batch}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return folder
