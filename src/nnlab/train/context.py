"""Where a training run writes and what it was asked: what `task.prepare` is given, rather than
reading Hydra's global config several calls down.

The CLI makes it from Hydra's config (`RunContext.from_hydra`, one job of Hydra's own); the
vectorized launcher makes one per job of a group, without installing each job as Hydra's config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("nnlab.train")


@dataclass(frozen=True)
class RunContext:
    output_dir: Path  # the run's folder
    overrides: tuple[str, ...] = ()  # the command line's overrides of this job (summary.json)
    job_number: int | None = None  # its number in a sweep; None for a run of its own
    sweep_dir: Path | None = None  # the sweep's folder (MLflow's parent run, failures.jsonl)
    device_slot: int | None = None  # device=auto: GPU slot mod count (default: the job number)
    # jobs of a group whose dataset configs resolve alike share one dataset object (the stack
    # then reads one copy); None: each run builds its own
    datasets: dict | None = field(default=None, compare=False)
    log: logging.Logger = field(default=log, compare=False)  # a job of a group: its own train.log

    @property
    def in_sweep(self) -> bool:
        return self.job_number is not None

    @property
    def slot(self) -> int | None:
        return self.job_number if self.device_slot is None else self.device_slot

    @classmethod
    def from_hydra(cls) -> RunContext:
        """The context of the job Hydra is running now."""
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        multirun = hc.mode == RunMode.MULTIRUN
        return cls(Path(hc.runtime.output_dir), tuple(hc.overrides.task),
                   int(hc.job.num) if multirun else None, Path(str(hc.sweep.dir)) if multirun else None)
