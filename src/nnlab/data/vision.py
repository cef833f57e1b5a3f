"""MNIST, Fashion-MNIST and CIFAR-10 as uint8 tensors, parsed once and cached.

Files are the real ones in torchvision's layout under the data root (downloads go through
torchvision, with its checksums). The root is `dataset.root` when set, else `$NNLAB_DATA`, else a
per-user folder, `$XDG_CACHE_HOME/nnlab/data` or `~/.cache/nnlab/data` (`default_root`), so every
working folder shares one copy. Offline, Fashion-MNIST is taken from Debian's
`dataset-fashion-mnist` package when installed, and `source=DIR` imports raw files from any
folder. The parsed splits are cached beside torchvision's folder of raw files, in
`<root>/MNIST/nnlab-cache/`, `<root>/FashionMNIST/nnlab-cache/` and `<root>/nnlab-cache/` (for
CIFAR-10's `<root>/cifar-10-batches-py/`), so the next run starts in a fraction of a second.

Several jobs of a parallel sweep may prepare the same data at once: every file is written under
a name unique to its writer and renamed into place atomically, so a reader sees either no file or
a whole one, and a writer that finds the work already done by another keeps that one. A failed
attempt removes the folders it created while they are empty (never one that was there before).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import pickle
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nnlab.data.dataset import Dataset, Split
from nnlab.errors import UserError

log = logging.getLogger(__name__)

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CACHE_VERSION = 1
# dataset.val_size=null holds out 1/VAL_FRACTION of the training images, at most MAX_VAL_SIZE:
# 5000 of the full MNIST/Fashion-MNIST (60k) and CIFAR-10 (50k), as before, and 500 of a 5000
# subset instead of all of it.
VAL_FRACTION = 10
MAX_VAL_SIZE = 5000


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


def default_root() -> Path:
    """Where image data lives when `dataset.root` is not set: `$NNLAB_DATA`, else the per-user
    cache folder (`$XDG_CACHE_HOME/nnlab/data`, else `~/.cache/nnlab/data`), absolute."""
    if os.environ.get("NNLAB_DATA"):
        return Path(os.environ["NNLAB_DATA"]).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    cache = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # XDG: ignore relative
    return (cache / "nnlab" / "data").resolve()


def resolve_root(root: str | os.PathLike | None) -> Path:
    """`dataset.root` as an absolute folder: the default when None, a relative one against the
    working directory (so a run can record where its data really was)."""
    return default_root() if root is None else Path(root).expanduser().resolve()


def make_vision(name: str, root: str | None = None, download: bool = True, source: str | None = None,
                val_size: int | None = None, train_size: int | None = None,
                test_size: int | None = None, augment: dict | None = None, seed: int = 0) -> Dataset:
    """Load a vision dataset; hold out a seeded validation split of `val_size` training images
    (None: 1/VAL_FRACTION of them, at most MAX_VAL_SIZE).

    `train_size`/`test_size` keep only the first N images of a split (quick runs and tests).
    """
    spec = SPECS[name]  # name, sizes and the rest are checked against nnlab.schema's declarations
    root_path = resolve_root(root)
    raw, origin = _prepare(name, root_path, download, source)
    (train_x, train_y, test_x, test_y), cached = _load(name, raw)
    log.info("%s: read from %s (%s; %s)", name, raw, origin,
             "parsed splits from the cache" if cached else "parsed, cache written")
    if train_size is not None:
        train_x, train_y = train_x[:train_size], train_y[:train_size]
    if test_size is not None:
        test_x, test_y = test_x[:test_size], test_y[:test_size]
    n_val = held_out(val_size, len(train_y))
    order = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:n_val].sort().values, order[n_val:].sort().values
    log.info("%s: held out %d of %d training images for validation%s", name, n_val, len(train_y),
             "" if val_size is not None else
             f" (dataset.val_size=null: 1/{VAL_FRACTION}, at most {MAX_VAL_SIZE})")
    return Dataset(
        name=name,
        train=Split(train_x[train_idx], train_y[train_idx]),
        val=Split(train_x[val_idx], train_y[val_idx]) if n_val else None,
        test=Split(test_x, test_y),
        num_classes=len(spec.classes),
        input_shape=tuple(train_x.shape[1:]),
        class_names=list(spec.classes),
        mean=spec.mean,
        std=spec.std,
        augment=dict(augment or {}),
        root=str(root_path),
    )


def held_out(val_size: int | None, n_train: int) -> int:
    """How many of `n_train` training images the validation split takes; a split that leaves
    nothing to train on is the user's error."""
    if n_train == 0:
        raise UserError("dataset.train_size=0 leaves no training images; use a positive "
                        "train_size, or null for all of them")
    if val_size is None:
        return min(MAX_VAL_SIZE, n_train // VAL_FRACTION)
    if val_size >= n_train:
        raise UserError(f"dataset.val_size={val_size} leaves no training images "
                        f"(the training split has {n_train}); use a smaller val_size, or "
                        f"null for 1/{VAL_FRACTION} of them")
    return val_size


# --- finding the files ------------------------------------------------------------------------

def ensure_files(name: str, root: Path, download: bool, source: str | None) -> Path:
    """Return the folder holding the raw files, importing or downloading them if needed."""
    return _prepare(name, Path(root), download, source)[0]


def _prepare(name: str, root: Path, download: bool, source: str | None) -> tuple[Path, str]:
    """(raw folder, where its files came from). A failed attempt removes the folders it created
    (when nothing else landed in them), never one that was there before."""
    raw = root / SPECS[name].folder
    created = [folder for folder in (raw, *raw.parents) if not folder.exists()]  # deepest first
    try:
        return raw, _obtain(name, root, raw, download, source)
    except BaseException:
        for folder in created:
            try:
                folder.rmdir()
            except FileNotFoundError:
                continue
            except OSError:  # not empty: a partial download, or another job's files; keep them
                break
        raise


def _obtain(name: str, root: Path, raw: Path, download: bool, source: str | None) -> str:
    """Make the raw files present under `raw`; returns where they came from, for the log."""
    spec = SPECS[name]
    origin = "files already there"
    if source is not None and import_raw_files(name, Path(source), raw):
        origin = f"imported from dataset.source={source}"
    if _missing(raw, spec):
        if name == "fashion_mnist" and not _missing(DEBIAN_FASHION_MNIST, spec, gz_ok=True):
            import_raw_files(name, DEBIAN_FASHION_MNIST, raw)
            origin = f"imported from Debian's dataset-fashion-mnist package in {DEBIAN_FASHION_MNIST}"
    if _missing(raw, spec) and download:
        reason = _download(name, root)
        if _missing(raw, spec):
            raise UserError(_missing_message(name, raw, f"download failed ({reason})"))
        origin = "downloaded by torchvision"
    if _missing(raw, spec):
        raise UserError(_missing_message(name, raw, "download is off (dataset.download=false)"))
    return origin


def _missing(folder: Path, spec: VisionSpec, gz_ok: bool = False) -> list[str]:
    def present(f):
        return (folder / f).is_file() or (gz_ok and (folder / f"{f}.gz").is_file())

    return [f for f in spec.files if not present(f)]


@contextlib.contextmanager
def _temporary(target: Path, suffix: str):
    """A name next to `target` that no other writer uses (jobs of one sweep may write the same
    file at once); whatever is left under it is removed on the way out."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}{suffix}")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def import_raw_files(name: str, source: Path, raw: Path) -> int:
    """Copy the raw files (plain or .gz) from `source` into torchvision's layout under root;
    returns how many it wrote (0 when all were there)."""
    spec = SPECS[name]
    missing = _missing(source, spec, gz_ok=True)
    if missing:
        raise UserError(f"dataset.source={source}: missing {', '.join(missing)} "
                        f"(plain or .gz); {name} needs {', '.join(spec.files)}")
    raw.mkdir(parents=True, exist_ok=True)
    written = 0
    for f in spec.files:
        target = raw / f
        if target.is_file():
            continue
        with _temporary(target, ".importing") as tmp:
            if (source / f).is_file():
                shutil.copyfile(source / f, tmp)
            else:
                try:
                    with gzip.open(source / f"{f}.gz", "rb") as src, open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                except (OSError, EOFError) as ex:
                    raise UserError(f"dataset.source: cannot decompress {source / f}.gz ({ex})") from None
            if target.is_file():
                continue  # another job imported it meanwhile: keep theirs, so its stamp stays put
            os.replace(tmp, target)  # atomic: readers see no file or the whole file
            written += 1
    return written


def _download(name: str, root: Path) -> str | None:
    """Let torchvision download (and checksum) the files; returns why it failed, or None.

    torchvision writes into a folder of this attempt's own under root, and the finished files are
    renamed into place from there: a parallel job never reads a half-written file, and a failed
    download (also one that got some files) leaves nothing behind."""
    import torchvision.datasets as tvd

    spec = SPECS[name]
    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    staging = root / f".download-{uuid.uuid4().hex}"
    try:
        cls(str(staging), train=True, download=True)
        raw = root / spec.folder
        raw.mkdir(parents=True, exist_ok=True)
        for f in spec.files:
            if not (raw / f).is_file():  # else another job got there first: keep theirs
                os.replace(staging / spec.folder / f, raw / f)
    except Exception as ex:  # network errors, checksum mismatches: all reported in one line
        return " ".join(str(ex).split())[:200]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
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
    return _load(name, raw)[0]


def _load(name: str, raw: Path) -> tuple[tuple[torch.Tensor, ...], bool]:
    """(the four tensors, whether they came from the cache)."""
    spec = SPECS[name]
    cache = raw.parent / "nnlab-cache" / f"{name}-v{CACHE_VERSION}.pt"
    stamp = [[f, (raw / f).stat().st_size, (raw / f).stat().st_mtime_ns] for f in spec.files]
    if cache.is_file():
        try:
            saved = torch.load(cache, weights_only=True)
            if saved.get("stamp") == stamp:
                return (saved["train_x"], saved["train_y"], saved["test_x"], saved["test_y"]), True
        except Exception:
            pass  # unreadable cache: parse again and overwrite it
    parsed = _parse_cifar(raw) if name == "cifar10" else _parse_idx(raw)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with _temporary(cache, ".writing") as tmp:
        torch.save({"stamp": stamp, **dict(zip(("train_x", "train_y", "test_x", "test_y"), parsed,
                                               strict=True))}, tmp)
        os.replace(tmp, cache)  # a concurrent job's cache of the same files is as good: last wins
    return parsed, False


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
