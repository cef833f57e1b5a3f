"""What the benchmark sections of scripts/bench.py share: options, progress lines on stderr,
interleaved timing, markdown tables with targets, nnlab configs, the `nnlab` command and the
Fashion-MNIST files.
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nnlab.data.formats import write_idx_dataset
from nnlab.data.vision import default_root, ensure_files
from nnlab.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def say(message: str) -> None:
    """A progress line on stderr (stdout carries the markdown)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Options:
    quick: bool  # tiny sizes and one repetition: checks that the script runs, measures nothing
    work: Path  # scratch folder: generated data, run folders, sweeps (deleted afterwards)
    repeats: int | None = None  # None: each section's own default (1 with --quick)
    attack_run: Path | None = None  # a `nnlab train` run folder to attack instead of a fresh one
    compile: bool = False  # also measure torch.compile in the CUDA section
    _fashion: tuple[Path, str] | None = field(default=None, repr=False)

    def reps(self, default: int) -> int:
        if self.repeats is not None:
            return self.repeats
        return 1 if self.quick else default

    def fashion(self) -> tuple[Path, str]:
        """(root, description): a dataset root holding FashionMNIST/raw, found once per run."""
        if self._fashion is None:
            self._fashion = fashion_root(self.work, n_train=2000 if self.quick else 60000)
        return self._fashion


def fashion_root(work: Path, n_train: int) -> tuple[Path, str]:
    """The root `nnlab train` would use ($NNLAB_DATA, else the per-user data folder), when it holds
    Fashion-MNIST or can import Debian's package into it; else generated files of the same shape
    under `work`."""
    root = default_root()
    try:
        raw = ensure_files("fashion_mnist", root, download=False, source=None)
        return root, f"Fashion-MNIST files in {raw}"
    except (UserError, OSError) as ex:  # missing, or a root we may not write the import into
        why = " ".join(str(ex).split())[:160]
    generated = work / "generated-data"
    write_idx_dataset(generated / "FashionMNIST" / "raw", n_train=n_train, n_test=1000)
    return generated, (f"generated data of Fashion-MNIST's shape ({n_train} training images), "
                       f"because the real files were not found ({why})")


def nnlab_config(*overrides: str):
    """The config `nnlab train OVERRIDES` would run with (Hydra's own composition)."""
    from hydra import compose, initialize_config_module

    with initialize_config_module("nnlab.configs", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def nnlab_command() -> list[str]:
    """The installed `nnlab` console script beside this Python, else `python -m nnlab`."""
    script = Path(sys.executable).with_name("nnlab")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "nnlab"]


def run_command(cmd: list[str], cwd: Path, timeout: float = 1800) -> float:
    """Run a command to its end; its wall time in seconds. A failure raises with its stderr,
    since a time measured on a failed command means nothing. The page cache is written back
    first (untimed): a command that writes a thousand run folders must not slow the next one
    down with its writeback."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"`{shlex.join(cmd)}` exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
    return seconds


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer sees it; nothing to wait for on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(runs: dict[str, Callable[[], float]], repeats: int, label: str) -> dict[str, float]:
    """Median seconds of each measurement. Each callable returns its own timing (so set-up is left
    out) and they take turns, so a change in machine load during the benchmark hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(repeats):
        for name, measure in runs.items():
            times[name].append(measure())
            say(f"{label}: {name} {times[name][-1]:.3f} s ({r + 1}/{repeats})")
    return {name: statistics.median(t) for name, t in times.items()}


@dataclass(frozen=True)
class Target:
    """A bound a figure should meet: Target("<=", 0.65) for a ratio, unit " s" for seconds."""

    op: str  # "<=", "<" or ">="
    bound: float
    unit: str = "x"

    def met(self, value: float) -> bool:
        return {"<=": value <= self.bound, "<": value < self.bound, ">=": value >= self.bound}[self.op]

    def cells(self, value: float) -> list[str]:
        """[value, target, PASS/MISS]: the three cells that sit side by side in every table."""
        return [f"{value:.2f}{self.unit}", f"{self.op} {self.bound:g}{self.unit}",
                "PASS" if self.met(value) else "MISS"]


NO_TARGET = ["—", ""]  # target and result cells of a row that is measured but has no target


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def seconds(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"
