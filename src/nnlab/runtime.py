"""Device choice, seeding and determinism switches."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import sys
import threading

import torch

from nnlab.errors import UserError


def resolve_device(spec: str, job_number: int | None = None) -> torch.device:
    """auto | cpu | cuda | cuda:N -> torch.device, with a clear error when CUDA is missing.

    In a sweep (`job_number` given), `auto` spreads jobs over the GPUs: job k uses GPU
    k mod (GPU count), so parallel launchers keep every GPU busy.
    """
    spec = str(spec)
    if spec == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        if job_number is None:
            return torch.device("cuda")
        return torch.device("cuda", job_number % torch.cuda.device_count())
    if spec == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise UserError(f"device: unknown value {spec!r}; valid: auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise UserError(f"device={spec}: CUDA is not available on this machine; use device=cpu or auto")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise UserError(f"device={spec}: only {torch.cuda.device_count()} CUDA device(s) here "
                        f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return torch.device("cuda", index)


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python and torch. With `deterministic`, also ask torch for deterministic kernels
    (on CUDA this needs CUBLAS_WORKSPACE_CONFIG, set here before CUDA starts, and is slower)."""
    random.seed(seed)
    if torch.cuda.is_available():
        torch.manual_seed(seed)
    else:  # the same for the CPU; torch.manual_seed would also queue a CUDA seed, with a stack
        torch.random.default_generator.manual_seed(seed)  # trace each time (a group seeds 1000s)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def show_progress(setting) -> bool:
    """progress=auto shows a bar only when stderr is a terminal (quiet in logs and CI)."""
    if setting == "auto":
        return sys.stderr.isatty()
    return bool(setting)


class StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM (batch schedulers, `kill`) stop a run as KeyboardInterrupt,
    which `run` turns into status `interrupted` and exit code 128 + the signal number.

    A signal arriving inside `with signals.deferred():` waits for the block to end: a training
    step finishes (no half-applied update), and an epoch's results are written whole, so
    metrics.csv and the checkpoints always agree.

    The handlers are installed when it is made; `with StopSignals() as signals:` gives the
    previous ones back however the block ends (or call `restore()`).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received = None
        self.pending = None
        self.depth = 0
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    def __enter__(self) -> StopSignals:
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def _handle(self, signum, frame):
        if self.received is None:
            self.received = signum
        elif signum != self.received:
            self.pending = signum  # e.g. a pool's SIGTERM after the terminal's SIGINT: see restore
        if self.depth == 0:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if self.received is not None and self.depth == 0:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def shielded(self):
        """Signals inside wait and are not raised afterwards: for writing the record of a run that
        is already ending, so a second signal (Ctrl-C twice, or a process pool's SIGTERM after
        the terminal's SIGINT) cannot cut the summary short."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def restore(self) -> None:
        """Give the signals their previous handlers back. A different signal that arrived while the
        run was already stopping is delivered again now, to those handlers: a process pool that
        sent SIGTERM after the terminal's SIGINT is waiting for this worker to end."""
        previous, self.previous = self.previous, {}  # restoring twice must not undo a later install
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if self.pending is not None:
            pending, self.pending = self.pending, None
            signal.raise_signal(pending)

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)
