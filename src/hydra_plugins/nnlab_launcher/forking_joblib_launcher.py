"""`hydra/launcher=joblib`, with workers forked from an interpreter that has already imported torch.

Hydra's joblib plugin hard-codes joblib's `loky` backend: every worker is a fresh interpreter
that imports torch and nnlab (~2.5 s each on a 2-core machine) before its first job, and shuts
down at the end. For sweeps of small jobs that start-up ate the gain: 6 spiral jobs on 2 workers
took 0.94x the sequential wall time. This launcher keeps the plugin's config, logging and job
execution (`execute_job`, so every job still gets its own Hydra config and folder), but

- imports nnlab's task (and so torch) once in the launching process, and
- runs the jobs with joblib's `multiprocessing` backend, which on Linux forks its workers from
  that process: they start warm.

Forking is safe here because the launching process never runs a torch operation (no OpenMP or
CUDA state to inherit); each job sets its own threads and device. `hydra.launcher.backend=loky`
gives the plugin's behaviour back, and platforms without fork (macOS, Windows) use loky too.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

# joblib and the plugin's _core are imported in launch(): nnlab registers this class on every
# start (cli.py), and importing joblib costs ~0.2 s that a single run should not pay.

log = logging.getLogger(__name__)

# What the forked workers need, set by the launching process just before joblib forks them.
# Handing it over by inheritance instead of pickling lets Hydra's task function be a closure.
_INHERITED: dict = {}
TASK_MODULES = {"train": "nnlab.train.task", "attack": "nnlab.attacks.command"}  # hydra.job.name -> its task


def _run_inherited(idx: int, overrides: Sequence[str]) -> bytes:
    """One job in a forked worker. The JobReturn goes back cloudpickled, as loky would send it:
    it holds Hydra's config, whose structured-config classes plain pickle refuses."""
    import cloudpickle
    from hydra_plugins.hydra_joblib_launcher import _core

    state = _INHERITED
    if state["threads"]:  # the job's cpu_threads, when set, still wins (it sets its own)
        import torch

        torch.set_num_threads(state["threads"])
    return cloudpickle.dumps(_core.execute_job(idx, overrides, state["hydra_context"], state["config"],
                                               state["task_function"], state["singleton_state"]))


def threads_per_worker(n_jobs, n_tasks: int) -> int | None:
    """Torch's default of one thread per core, times n_jobs workers, oversubscribes the CPU (with
    2 workers on 2 cores a toy sweep ran several times slower): share the cores out instead."""
    cores = os.cpu_count() or 1
    try:
        n_jobs = int(n_jobs)
    except (TypeError, ValueError):
        return None
    workers = cores + 1 + n_jobs if n_jobs < 0 else n_jobs  # joblib: -1 all cores, -2 all but one
    workers = max(1, min(workers, n_tasks))
    return max(1, cores // workers)


def fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class ForkingJoblibLauncher(JoblibLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        backend = self.joblib.get("backend") or ("multiprocessing" if fork_available() else "loky")
        if backend == "loky":
            return super().launch(job_overrides, initial_job_idx)
        import cloudpickle
        from hydra.core.singleton import Singleton
        from hydra.core.utils import configure_log, filter_overrides, setup_globals
        from hydra_plugins.hydra_joblib_launcher import _core
        from joblib import Parallel, delayed

        if backend != "multiprocessing":
            from nnlab.errors import UserError

            raise UserError(f"hydra.launcher.backend: {backend!r} is not supported; use null "
                            "(forked workers where the platform forks) or loky")
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        import_module(TASK_MODULES.get(self.config.hydra.job.name, "torch"))  # warm before forking
        # torch.optim's first optimizer imports torch._dynamo (~1 s): once here, not per worker.
        import_module("torch._dynamo")

        joblib_cfg = {**self.joblib, "backend": "multiprocessing"}
        _core.process_joblib_cfg(joblib_cfg)
        log.info("Joblib.Parallel(%s) is launching %d jobs (workers forked with torch imported)",
                 ",".join(f"{k}={v}" for k, v in joblib_cfg.items()), len(job_overrides))
        log.info("Launching jobs, sweep output dir : %s", sweep_dir)
        for idx, overrides in enumerate(job_overrides):
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))

        _INHERITED.update(hydra_context=self.hydra_context, config=self.config,
                          task_function=self.task_function, singleton_state=Singleton.get_state(),
                          threads=threads_per_worker(joblib_cfg.get("n_jobs"), len(job_overrides)))
        try:
            runs = Parallel(**joblib_cfg)(delayed(_run_inherited)(initial_job_idx + idx, overrides)
                                          for idx, overrides in enumerate(job_overrides))
        finally:
            _INHERITED.clear()
        return [cloudpickle.loads(run) for run in runs]
