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

Ctrl-C or SIGTERM: every job of the group being prepared or trained ends `interrupted` with whole
files (after 0 epochs when it had not trained), and the sweep stops (exit 128 + the signal);
groups and jobs not started are `not run` in `nnlab report`.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    configure_log,
    run_job,
    setup_globals,
)
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from hydra_plugins.nnlab_launcher.sweeper import swept_keys

log = logging.getLogger(__name__)


@dataclass
class VectorizedLauncherConf:
    _target_: str = "hydra_plugins.nnlab_launcher.vectorized_launcher.VectorizedLauncher"
    max_models: int | None = None  # models per group; null = as many as fit in memory
    job_figures_up_to: int | None = 64  # larger groups: no per-job figures; null = always


class VectorizedLauncher(Launcher):
    def __init__(self, max_models: int | None = None, job_figures_up_to: int | None = 64) -> None:
        self.max_models, self.job_figures_up_to = max_models, job_figures_up_to
        self.config = self.task_function = self.hydra_context = None
        self.groups_trained = 0
        self.swept: set[str] = set()

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        # Checked here, before the sweeper writes the sweep folder: a bad value leaves nothing.
        if self.max_models is not None and (not isinstance(self.max_models, int) or self.max_models < 1):
            from nnlab.errors import UserError

            raise UserError(f"hydra.launcher.max_models: {self.max_models!r} is not a whole number >= 1; "
                            "null sizes groups from the free memory")
        limit = self.job_figures_up_to
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            from nnlab.errors import UserError

            raise UserError(f"hydra.launcher.job_figures_up_to: {limit!r} is not a whole number >= 0; "
                            "null draws every job's figures")
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function
        # The basic sweeper composes every job once to check it, before launching: that check
        # and this launcher share one SweepComposer, which derives what it can (module doc).
        self.composer = SweepComposer(hydra_context.config_loader.load_sweep_config)
        hydra_context.config_loader.load_sweep_config = self.composer.load

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from nnlab.train import group

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = self.composer.jobs(self.config, job_overrides, initial_job_idx)
        self.swept = swept_keys(job_overrides)
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
        from nnlab.train.build import sharing_datasets
        from nnlab.train.task import device_slot

        returns, pending, cap = {}, list(configs), self.max_models
        while pending:
            # one copy of the data for jobs that differ in lr, not in seed; device=auto: one GPU
            # per group (group k on GPU k mod count, as job k of another launcher)
            with sharing_datasets(), device_slot(self.groups_trained):
                cap = self._prepare_and_train(configs, pending, cap, returns)
        return returns

    def _prepare_and_train(self, configs, pending: list[int], cap: int | None, returns: dict):
        """Prepare up to `cap` jobs, train them and finish each; the cap (see `_prepare`).

        Ctrl-C and SIGTERM are caught from the first job's preparation to the end of training
        (a thousand jobs take a minute to prepare): a stop while a job is prepared waits for it to
        be whole, and then every prepared job that has not trained ends `interrupted` after 0
        epochs, its tracker ended; the jobs not prepared are `not run`. The handlers are given
        back before the figures (and a second, different signal delivered to them then)."""
        from nnlab.runtime import StopSignals
        from nnlab.train import group

        batch, outcomes, interrupted = [], [], False
        with StopSignals() as signals:
            try:
                cap = self._prepare(configs, pending, cap, returns, batch, signals)
                if batch:
                    self._choose_figures([job for job, _ in batch])
                    outcomes = self._train(batch, signals)
            except KeyboardInterrupt:  # while preparing, or before the training began
                interrupted = True
                with signals.shielded():
                    outcomes = group.stopped([job for job, _ in batch], {}, signals.exit_code)
        if batch:
            self._finish(batch, outcomes)
        if interrupted:
            raise SystemExit(signals.exit_code)
        return cap

    def _prepare(self, configs, pending: list[int], cap: int | None, returns: dict, batch: list,
                 signals) -> int | None:
        """Run jobs through Hydra up to the end of `task.prepare` until `cap` are prepared, into
        `batch` as (prepared job, its JobReturn); the cap, set from the first job's size when null.
        A signal waits until the job being prepared is whole and in `batch`."""
        from nnlab.train import group, task
        from nnlab.train.job_log import own_log

        while pending and (cap is None or len(batch) < cap):
            position = pending.pop(0)
            with signals.deferred():
                returns[position] = ret = self._start(configs[position])
                # else it was skipped (skip_completed), or failed and was recorded as failed
                if ret.status == JobStatus.COMPLETED and isinstance(ret.return_value, task.Job):
                    hydra = ret.hydra_cfg.hydra  # from here on, the job logs to its own file only
                    ret.return_value.log = own_log(ret.return_value.folder.path / f"{hydra.job.name}.log",
                                                   hydra.job.num)
                    batch.append((ret.return_value, ret))
                    if cap is None:
                        cap = group.max_models(ret.return_value, None)
                        log.info("max_models: %d models of this kind fit in a quarter of the free memory",
                                 cap)
                else:  # its end is now, as Hydra's run_job would say it
                    self.hydra_context.callbacks.on_job_end(config=ret.cfg, job_return=ret)
        return cap

    def _start(self, config: DictConfig) -> JobReturn:
        """Hydra's run_job up to the end of `task.prepare`, for a job that trains in a group, with
        its per-job costs cut (a group may hold a thousand jobs): the job's config is this
        launcher's own, so it is not copied; .hydra/*.yaml are written by libyaml; the job's log
        lines reach its train.log through a handler held for the call, not a logging set-up."""
        from nnlab.train import task
        from nnlab.train.job_log import AppendingFileHandler

        hydra_config = HydraConfig.instance()
        hydra_config.set_config(config)
        output_dir = Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = str(output_dir.absolute())
        hydra_config.set_config(config)  # a copy of the hydra node, as the job sees it
        ret = JobReturn(overrides=list(config.hydra.overrides.task), hydra_cfg=hydra_config.cfg,
                        working_dir=os.getcwd(), task_name=JobRuntime.instance().get("name"))
        with read_write(config), open_dict(config):
            del config["hydra"]  # the job's own config from here on (Hydra's copy is kept above)
        ret.cfg = config
        output_dir.mkdir(parents=True, exist_ok=True)
        if ret.hydra_cfg.hydra.output_subdir is not None:
            _save_yaml(ret, output_dir / str(ret.hydra_cfg.hydra.output_subdir))
        handler = AppendingFileHandler(output_dir / f"{ret.hydra_cfg.hydra.job.name}.log")
        root = logging.getLogger()
        quieted = [h for h in root.handlers if isinstance(h, logging.StreamHandler)
                   and not isinstance(h, logging.FileHandler)]
        for console in quieted:  # a line per job prepared is the job's: its train.log has it
            console.addFilter(_warnings_only)
        root.addHandler(handler)
        try:
            self.hydra_context.callbacks.on_job_start(config=config, task_function=self.task_function)
            with task.preparing_only():
                ret.return_value = self.task_function(config)
            ret.status = JobStatus.COMPLETED
        except Exception as ex:
            ret.return_value, ret.status = ex, JobStatus.FAILED
        finally:
            root.removeHandler(handler)
            for console in quieted:
                console.removeFilter(_warnings_only)
        return ret

    def _train(self, batch: list, signals) -> list:
        from nnlab.train import group, task

        jobs = [job for job, _ in batch]
        names = []
        for _, ret in batch:
            hydra = ret.hydra_cfg.hydra
            swept = [o for o in ret.overrides if o.split("=", 1)[0] in self.swept]
            names.append(f"#{hydra.job.num} ({' '.join(swept)})" if swept else f"#{hydra.job.num}")
        self.groups_trained += 1
        with task.ending_tracker_on_error(jobs):  # an error: MLflow runs end, not stay RUNNING
            return group.train_prepared(jobs, names, self.groups_trained, signals)

    def _choose_figures(self, jobs: list) -> None:
        """A group of more than `job_figures_up_to` jobs draws no figure of its own: 800 jobs spent
        6.5 of 9 minutes drawing 1600 PNGs nobody opens one by one. The sweep's report still draws
        the sweep's figures; each job still writes its probes' data files."""
        limit = self.job_figures_up_to
        drawing = [job for job in jobs if job.cfg.plots]
        if limit is None or len(jobs) <= limit or not drawing:
            return
        why = (f"a group of {len(jobs)} jobs, more than hydra.launcher.job_figures_up_to={limit}; "
               "the sweep's report draws the sweep's figures")
        for job in drawing:
            job.draws_figures = False
            job.summary["figures"] = f"not drawn: {why}"
            job.log.info("figures not drawn: %s", why)
        log.info("figures: the %d jobs of this group draw none of their own (%s); "
                 "hydra.launcher.job_figures_up_to=null draws them all", len(drawing), why.split("; ")[0])

    def _finish(self, batch: list, outcomes: list) -> None:
        from nnlab.train import group

        jobs = [job for job, _ in batch]
        rets = [ret for _, ret in batch]
        results, exit_code = group.finish_each(jobs, outcomes, lambda i, ex: _record_failure(rets[i], ex))
        for ret, result in zip(rets, results, strict=True):
            ret.return_value = result
            self.hydra_context.callbacks.on_job_end(config=ret.cfg, job_return=ret)
        if exit_code is not None:
            raise SystemExit(exit_code)


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def _record_failure(ret: JobReturn, ex: BaseException) -> None:
    """What the CLI does for a sweep job that fails (cli.run_hydra_app): record it and go on."""
    from nnlab import errors
    from nnlab.runs import record_failed_job

    hydra = ret.hydra_cfg.hydra
    record_failed_job(Path(hydra.runtime.output_dir), ex, errors.as_user_error(ex), list(ret.overrides),
                      Path(hydra.sweep.dir).resolve())


