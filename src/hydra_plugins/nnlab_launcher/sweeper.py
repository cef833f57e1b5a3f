"""`hydra/sweeper=nnlab` (nnlab train's default): Hydra's basic sweeper, with every job checked
before the first one is launched, whatever the launcher.

- Hydra's basic sweeper composes each job once to check it, then launches. This one does the same
  composing, and with each job also checks what its folder already holds
  (nnlab.train.continuation): a sweep run again into a used hydra.sweep.dir must say
  skip_completed=true and be the same sweep, or it is refused with nothing written (multirun.yaml
  and failures.jsonl included: they are written after the check).
- Completed jobs of a continuation are not launched again: their folders, .hydra/ included, stay
  as they were. The others are launched in runs of consecutive jobs, so each keeps its number.
- When the sweep is stopped (Ctrl-C, SIGTERM), it prints the command that continues it.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

log = logging.getLogger("nnlab")


@dataclass
class NnlabSweeperConf:
    _target_: str = "hydra_plugins.nnlab_launcher.sweeper.NnlabSweeper"
    max_batch_size: int | None = None
    params: dict | None = None


class NnlabSweeper(BasicSweeper):
    def __init__(self, max_batch_size: int | None = None, params: dict | None = None) -> None:
        # BasicSweeper.__init__ calls super(BasicSweeper, self), and Hydra's plugin scan executes
        # basic_sweeper.py again, so that name may be a newer class than our base: set its fields.
        self.overrides, self.batch_index = None, 0
        self.max_batch_size, self.params = max_batch_size, params or {}
        self.hydra_context = self.config = self.launcher = None

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        from nnlab import runs
        from nnlab.train.continuation import Continuation

        params = self._parse_config() + list(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        self.overrides = self.split_arguments(parser.parse_overrides(params), self.max_batch_size)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))

        earlier = Continuation(sweep_dir)
        jobs = [overrides for batch in self.overrides for overrides in batch]
        swept = swept_keys(jobs)
        composer = getattr(self.launcher, "composer", None)  # the vectorized launcher's templates
        for number, overrides in enumerate(jobs):  # as validate_batch_is_legal, plus the checks
            named = [o for o in overrides if o.split("=", 1)[0] in swept]
            if composer is None:
                config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
                _validate(number, named, config)
                earlier.check(number, config)
            else:
                spec = composer.spec(self.config, list(overrides))
                spec.check(number, named)
                if earlier.used:
                    earlier.check(number, spec.config(number))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        runs.forget_failures(sweep_dir)  # the jobs that run now write theirs anew
        if earlier.describe(len(jobs)):
            log.info(earlier.describe(len(jobs)))

        returns, first = [], 0
        try:
            while not self.is_done():
                batch = self.get_job_batch()
                results = self._launch(batch, first, earlier.completed)
                for result in results:
                    _ = result.return_value  # raises for a failed job, as the basic sweeper does
                first += len(batch)
                returns.append(results)
        except BaseException as ex:
            if not _interrupted(ex):
                raise
            self._say_how_to_continue(arguments, sweep_dir)
            if isinstance(ex, KeyboardInterrupt):  # (joblib's launcher): an exit, not a traceback
                raise SystemExit(128 + signal.SIGINT) from None
            raise
        return returns

    def _launch(self, batch: Sequence[Sequence[str]], first: int, completed: dict) -> list[JobReturn]:
        """Launch the batch's jobs that did not complete before, each run of consecutive ones in
        one call (so job numbers and folders stay); a completed job returns its summary."""
        results: list[JobReturn] = []
        position = 0
        while position < len(batch):
            if first + position in completed:
                results.append(JobReturn(overrides=list(batch[position]), status=JobStatus.COMPLETED,
                                         _return_value=completed[first + position],
                                         task_name=str(self.config.hydra.job.name)))
                position += 1
                continue
            end = position
            while end < len(batch) and first + end not in completed:
                end += 1
            results.extend(self.launcher.launch(batch[position:end], initial_job_idx=first + position))
            position = end
        return results

    def _say_how_to_continue(self, arguments: list[str], sweep_dir: Path) -> None:
        from nnlab.train.continuation import continue_command

        hydra_overrides = [str(o) for o in self.config.hydra.overrides.hydra]
        command = continue_command(str(self.config.hydra.job.name), sweep_dir, hydra_overrides,
                                   list(arguments))
        sys.stderr.write("nnlab: the sweep was stopped; what its jobs did so far is kept. Continue it "
                         "(completed jobs are skipped, interrupted ones go on from their last "
                         f"checkpoint) with:\n  {command}\n")
        sys.stderr.flush()


def swept_keys(job_overrides: Sequence[Sequence[str]]) -> set[str]:
    """The keys whose values differ between the jobs: what names a job in messages."""
    values: dict[str, set] = {}
    for overrides in job_overrides:
        for override in overrides:
            key, _, value = override.partition("=")
            values.setdefault(key, set()).add(value)
    return {key for key, seen in values.items() if len(seen) > 1 or len(job_overrides) == 1}


def _validate(number: int, overrides: Sequence[str], config) -> None:
    """Every key of job `number` against its declaration (nnlab.schema), before any job runs: a
    sweep with a bad value is refused whole, rather than failing that job after the others
    trained. The job validates itself again when it runs (the CLI does, for every run)."""
    from nnlab import schema
    from nnlab.errors import UserError

    if config.get("resume"):  # a resumed run is checked against its own config (train/resume.py)
        return
    try:
        schema.validate(OmegaConf.masked_copy(config, [k for k in config if k != "hydra"]),
                        str(config.hydra.job.name), config.hydra.runtime.choices)
    except UserError as ex:
        raise UserError(f"job {number} ({' '.join(overrides)}): {ex}; no job was run",
                        ex.exit_code) from None


def _interrupted(ex: BaseException) -> bool:
    """Ctrl-C, or a job's exit with 128 + the signal that stopped it."""
    return isinstance(ex, KeyboardInterrupt) or (
        isinstance(ex, SystemExit) and isinstance(ex.code, int) and ex.code > 128)
