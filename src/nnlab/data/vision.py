"""MNIST, Fashion-MNIST and CIFAR-10 as uint8 tensors, parsed once and cached.

Files are the real ones in torchvision's layout under `root` (downloads go through torchvision,
with its checksums). Offline, Fashion-MNIST is taken from Debian's `dataset-fashion-mnist`
package when installed, and `source=DIR` imports raw files from any folder. The parsed splits
are cached in `<root>/nnlab-cache/` so the next run starts in a fraction of a second.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nnlab.data.dataset import Dataset, Split
from nnlab.errors import UserError, choice_error

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CACHE_VERSION = 1


@dataclass(frozen=True)
class VisionSpec:
    folder: str  # where torchvision keeps the files under root
    files: tuple[str, ...]  # raw files, as torchvision expects them on disk
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    url: str  # where a person can fetch the files by hand


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")

SPECS = {
    "mnist": VisionSpec("MNIST/raw", IDX_FILES, tuple(str(i) for i in range(10)),
                        (0.1307,), (0.3081,), "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    "fashion_mnist": VisionSpec(
        "FashionMNIST/raw", IDX_FILES,
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"),
        (0.2860,), (0.3530,), "https://github.com/zalandoresearch/fashion-mnist"),
    "cifar10": VisionSpec(
        "cifar-10-batches-py", CIFAR_FILES,
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
}


def make_vision(name: str, root: str = "data", download: bool = True, source: str | None = None,
                val_size: int = 5000, train_size: int | None = None, test_size: int | None = None,
                augment: dict | None = None, seed: int = 0) -> Dataset:
    """Load a vision dataset; hold out a seeded validation split of `val_size` training images.

    `train_size`/`test_size` keep only the first N images of a split (quick runs and tests).
    """
    if name not in SPECS:
        raise choice_error("dataset.name", name, SPECS)
    spec = SPECS[name]
    for key, value in (("val_size", val_size), ("train_size", train_size), ("test_size", test_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise UserError(f"dataset.{key}: expected a non-negative integer, got {value!r}")
    raw = ensure_files(name, Path(root), download, source)
    train_x, train_y, test_x, test_y = load_cached(name, raw)
    if train_size is not None:
        train_x, train_y = train_x[:train_size], train_y[:train_size]
    if test_size is not None:
        test_x, test_y = test_x[:test_size], test_y[:test_size]
    if val_size >= len(train_y):
        raise UserError(f"dataset.val_size={val_size} leaves no training images "
                        f"(the training split has {len(train_y)}); use a smaller val_size")
    order = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:val_size].sort().values, order[val_size:].sort().values
    return Dataset(
        name=name,
        train=Split(train_x[train_idx], train_y[train_idx]),
        val=Split(train_x[val_idx], train_y[val_idx]) if val_size else None,
        test=Split(test_x, test_y),
        num_classes=len(spec.classes),
        input_shape=tuple(train_x.shape[1:]),
        class_names=list(spec.classes),
        mean=spec.mean,
        std=spec.std,
        augment=dict(augment or {}),
    )


# --- finding the files ------------------------------------------------------------------------

def ensure_files(name: str, root: Path, download: bool, source: str | None) -> Path:
    """Return the folder holding the raw files, importing or downloading them if needed."""
    spec = SPECS[name]
    raw = root / spec.folder
    if source is not None:
        import_raw_files(name, Path(source), raw)
    if _missing(raw, spec):
        if name == "fashion_mnist" and not _missing(DEBIAN_FASHION_MNIST, spec, gz_ok=True):
            import_raw_files(name, DEBIAN_FASHION_MNIST, raw)
    if _missing(raw, spec) and download:
        reason = _download(name, root)
        if _missing(raw, spec):
            raise UserError(_missing_message(name, raw, f"download failed ({reason})"))
    if _missing(raw, spec):
        raise UserError(_missing_message(name, raw, "download is off (dataset.download=false)"))
    return raw


def _missing(folder: Path, spec: VisionSpec, gz_ok: bool = False) -> list[str]:
    def present(f):
        return (folder / f).is_file() or (gz_ok and (folder / f"{f}.gz").is_file())

    return [f for f in spec.files if not present(f)]


def import_raw_files(name: str, source: Path, raw: Path) -> None:
    """Copy the raw files (plain or .gz) from `source` into torchvision's layout under root."""
    spec = SPECS[name]
    missing = _missing(source, spec, gz_ok=True)
    if missing:
        raise UserError(f"dataset.source={source}: missing {', '.join(missing)} "
                        f"(plain or .gz); {name} needs {', '.join(spec.files)}")
    raw.mkdir(parents=True, exist_ok=True)
    for f in spec.files:
        target = raw / f
        if target.is_file():
            continue
        tmp = raw / f".{f}.importing"
        if (source / f).is_file():
            shutil.copyfile(source / f, tmp)
        else:
            try:
                with gzip.open(source / f"{f}.gz", "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (OSError, EOFError) as ex:
                tmp.unlink(missing_ok=True)
                raise UserError(f"dataset.source: cannot decompress {source / f}.gz ({ex})") from None
        os.replace(tmp, target)


def _download(name: str, root: Path) -> str | None:
    """Let torchvision download (and checksum) the files; returns why it failed, or None."""
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    try:
        cls(str(root), train=True, download=True)
    except Exception as ex:  # network errors, checksum mismatches: all reported in one line
        return " ".join(str(ex).split())[:200]
    return None


def _missing_message(name: str, raw: Path, why: str) -> str:
    spec = SPECS[name]
    hint = ("; on Debian/Ubuntu `apt-get install dataset-fashion-mnist` provides them"
            if name == "fashion_mnist" else "")
    return (f"{name}: expected {', '.join(spec.files)} in {raw}/ but {why}. Fetch them from "
            f"{spec.url} into that folder, or pass dataset.source=DIR with the files (plain or "
            f".gz), or set dataset.root / $NNLAB_DATA{hint}")


# --- parsing, once --------------------------------------------------------------------------------

def load_cached(name: str, raw: Path) -> tuple[torch.Tensor, ...]:
    """(train_x, train_y, test_x, test_y), parsed from the raw files or read from the cache."""
    spec = SPECS[name]
    cache = raw.parent / "nnlab-cache" / f"{name}-v{CACHE_VERSION}.pt"
    stamp = [[f, (raw / f).stat().st_size, (raw / f).stat().st_mtime_ns] for f in spec.files]
    if cache.is_file():
        try:
            saved = torch.load(cache, weights_only=True)
            if saved.get("stamp") == stamp:
                return saved["train_x"], saved["train_y"], saved["test_x"], saved["test_y"]
        except Exception:
            pass  # unreadable cache: parse again and overwrite it
    parsed = _parse_cifar(raw) if name == "cifar10" else _parse_idx(raw)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    torch.save({"stamp": stamp, **dict(zip(("train_x", "train_y", "test_x", "test_y"), parsed,
                                           strict=True))}, tmp)
    os.replace(tmp, cache)
    return parsed


def _parse_idx(raw: Path) -> tuple[torch.Tensor, ...]:
    """MNIST-style IDX files through torchvision's own reader."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    out = []
    for prefix in ("train", "t10k"):
        images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
        try:
            x = read_image_file(str(images))
            y = read_label_file(str(labels))
        except Exception as ex:
            raise UserError(f"cannot read {images.name}/{labels.name} in {raw}: they look truncated "
                            f"or corrupt ({type(ex).__name__}: {ex}); delete them and fetch "
                            "them again") from None
        if x.dim() != 3 or len(x) != len(y):
            raise UserError(f"{raw}: {len(x)} images but {len(y)} labels in {prefix} files; "
                            "delete them and fetch them again")
        out += [x.unsqueeze(1).contiguous(), y.long()]
    return tuple(out)


class _ArraysOnly(pickle.Unpickler):
    """CIFAR-10's batches are pickles; admit only what they hold (numpy arrays, lists, dicts),
    so a planted file cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # how protocol-2 pickles written by Python 3 carry bytes

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, list]:
    try:
        with open(path, "rb") as f:
            entry = _ArraysOnly(f, encoding="latin1").load()
        data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = entry["labels"] if "labels" in entry else entry["fine_labels"]
    except Exception as ex:
        raise UserError(f"cannot read CIFAR-10 batch {path}: truncated or corrupt "
                        f"({type(ex).__name__}: {ex}); delete it and fetch it again") from None
    if len(labels) != len(data):
        raise UserError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data, labels


def _parse_cifar(raw: Path) -> tuple[torch.Tensor, ...]:
    train = [_read_cifar_batch(raw / f"data_batch_{i}") for i in range(1, 6)]
    test_x, test_y = _read_cifar_batch(raw / "test_batch")
    return (torch.from_numpy(np.concatenate([b[0] for b in train])),
            torch.tensor([label for b in train for label in b[1]], dtype=torch.long),
            torch.from_numpy(test_x.copy()), torch.tensor(test_y, dtype=torch.long))
