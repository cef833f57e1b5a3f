"""`hydra/launcher=vectorized`: a sweep's compatible jobs train together as one stacked model.

The Hydra side of it: compose every job, plan the groups (nnlab.train.group), and run each job
through Hydra's own `run_job`, so each gets its folder, .hydra/, train.log, the CLI's validation
and its failure record exactly as under the basic launcher. A job that trains alone runs whole
there; a job of a group runs only up to the end of `task.prepare` there (`task.preparing_only`),
then its group trains as one, and each job is finished (figures, outcome) in turn.

Composing: Hydra composes a job in ~0.3 s. Jobs whose overrides differ from an already composed
job's only in the values of plain keys (seed=3, optimizer.lr=0.01: no config group, no +key or
~key) are derived from that job's config instead, as Hydra would have composed them
(tests/test_vectorized_launcher.py compares the two). A thousand seeds then cost seconds.

Ctrl-C or SIGTERM: every job of the group being trained ends `interrupted` with whole files, and
the sweep stops (exit 128 + the signal); groups and jobs not started are `not run` in
`nnlab report`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)


@dataclass
class VectorizedLauncherConf:
    _target_: str = "hydra_plugins.nnlab_launcher.vectorized_launcher.VectorizedLauncher"
    max_models: int | None = None  # models per group; null = as many as fit in memory


class VectorizedLauncher(Launcher):
    def __init__(self, max_models: int | None = None) -> None:
        self.max_models = max_models
        self.config = self.task_function = self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from nnlab.errors import UserError
        from nnlab.train import group

        if self.max_models is not None and (not isinstance(self.max_models, int) or self.max_models < 1):
            raise UserError(f"hydra.launcher.max_models: {self.max_models!r} is not a whole number >= 1; "
                            "null sizes groups from the free memory")
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = compose_jobs(self.hydra_context.config_loader, self.config, job_overrides, initial_job_idx)
        plan = group.plan(configs)
        log.info("Vectorized launcher: %d jobs, %d trained in %d group(s), %d alone; sweep output dir: %s",
                 len(configs), sum(len(g) for g in plan.groups), len(plan.groups), len(plan.alone),
                 self.config.hydra.sweep.dir)
        returns: dict[int, JobReturn] = {}
        for first, members in plan.order():
            if members is None:
                log.info("#%d runs alone: %s", initial_job_idx + first, plan.alone[first])
                returns[first] = self._run(configs[first])
            else:
                returns.update(self._run_group({i: configs[i] for i in members}))
        return [returns[i] for i in range(len(configs))]

    def _run(self, config: DictConfig) -> JobReturn:
        ret = run_job(hydra_context=self.hydra_context, task_function=self.task_function, config=config,
                      job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return ret

    def _run_group(self, configs: dict[int, DictConfig]) -> dict[int, JobReturn]:
        """Prepare the group's jobs (at most max_models at a time), train them as one, finish each."""
        returns, pending, cap = {}, list(configs), self.max_models
        while pending:
            batch, cap = self._prepare(configs, pending, cap, returns)
            if batch:
                self._train_and_finish(batch)
        return returns

    def _prepare(self, configs, pending: list[int], cap: int | None, returns: dict):
        """Run jobs through Hydra up to the end of `task.prepare` until `cap` are prepared:
        ([(prepared job, its JobReturn)], the cap, set from the first job's size when null)."""
        from nnlab.train import group, task

        batch = []
        while pending and (cap is None or len(batch) < cap):
            position = pending.pop(0)
            with task.preparing_only():
                returns[position] = ret = self._run(configs[position])
            if isinstance(ret.return_value, task.Job):  # else skipped, or failed and recorded
                batch.append((ret.return_value, ret))
                if cap is None:
                    cap = group.max_models(ret.return_value, None)
                    log.info("max_models: %d models of this kind fit in a quarter of the free memory", cap)
        return batch, cap

    def _train_and_finish(self, batch: list) -> None:
        from nnlab.train import group

        jobs = [job for job, _ in batch]
        rets = [ret for _, ret in batch]
        names = []
        for job, ret in batch:
            hydra = ret.hydra_cfg.hydra
            names.append(f"#{hydra.job.num} ({' '.join(filter_overrides(ret.overrides))})")
            job.log = group.own_log(job, hydra.job.num, f"{hydra.job.name}.log")
        outcomes = group.train_prepared(jobs, names)
        results, exit_code = group.finish_each(jobs, outcomes, lambda i, ex: _record_failure(rets[i], ex))
        for ret, result in zip(rets, results, strict=True):
            ret.return_value = result
        if exit_code is not None:
            raise SystemExit(exit_code)


def _record_failure(ret: JobReturn, ex: BaseException) -> None:
    """What the CLI does for a sweep job that fails (cli.run_hydra_app): record it and go on."""
    from nnlab import errors
    from nnlab.runs import record_failed_job

    hydra = ret.hydra_cfg.hydra
    record_failed_job(Path(hydra.runtime.output_dir), ex, errors.as_user_error(ex), list(ret.overrides),
                      Path(hydra.sweep.dir).resolve())


# --- composing ---------------------------------------------------------------------------------


def compose_jobs(config_loader, master: DictConfig, job_overrides: Sequence[Sequence[str]],
                 initial_job_idx: int) -> list[DictConfig]:
    """Every job's config, as Hydra's basic launcher composes it (see the module doc)."""
    parser = OverridesParser.create()
    configs, composed = [], []  # composed: (config, parsed overrides) that Hydra composed
    for offset, overrides in enumerate(job_overrides):
        parsed = parser.parse_overrides(list(overrides))
        config = None
        for template, template_parsed in composed[-1:]:
            config = _derived(template, template_parsed, parsed, list(overrides))
        if config is None:
            config = config_loader.load_sweep_config(master, list(overrides))
            composed.append((config, parsed))
        with open_dict(config):
            config.hydra.job.id = initial_job_idx + offset
            config.hydra.job.num = initial_job_idx + offset
        configs.append(config)
    return configs


_MISSING = object()


def _derived(template: DictConfig, template_parsed: list[Override], parsed: list[Override],
             lines: list[str]) -> DictConfig | None:
    """`template` with the values of `parsed` where they differ, or None when only Hydra can
    compose it (other keys, a config group, adding or deleting keys)."""
    if [o.key_or_group for o in parsed] != [o.key_or_group for o in template_parsed]:
        return None
    changes = [(new, old) for new, old in zip(parsed, template_parsed, strict=True)
               if new.input_line != old.input_line]
    choices = template.hydra.runtime.choices
    for new, _ in changes:
        key = new.key_or_group
        if (new.type != OverrideType.CHANGE or new.package is not None or key in choices
                or key.startswith("hydra.") or OmegaConf.select(template, key, default=_MISSING) is _MISSING):
            return None
    config = copy.deepcopy(template)
    with read_write(config), open_dict(config):
        for new, _ in changes:
            OmegaConf.update(config, new.key_or_group, new.value(), merge=False)
        config.hydra.overrides.task = lines
        dirname = config.hydra.job.config.override_dirname
        config.hydra.job.override_dirname = _overrides_dirname(parsed, dirname)
    return config


def _overrides_dirname(parsed: list[Override], settings) -> str:
    from hydra._internal.config_loader_impl import get_overrides_dirname

    return get_overrides_dirname(overrides=parsed, kv_sep=settings.kv_sep, item_sep=settings.item_sep,
                                 exclude_keys=settings.exclude_keys)
