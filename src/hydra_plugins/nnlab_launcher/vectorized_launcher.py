"""`hydra/launcher=vectorized`: a sweep's compatible jobs train together as one stacked model.

The Hydra side of it: the jobs as a template plus values (template.py), their groups planned
(nnlab.train.group), and each job of a group prepared by `task.prepare` with its own RunContext
(folder, number, overrides, its group's device slot and shared datasets), without making each
job Hydra's current config: a thousand jobs cost seconds, not a minute. Each job still gets its
folder, .hydra/, train.log and failure record as under the basic launcher; the sweeper checked
every job before the first one started. A job that trains alone runs whole through Hydra's own
`run_job`.

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

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig

from hydra_plugins.nnlab_launcher.sweeper import swept_keys
from hydra_plugins.nnlab_launcher.template import JobSpec, SweepComposer

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
        # nnlab's sweeper checks every job before launching, through this same composer, so
        # each job is composed or derived once (template.py)
        self.composer = SweepComposer(hydra_context.config_loader.load_sweep_config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from nnlab.train import group

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        # Hydra's config of this sweep (not of a job run earlier in this process): what code that
        # asks Hydra where it was started from reads (mlflow_store's default store)
        HydraConfig.instance().set_config(self.config)
        self.sweep_dir = Path(str(self.config.hydra.sweep.dir))
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        specs = self.composer.specs(self.config, job_overrides)
        numbers = [initial_job_idx + offset for offset in range(len(specs))]
        self.swept = swept_keys(job_overrides)
        plan = group.plan_of([self._compatibility(spec, n) for spec, n in zip(specs, numbers, strict=True)])
        log.info("Vectorized launcher: %d jobs, %d trained in %d group(s), %d alone; sweep output dir: %s",
                 len(specs), sum(len(g) for g in plan.groups), len(plan.groups), len(plan.alone),
                 self.sweep_dir)
        returns: dict[int, JobReturn] = {}
        for first, members in plan.order():
            if members is None:
                log.info("#%d runs alone: %s", numbers[first], plan.alone[first])
                returns[first] = self._run(specs[first].config(numbers[first]))
            else:
                returns.update(self._run_group({i: (specs[i], numbers[i]) for i in members}))
        return [returns[i] for i in range(len(specs))]

    def _compatibility(self, spec: JobSpec, number: int) -> tuple[str | None, str | None]:
        """group.compatibility of the job: its template's when the values it changes are each
        model's or each job's own (worked out once per template), else its own config's."""
        from nnlab.train import group

        template = spec.template
        if template.compatibility is None:
            template.compatibility = group.compatibility(template.config)
        changed = template.changes(spec.values)
        if all(group.carried_per_model_or_job(k) for k in template.reads(changed)):
            return template.compatibility
        return group.compatibility(spec.config(number))

    def _run(self, config: DictConfig) -> JobReturn:
        ret = run_job(hydra_context=self.hydra_context, task_function=self.task_function, config=config,
                      job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return ret

    def _run_group(self, jobs: dict[int, tuple[JobSpec, int]]) -> dict[int, JobReturn]:
        """Prepare the group's jobs (at most max_models at a time), train them as one, finish each.
        Its jobs share one copy of the data where their dataset configs agree (jobs that differ
        in lr, not in seed), and with device=auto one GPU: group k takes GPU k mod count."""
        returns, pending, cap = {}, list(jobs), self.max_models
        while pending:
            cap = self._prepare_and_train(jobs, pending, cap, returns, datasets={}, slot=self.groups_trained)
        return returns

    def _prepare_and_train(self, jobs, pending: list[int], cap: int | None, returns: dict, datasets: dict,
                           slot: int):
        """Prepare up to `cap` jobs, train them and finish each; the cap (see `_prepare`).

        Ctrl-C and SIGTERM are caught from the first job's preparation to the end of training
        (a thousand jobs take a few seconds to prepare): a stop while a job is prepared waits for
        it to be whole, and then every prepared job that has not trained ends `interrupted` after
        0 epochs, its tracker ended; the jobs not prepared are `not run`. The handlers are given
        back before the figures (and a second, different signal delivered to them then)."""
        from nnlab.runtime import StopSignals
        from nnlab.train import group

        batch, outcomes, interrupted = [], [], False
        with StopSignals() as signals:
            try:
                cap = self._prepare(jobs, pending, cap, returns, batch, signals, datasets, slot)
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

    def _prepare(self, jobs, pending: list[int], cap: int | None, returns: dict, batch: list, signals,
                 datasets: dict, slot: int) -> int | None:
        """Prepare jobs until `cap` are, into `batch` as (prepared job, its JobReturn); the cap,
        set from the first job's size when null. A signal waits until the job being prepared is
        whole and in `batch`."""
        from nnlab.train import group, task

        private = not all(group.read_only_when_built(k) for k in self._read_keys(jobs))
        while pending and (cap is None or len(batch) < cap):
            position = pending.pop(0)
            spec, number = jobs[position]
            with signals.deferred():
                returns[position] = ret = self._start(spec, number, datasets, slot, private)
                if isinstance(ret.return_value, task.Job):
                    batch.append((ret.return_value, ret))
                    if cap is None:
                        cap = group.max_models(ret.return_value, None)
                        log.info("max_models: %d models of this kind fit in a quarter of the free memory",
                                 cap)
                else:  # skipped (skip_completed), or failed and recorded as failed: its end is now
                    self.hydra_context.callbacks.on_job_end(config=ret.cfg, job_return=ret)
        return cap

    def _read_keys(self, jobs) -> set[str]:
        """The keys whose values differ between the sweep's jobs, and those that read them."""
        templates = {id(spec.template): spec.template for spec, _ in jobs.values()}
        return set().union(*(t.reads(self.swept) for t in templates.values()))

    def _start(self, spec: JobSpec, number: int, datasets: dict, slot: int, private: bool) -> JobReturn:
        """`task.prepare` of one job of a group, with its .hydra/ files, its own train.log and
        its RunContext. `private`: the job keeps a copy of its config (template.py)."""
        from nnlab.runs import fail_job
        from nnlab.train import task
        from nnlab.train.context import RunContext
        from nnlab.train.job_log import own_log

        template = spec.template
        hydra = template.config.hydra
        output_dir = spec.folder(number).absolute()
        name = str(hydra.job.name)
        with template.applied(spec.values) as applied:
            cfg = copy.deepcopy(applied) if private else applied
            ret = JobReturn(overrides=list(spec.overrides), cfg=cfg, hydra_cfg=template.config,
                            working_dir=os.getcwd(), task_name=name, status=JobStatus.COMPLETED)
            output_dir.mkdir(parents=True, exist_ok=True)
            if hydra.output_subdir is not None:
                spec.write_hydra_files(output_dir / str(hydra.output_subdir), number, output_dir)
            context = RunContext(output_dir, tuple(spec.overrides), number, self.sweep_dir, slot, datasets,
                                 own_log(output_dir / f"{name}.log", number))
            self.hydra_context.callbacks.on_job_start(config=cfg, task_function=self.task_function)
            try:
                if not spec.checked:  # another sweeper (Optuna) launched it: checked here, as the CLI does
                    spec.check(number, spec.overrides)
                prepared = task.prepare(cfg, context)
                if isinstance(prepared, task.Job) and cfg.checkpoint:
                    _ = prepared.resolved  # while the job's values are applied: its checkpoints hold it
            except Exception as ex:  # recorded as the CLI records a sweep job's failure
                fail_job(output_dir, ex, spec.overrides, self.sweep_dir)
                prepared = None
        ret.return_value = prepared.result if isinstance(prepared, task.Skipped) else prepared
        return ret

    def _train(self, batch: list, signals) -> list:
        from nnlab.train import group, task

        jobs = [job for job, _ in batch]
        names = []
        for job, ret in batch:
            swept = [o for o in ret.overrides if o.split("=", 1)[0] in self.swept]
            number = job.context.job_number
            names.append(f"#{number} ({' '.join(swept)})" if swept else f"#{number}")
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
        from nnlab.runs import fail_job
        from nnlab.train import group

        jobs = [job for job, _ in batch]
        rets = [ret for _, ret in batch]

        def failed(position: int, ex: BaseException) -> None:
            context = jobs[position].context
            fail_job(context.output_dir, ex, list(context.overrides), self.sweep_dir)

        results, exit_code = group.finish_each(jobs, outcomes, failed)
        for ret, result in zip(rets, results, strict=True):
            ret.return_value = result
            self.hydra_context.callbacks.on_job_end(config=ret.cfg, job_return=ret)
        if exit_code is not None:
            raise SystemExit(exit_code)

