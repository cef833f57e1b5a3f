"""`nnlab train` in the test's own process, for the training command's tests (test_task,
test_resume, test_trackers): no interpreter start-up per run, and monkeypatch reaches the code."""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest
import torch

from nnlab import cli
from nnlab.data.formats import write_idx_dataset
from nnlab.runs import RunFolder
from nnlab.train.group_metrics import GroupMetrics


@pytest.fixture(autouse=True)
def in_tmp_folder(tmp_path, monkeypatch):
    """Each test runs in its own folder, and gets torch's thread count back (runs set it to 1);
    autouse in every module that imports it."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def nnlab_train(*args: str) -> int:
    """`nnlab train ARGS` here, in the current folder, quiet and on one thread; its exit code."""
    try:
        cli.main(["train", "progress=false", "cpu_threads=1", *args])
    except SystemExit as ex:
        return ex.code if isinstance(ex.code, int) else 1
    return 0


def interrupt_after(monkeypatch, epoch: int, sig: int = signal.SIGINT) -> None:
    """Send this process `sig` (a real signal) while epoch `epoch`'s metrics row is being written
    (a run's own) or recorded (a group's, written in bulk later), as a Ctrl-C landing at that
    moment would: the run stops after that epoch."""
    append, record = RunFolder.append_metrics, GroupMetrics.after_epoch

    def append_then_signal(self, *rows):
        append(self, *rows)
        if any(row["epoch"] == epoch for row in rows):
            signal.raise_signal(sig)

    def record_then_signal(self, at, *args):
        record(self, at, *args)
        if at == epoch:
            signal.raise_signal(sig)

    monkeypatch.setattr(RunFolder, "append_metrics", append_then_signal)
    monkeypatch.setattr(GroupMetrics, "after_epoch", record_then_signal)


def fake_mnist(root: Path, n_train: int = 120, n_test: int = 40) -> Path:
    """Tiny MNIST files in torchvision's layout under root; returns root."""
    write_idx_dataset(Path(root) / "MNIST" / "raw", n_train=n_train, n_test=n_test)
    return Path(root)


def metrics(run_dir: Path) -> pd.DataFrame:
    """metrics.csv without the wall-clock column (the only one two equal runs may differ in)."""
    return pd.read_csv(Path(run_dir) / "metrics.csv").drop(columns="seconds")
