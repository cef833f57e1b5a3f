"""Run `nnlab ARGS` inside the test process as if it were a fresh one.

`python -m nnlab` in a subprocess spends 3-5 s importing torch, Hydra and nnlab before it does
anything; most tests only look at what the command printed, its exit code and the files it wrote,
which the same `nnlab.cli.main` gives in-process. What a fresh process would not carry from one
command to the next, and the test process would, is set for the call and put back afterwards:

- the working folder and environment variables (OMP_NUM_THREADS=1 and no HYDRA_FULL_ERROR, as the
  subprocess helper sets them; commands that start processes of their own pass them on);
- sys.stdout and sys.stderr, redirected *before* the call: Hydra's job logging binds its console
  handler to whatever sys.stdout is when a job configures logging;
- logging: a fresh process's root logger has no handlers (so warnings of commands that configure
  no logging reach stderr through logging's last resort, not pytest's capture), and Hydra
  replaces the root logger's handlers and opens a train.log per job;
- torch: one thread (OMP_NUM_THREADS=1 in a subprocess), determinism switches, the global RNGs;
- the SIGINT/SIGTERM handlers a run installs;
- warnings: a fresh interpreter's default filters, printed on stderr where a user sees them
  (pytest would otherwise record them and keep them out of the one-line-error checks);
- Hydra's global state (GlobalHydra), which refuses a second initialisation.

Tests about the process itself (signals, kill -9, parallel processes, the console script) use
conftest's `nnlab_process` / `nnlab_popen` instead.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import signal
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

import torch

# A fresh `python` process's warning filters (Python docs, "Default Warning Filter"; what
# `python -c "import warnings; print(warnings.filters)"` prints), last one applied first.
_FRESH_FILTERS = [("ignore", ResourceWarning, ""), ("ignore", ImportWarning, ""),
                  ("ignore", PendingDeprecationWarning, ""), ("ignore", DeprecationWarning, ""),
                  ("default", DeprecationWarning, "__main__")]


def run_nnlab(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`nnlab ARGS` in this process; the CompletedProcess a subprocess would give."""
    from nnlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _fresh_process_state(cwd, {"OMP_NUM_THREADS": "1", **(env or {})}):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _fresh_warnings():
            returncode = _exit_code(main, list(args))
    return subprocess.CompletedProcess(["nnlab", *args], returncode, out.getvalue(), err.getvalue())


def _exit_code(main, argv: list[str]) -> int:
    """What the process would exit with: SystemExit's code, 0 when main returns, and 1 with the
    traceback on stderr when an exception escapes (as the interpreter does)."""
    try:
        main(argv)
    except SystemExit as ex:
        if ex.code is None:
            return 0
        if isinstance(ex.code, int):
            return ex.code
        print(ex.code, file=sys.stderr)  # sys.exit("message"): printed, exit status 1
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    return 0


@contextlib.contextmanager
def _fresh_process_state(cwd: Path, env: dict):
    from hydra.core.global_hydra import GlobalHydra

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_torch = _TorchState()
    saved_logging = _LoggingState()
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    os.environ.update({k: str(v) for k, v in env.items()})
    os.environ.pop("HYDRA_FULL_ERROR", None)  # Hydra's short error report, as users get it
    os.chdir(cwd)
    logging.root.handlers = []  # as in a fresh interpreter: pytest's capture handlers come back after
    logging.root.setLevel(logging.WARNING)
    torch.set_num_threads(1)
    GlobalHydra.instance().clear()
    try:
        yield
    finally:
        GlobalHydra.instance().clear()
        saved_logging.restore()
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler)
        saved_torch.restore()
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


@contextlib.contextmanager
def _fresh_warnings():
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for action, category, module in _FRESH_FILTERS:
            warnings.filterwarnings(action, category=category, module=module)
        warnings.showwarning = _show_on_stderr
        yield


def _show_on_stderr(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


class _TorchState:
    """What `nnlab train` changes process-wide in torch: threads, determinism, RNGs."""

    def __init__(self):
        self.threads = torch.get_num_threads()
        self.deterministic = (torch.are_deterministic_algorithms_enabled(),
                              torch.is_deterministic_algorithms_warn_only_enabled())
        self.cudnn = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
        self.rng = (torch.get_rng_state(), random.getstate())

    def restore(self) -> None:
        torch.set_num_threads(self.threads)
        torch.use_deterministic_algorithms(self.deterministic[0], warn_only=self.deterministic[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = self.cudnn
        torch.set_rng_state(self.rng[0])
        random.setstate(self.rng[1])


class _LoggingState:
    """Every logger's handlers, level and switches; restore() closes the handlers a command added
    (Hydra's train.log file handlers, console handlers bound to the redirected streams)."""

    def __init__(self):
        self.disable = logging.root.manager.disable
        self.saved = {logger: (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
                      for logger in _all_loggers()}

    def restore(self) -> None:
        for logger in _all_loggers():
            handlers, level, propagate, disabled = self.saved.get(logger, ([], logging.NOTSET, True,
                                                                           False))
            for handler in logger.handlers:
                if handler not in handlers:
                    handler.close()
            logger.handlers = list(handlers)
            logger.setLevel(level)
            logger.propagate, logger.disabled = propagate, disabled
        logging.disable(self.disable)


def _all_loggers() -> list[logging.Logger]:
    known = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(lg for lg in list(known) if isinstance(lg, logging.Logger))]
