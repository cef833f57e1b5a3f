"""Shared helpers: run `nnlab` (in-process, or as a real process where the process is the point),
wait for a run's files, read run folders, and the fake datasets every test session shares."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))  # the seed experiments' modules, for their tests

from experiments.common import has_fashion_mnist  # noqa: E402

from inprocess import run_nnlab  # noqa: E402

needs_fashion = pytest.mark.skipif(not has_fashion_mnist(), reason="needs real Fashion-MNIST "
                                   "(Debian package dataset-fashion-mnist or data/FashionMNIST/raw)")


def pytest_configure(config):
    """Share the cores out among pytest-xdist's workers (`make test`: 2 workers on 2 cores): torch's
    default of one thread per core in every worker oversubscribes the CPU, and its OpenMP threads
    then spin waiting for each other. A plain `pytest` run keeps every core."""
    import torch

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module's tests (tiny models, where more threads only contend);
    the count before comes back after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def pyplot_figures(monkeypatch):
    """The figures drawn with pyplot while the test runs, in order: pyplot's `close` keeps them
    (to be read back) instead of closing them; they are closed when the test ends."""
    import matplotlib.pyplot as plt

    kept, close = [], plt.close
    monkeypatch.setattr(plt, "close", kept.append)
    yield kept
    for fig in kept:
        close(fig)


# --- running nnlab -------------------------------------------------------------------------------


def nnlab(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`nnlab ARGS` in `cwd`, in this process (see tests/inprocess.py); a CompletedProcess with
    returncode, stdout and stderr as the real command gives them (never raises on rc)."""
    return run_nnlab(list(args), Path(cwd), env)


def process_env(env: dict | None = None) -> dict:
    """The environment of a real `python -m nnlab`: unbuffered, one thread, Hydra's short errors."""
    full = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    full.pop("HYDRA_FULL_ERROR", None)
    return full


def nnlab_process(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300):
    """`python -m nnlab ARGS` as a real process, for tests about the process itself (exit status of
    the executable, tracebacks as printed by the interpreter); returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "nnlab", *args], cwd=cwd, env=process_env(env),
                          capture_output=True, text=True, timeout=timeout)


def nnlab_popen(*args: str, cwd: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    """Start `python -m nnlab ARGS` and return at once: for signals, kill -9 and parallel runs.
    stdout is discarded and stderr piped (text) unless `popen` says otherwise. Whatever is still
    running when the test ends is killed (its process group, with start_new_session=True)."""
    popen = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True, **popen}
    proc = subprocess.Popen([sys.executable, "-m", "nnlab", *args], cwd=cwd, env=process_env(env),
                            **popen)
    _started.append((proc, bool(popen.get("start_new_session"))))
    return proc


_started: list[tuple[subprocess.Popen, bool]] = []


@pytest.fixture(autouse=True)
def _end_started_processes():
    """A test that fails while waiting on a run of epochs=100000 must not leave it running."""
    yield
    while _started:
        proc, own_group = _started.pop()
        if proc.poll() is None:
            if own_group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def train(tmp_path: Path, *overrides: str, run_dir: str = "run", check: bool = True):
    """`nnlab train` into tmp_path/run_dir with progress bars off; asserts success if `check`."""
    proc = nnlab("train", f"hydra.run.dir={run_dir}", "progress=false", *overrides, cwd=tmp_path)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def one_error_line(proc) -> str:
    """The single `nnlab: error: ...` line a bad input must give (and no traceback)."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnlab: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def experiments_in_process(monkeypatch):
    """The seed experiments' `python -m nnlab ...` commands (Context.nnlab in
    scripts/experiments/common.py) run in this process instead of a fresh interpreter each: the
    experiment's own code is unchanged, only the process boundary is replaced. The commands'
    output is passed on to this test's stdout/stderr; any other command still starts a process."""
    import types

    import experiments.common as common

    def run(cmd, **kwargs):
        if list(cmd[:3]) != [sys.executable, "-m", "nnlab"] or set(kwargs) - {"env"}:
            return subprocess.run(cmd, **kwargs)
        proc = run_nnlab(list(cmd[3:]), Path.cwd(), kwargs.get("env"))
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        return proc

    monkeypatch.setattr(common, "subprocess", types.SimpleNamespace(run=run))