# --- composing ---------------------------------------------------------------------------------


class SweepComposer:
    """Hydra's `load_sweep_config`, deriving a job's config from the last one Hydra composed when
    only values of plain keys differ (see the module doc). Configs made for the sweeper's check
    are kept and handed to the launcher, so each job is composed or derived once."""

    def __init__(self, compose):
        self.compose = compose
        self.template = None  # (config, parsed overrides) that Hydra composed last
        self.parser = OverridesParser.create()
        self.made: dict[tuple, DictConfig] = {}

    def load(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        master, overrides = master_config, sweep_overrides
        parsed = self.parser.parse_overrides(list(overrides))
        config = _derived(*self.template, parsed, list(overrides)) if self.template else None
        if config is None:
            config = self.compose(master, list(overrides))
            self.template = (config, parsed)
            config = copy.deepcopy(config)  # the template stays as Hydra made it
        self.made[tuple(overrides)] = config
        return config

    def jobs(self, master: DictConfig, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
             ) -> list[DictConfig]:
        """Every job's config, numbered as Hydra's launchers number them."""
        configs = []
        for offset, overrides in enumerate(job_overrides):
            config = self.made.pop(tuple(overrides), None) or self.load(master, list(overrides))
            self.made.pop(tuple(overrides), None)
            with open_dict(config):
                config.hydra.job.id = initial_job_idx + offset
                config.hydra.job.num = initial_job_idx + offset
            configs.append(config)
        return configs


_MISSING = object()


def _derived(template: DictConfig, template_parsed: list[Override], parsed: list[Override],
             lines: list[str]) -> DictConfig | None:
    """`template` with the values of `parsed` where they differ, or None when only Hydra can
    compose it (other keys, a config group, adding or deleting keys, a dict: Hydra merges it into
    the node as composed without the template's own value, which the template already holds)."""
    if [o.key_or_group for o in parsed] != [o.key_or_group for o in template_parsed]:
        return None
    changes = [(new, old) for new, old in zip(parsed, template_parsed, strict=True)
               if new.input_line != old.input_line]
    choices = template.hydra.runtime.choices
    for new, _ in changes:
        key = new.key_or_group
        if (new.type != OverrideType.CHANGE or new.package is not None or key in choices
                or key.startswith("hydra.") or OmegaConf.select(template, key, default=_MISSING) is _MISSING
                or isinstance(new.value(), dict)):
            return None
    config = copy.deepcopy(template)
    with read_write(config), open_dict(config):
        for new, _ in changes:
            OmegaConf.update(config, new.key_or_group, new.value(), merge=True)  # as Hydra does
        config.hydra.overrides.task = lines
        dirname = config.hydra.job.config.override_dirname
        config.hydra.job.override_dirname = _overrides_dirname(parsed, dirname)
    return config


def _overrides_dirname(parsed: list[Override], settings) -> str:
    from hydra._internal.config_loader_impl import get_overrides_dirname

    return get_overrides_dirname(overrides=parsed, kv_sep=settings.kv_sep, item_sep=settings.item_sep,
                                 exclude_keys=settings.exclude_keys)


def _save_yaml(ret: JobReturn, folder: Path) -> None:
    """.hydra/config.yaml, hydra.yaml and overrides.yaml, as Hydra's run_job writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, node in (("config.yaml", ret.cfg), ("hydra.yaml", ret.hydra_cfg)):
        data = OmegaConf.to_container(node, resolve=False, enum_to_str=True)
        (folder / name).write_text(yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True,
                                             default_flow_style=False))
    (folder / "overrides.yaml").write_text(yaml.dump(list(ret.overrides), Dumper=_DUMPER,
                                                     default_flow_style=False))


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~3x faster than OmegaConf's
