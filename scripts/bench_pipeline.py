"""One training epoch of LeNet on Fashion-MNIST, CPU: nnlab's loop against the standard pipeline
and against the compute floor, measured side by side in one process.

- nnlab: the split as one tensor, batches by indexing a seeded permutation, `engine.train_one_epoch`
  (the loop `nnlab train` runs, bookkeeping included).
- standard: torchvision's FashionMNIST with ToTensor + Normalize transforms and a DataLoader
  (shuffle; num_workers 0 and 2, the better one counts), the same model, optimizer and batch.
- floor: the same model's forward/backward/step over pre-loaded, pre-normalised tensors in order,
  with nothing else.

Real Fashion-MNIST is used when present (data/ or Debian's package), same-shape generated files
otherwise. Timings on shared machines are noisy: compare the ratios, taken in one run, and read
the medians over --repeats.

    python scripts/bench_pipeline.py [--batch 64 256] [--samples 60000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from nnlab.data.batcher import TensorBatcher
from nnlab.data.formats import write_idx_dataset
from nnlab.data.vision import SPECS, make_vision
from nnlab.engine import train_one_epoch
from nnlab.models import LeNet, Normalized

MEAN, STD = SPECS["fashion_mnist"].mean, SPECS["fashion_mnist"].std


def fresh_model(seed: int = 0):
    torch.manual_seed(seed)
    model = Normalized(LeNet((1, 28, 28), 10), MEAN, STD)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def time_nnlab(data, batch: int, samples: int) -> float:
    model, opt = fresh_model()
    split = type(data.train)(data.train.x[:samples], data.train.y[:samples])
    batches = TensorBatcher(split, batch, torch.device("cpu"), shuffle=True, seed=0)
    bar = tqdm(disable=True)
    start = time.perf_counter()
    train_one_epoch(model, batches, opt, F.cross_entropy, 0.0, 1, bar)
    return time.perf_counter() - start


def time_standard(root: str, batch: int, samples: int, workers: int) -> float:
    import torchvision.transforms as T

    model, opt = fresh_model()
    dataset = torchvision.datasets.FashionMNIST(
        root, train=True, download=False, transform=T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)]))
    loader = DataLoader(Subset(dataset, range(samples)), batch_size=batch, shuffle=True,
                        num_workers=workers, persistent_workers=False)
    net = model.net  # ToTensor + Normalize already normalise: skip nnlab's in-model step
    start = time.perf_counter()
    net.train()
    for x, y in loader:
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def time_floor(data, batch: int, samples: int) -> float:
    model, opt = fresh_model()
    net = model.net
    x = ((data.train.x[:samples].float() / 255 - MEAN[0]) / STD[0]).contiguous()
    y = data.train.y[:samples]
    start = time.perf_counter()
    for i in range(0, samples, batch):
        loss = F.cross_entropy(net(x[i:i + batch]), y[i:i + batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def data_root(tmp: Path) -> tuple[str, str]:
    """A root holding FashionMNIST/raw: the real files if we can get them, else generated ones."""
    for root in ("data", str(tmp)):
        try:
            make_vision("fashion_mnist", root=root, download=False, val_size=0)
            return root, "real Fashion-MNIST"
        except Exception:
            continue
    write_idx_dataset(tmp / "FashionMNIST" / "raw", n_train=60000, n_test=100)
    return str(tmp), "generated data of Fashion-MNIST's shape (real files not found)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--samples", type=int, default=60000, help="training images per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                        help="DataLoader workers tried for the standard pipeline")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root, what = data_root(Path(tmp))
        data = make_vision("fashion_mnist", root=root, download=False, val_size=0)
        samples = min(args.samples, len(data.train))
        print(f"# LeNet-5 training epoch, {samples} images, CPU ({torch.get_num_threads()} threads, "
              f"{platform.processor() or platform.machine()}), {what}; median of {args.repeats}\n")
        print("| batch | nnlab (s) | standard (s) | floor (s) | nnlab speed-up vs standard "
              "| nnlab / floor |")
        print("|---|---|---|---|---|---|")
        for batch in args.batch:
            runs = {"nnlab": [], "standard": [], "floor": []}
            for _ in range(args.repeats):  # interleaved, so drifts in machine load hit all three
                runs["nnlab"].append(time_nnlab(data, batch, samples))
                runs["standard"].append(min(time_standard(root, batch, samples, w) for w in args.workers))
                runs["floor"].append(time_floor(data, batch, samples))
            med = {k: statistics.median(v) for k, v in runs.items()}
            print(f"| {batch} | {med['nnlab']:.2f} | {med['standard']:.2f} | {med['floor']:.2f} | "
                  f"{med['standard'] / med['nnlab']:.2f}x | {med['nnlab'] / med['floor']:.2f}x |")


if __name__ == "__main__":
    main()