# --- waiting for a running process ---------------------------------------------------------------


def wait_for(condition, what: str, proc: subprocess.Popen | None = None, timeout: float = 300) -> None:
    """Return as soon as condition() holds. Fails after `timeout` s (generous: a loaded machine
    takes a minute to start a process), or at once when `proc` has ended first (it will not write
    the file then). Polls every 10 ms: no fixed sleeps."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            stderr = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}: "
                                 f"{stderr[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(0.01)


def line_count(path: Path) -> int:
    try:
        return len(path.read_bytes().splitlines())
    except FileNotFoundError:
        return 0


def wait_for_lines(path: Path, lines: int, proc: subprocess.Popen | None = None,
                   timeout: float = 300) -> None:
    """Wait until the file at `path` holds at least `lines` lines (metrics.csv: header + rows)."""
    wait_for(lambda: line_count(path) >= lines, f"{lines} lines in {path}", proc, timeout)


# --- run folders ---------------------------------------------------------------------------------


class Run:
    """A run folder as data."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def summary(self) -> dict:
        return json.loads((self.path / "summary.json").read_text())

    @property
    def metrics(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "metrics.csv")


@pytest.fixture
def run_in(tmp_path):
    """run_in(*overrides) trains in a fresh folder and returns its Run."""

    def _run(*overrides: str) -> Run:
        train(tmp_path, *overrides)
        return Run(tmp_path / "run")

    return _run


# --- fake datasets ------------------------------------------------------------------------------

# Sizes of the shared fake datasets: enough for a validation split of 50 and a few batches.
FAKE_IDX = {"n_train": 300, "n_test": 100}
FAKE_CIFAR = {"per_batch": 60, "n_test": 50}


@pytest.fixture(autouse=True)
def _logging_put_back():
    """Whatever a test does to logging (a command run in-process by a helper of its own configures
    Hydra's job logging: a train.log file handler in a run folder that may be deleted next), the
    next test starts with the loggers as they were."""
    import logging

    def loggers():
        return [logging.getLogger(), *(lg for lg in list(logging.Logger.manager.loggerDict.values())
                                       if isinstance(lg, logging.Logger))]

    before = {id(h) for lg in loggers() for h in lg.handlers}
    yield
    for lg in loggers():  # only the plain handlers Hydra makes: pytest's own capture is left alone
        for handler in [h for h in lg.handlers if id(h) not in before
                        and type(h) in (logging.StreamHandler, logging.FileHandler)]:
            lg.removeHandler(handler)
            handler.close()


@pytest.fixture(scope="session", autouse=True)
def _no_real_data_folder(tmp_path_factory):
    """Image datasets default to $NNLAB_DATA, else the per-user ~/.cache/nnlab/data: no test may
    read or fill the real one, so every test session gets its own (a test that needs another
    root sets it; real Fashion-MNIST is imported here from Debian's package when a test needs it)."""
    old = os.environ.get("NNLAB_DATA")
    os.environ["NNLAB_DATA"] = str(tmp_path_factory.mktemp("nnlab_data"))
    yield
    if old is None:
        os.environ.pop("NNLAB_DATA", None)
    else:
        os.environ["NNLAB_DATA"] = old


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory) -> Path:
    """A data root with small MNIST, Fashion-MNIST and CIFAR-10 files in torchvision's formats
    (what `dataset.root` / $NNLAB_DATA point at), made once per test session. Read it, don't
    change it: tests that damage or rewrite files make their own."""
    from nnlab.data.formats import write_cifar_dataset, write_idx_dataset

    root = tmp_path_factory.mktemp("fake_data")
    write_idx_dataset(root / "MNIST" / "raw", **FAKE_IDX)
    write_idx_dataset(root / "FashionMNIST" / "raw", **FAKE_IDX)
    write_cifar_dataset(root / "cifar-10-batches-py", **FAKE_CIFAR)
    return root


# --- the attack tests' small trained models (tests/attack_models.py), trained once per module ----


@pytest.fixture(scope="module")
def models():
    from attack_models import trained_models

    return trained_models()


@pytest.fixture(scope="module")
def batch(models):
    from attack_models import attack_batch

    return attack_batch(models)
