"""`nnlab train`: compose -> instantiate at the edge -> fit -> write the run folder.

Config nodes become plain PyTorch objects in build.py; the loop (`engine.train_models`) never
sees a config. The run folder gets metrics.csv (a row per epoch), summary.json,
checkpoints/{best,last}.pt and plots/.
A run starts fresh, continues an earlier one (`resume=RUN_DIR`), or, in a sweep continued with
`skip_completed=true` (train/continuation.py), continues its folder's interrupted run from its
last checkpoint.

`run` is three steps: `prepare` (folder, objects, records at the start), `train` and `finish`
(figures, how it ended). `prepare` is given a RunContext (train/context.py: the folder, the job's
number and overrides); `run` makes it from Hydra's config. `train` takes a list of prepared jobs:
a run of its own is a list of one, its records written by records.EpochRecords; the vectorized
launcher prepares a sweep's compatible jobs one by one, trains them together as one stacked model
(train/group.py), their records kept as tensors (group_metrics.py, group_checkpoints.py), and
finishes each.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nnlab import plots
from nnlab.errors import UserError
from nnlab.probes import ProbeContext
from nnlab.runs import RunFolder, is_finished
from nnlab.runtime import StopSignals, resolve_device, seed_everything, show_progress
from nnlab.train import record
from nnlab.train.build import Parts, build
from nnlab.train.context import RunContext
from nnlab.train.continuation import RESUMABLE
from nnlab.train.engine import Hooks, Member, SoloTrainer, train_models
from nnlab.train.group_checkpoints import GroupCheckpoints
from nnlab.train.group_metrics import GroupMetrics
from nnlab.train.records import EpochRecords, log_every
from nnlab.train.resume import (
    check_epochs_left,
    check_resumable,
    cut_metrics_back,
    load_last_state,
    restore,
    resumed_config,
)

log = logging.getLogger("nnlab.train")

# A group of models trained without a progress bar (stdout not a terminal) says how it goes on the
# console this often, and after its last epoch (engine._GroupReport)
GROUP_REPORT_EVERY_S = 15.0

__all__ = ["build", "objective", "run"]  # build: for scripts and tests that want the objects


def run(cfg: DictConfig, context: RunContext | None = None) -> dict:
    """Train the run `cfg` describes into its folder (`context`; by default the job Hydra runs
    now); returns its summary (or its objective)."""
    job = prepare(cfg, context or RunContext.from_hydra())
    if isinstance(job, Skipped):
        return job.result
    with ending_tracker_on_error([job]):
        [outcome] = train([job])
        return finish(job, outcome)


@dataclass
class Job:
    """A run on its way through training: its config, folder, objects and records."""

    cfg: DictConfig
    context: RunContext
    folder: RunFolder
    parts: Parts
    device: torch.device
    start_epoch: int
    summary: dict
    log: logging.Logger = log  # a job trained in a group logs to its own train.log
    tracker: object | None = None  # logger=...: metrics go there too (train/trackers.py)
    draws_figures: bool = True  # False: plots=true, but its group is too large to draw each job's

    @functools.cached_property
    def resolved(self) -> dict:
        """The config as plain values, resolved once: for the tracker's params and checkpoints."""
        return OmegaConf.to_container(self.cfg, resolve=True)


class Skipped(NamedTuple):
    result: object  # skip_completed: what the completed earlier run returns


def prepare(cfg: DictConfig, context: RunContext) -> Job | Skipped:
    """Everything before the first epoch: the folder, the objects, summary.json `running`."""
    folder, cfg, resuming = choose_run_folder(cfg, context)
    checkpoint = last_checkpoint(folder, cfg) if resuming else None
    if not resuming and cfg.skip_completed:
        previous, checkpoint = continuing(folder, cfg, context.log)
        if previous is not None:
            context.log.info("skip_completed: %s already completed; skipped", folder.path)
            return Skipped(objective(cfg, previous))
        resuming = checkpoint is not None
    if not resuming:
        refuse_a_used_folder(folder)

    device = set_up_runtime(cfg, context)
    parts = build(cfg, device, context.datasets)
    start_epoch, summary = continue_from(checkpoint, folder, parts) if resuming else (1, {})
    summary = start_record(folder, cfg, parts, device, summary, start_epoch, context)
    start_probes(parts, cfg, start_epoch, device, folder)
    job = Job(cfg, context, folder, parts, device, start_epoch, summary, log=context.log)
    job.tracker = start_tracker(job)
    return job


def finish(job: Job, outcome: Outcome):
    """Figures, the tracker's end, then how the run ended: its result, or an error with its exit
    code. A job stopped before it trained gets no figures: its probes would analyse an untrained
    model."""
    if outcome.trained:
        write_figures(job.folder, job.parts, job.device, job.cfg, outcome.status, job.draws_figures)
    end_tracker(job, outcome.status)
    return conclude(job, outcome)


# --- before training ---------------------------------------------------------------------------


def choose_run_folder(cfg: DictConfig, context: RunContext) -> tuple[RunFolder, DictConfig, bool]:
    """(the run folder, the config to run, whether it resumes). A fresh run writes into its
    context's output folder; `resume=RUN_DIR` continues in RUN_DIR with that run's own config."""
    if not cfg.get("resume"):
        return RunFolder(context.output_dir), cfg, False
    folder = check_resumable(cfg.resume)
    return folder, resumed_config(folder, list(context.overrides)), True


def continuing(folder: RunFolder, cfg: DictConfig, log: logging.Logger = log
               ) -> tuple[dict | None, dict | None]:
    """For skip_completed (a sweep continued into its folder, train/continuation.py): (the summary
    of a completed earlier run in this folder, None), or (None, the last checkpoint of an
    interrupted earlier run, to continue from as `resume=` does), or (None, None): start afresh,
    any earlier attempt moved to attempts/<n>/ (failed, diverged, or stopped before a checkpoint)."""
    if not folder.holds_a_run():
        return None, None
    summary = folder.read_summary() or {}
    if is_finished(summary):
        return summary, None
    status = summary.get("status", "unknown")
    if status in RESUMABLE and (folder.checkpoints / "last.pt").is_file():
        try:
            state = load_last_state(folder)
        except UserError as ex:
            log.warning("skip_completed: %s; starting afresh", ex)
        else:
            if state["epoch"] < cfg.epochs:
                log.info("skip_completed: %s (%s) continues from its last checkpoint, epoch %d",
                         folder.path, status, state["epoch"])
                return None, state
    attempts = folder.path / "attempts"
    target = attempts / str(len(list(attempts.glob("*"))) + 1 if attempts.exists() else 1)
    target.mkdir(parents=True)
    for name in ("metrics.csv", "summary.json", "checkpoints", "plots", "tensorboard"):
        if (folder.path / name).exists():
            (folder.path / name).rename(target / name)
    log.info("skip_completed: earlier attempt (%s) moved to %s", status, target)
    return None, None


def refuse_a_used_folder(folder: RunFolder) -> None:
    if folder.holds_a_run():
        raise UserError(f"{folder.path} already holds a run; pick a new hydra.run.dir "
                        "(the default is a fresh timestamped folder), or resume it with resume=DIR")


def last_checkpoint(folder: RunFolder, cfg: DictConfig) -> dict:
    """checkpoints/last.pt of the run to resume, once it is known to leave epochs to train."""
    state = load_last_state(folder)
    check_epochs_left(folder, state["epoch"], cfg.epochs)
    return state


def start_tracker(job: Job):
    """The run's tracker (logger=...), begun: an MLflow run is created, or continued on resume=,
    and summary.json says where it is."""
    cfg = job.cfg
    if not cfg.logger.get("_target_"):
        return None
    tracker = instantiate(cfg.logger, run_dir=job.folder.path)
    if hasattr(tracker, "start"):
        context = job.context
        in_sweep = context.in_sweep and not cfg.get("resume")
        tracker.start(job.resolved, job.summary, list(context.overrides),
                      context.sweep_dir if in_sweep else None)
        job.summary["tracker"] = tracker.record()
        job.folder.write_summary(job.summary)
    return tracker


def end_tracker(job: Job, status: str) -> None:
    """The tracker's last metrics, artifacts and status; summary.json records a tracker that failed."""
    if job.tracker is None:
        return
    job.tracker.end(status)
    if hasattr(job.tracker, "record") and job.summary.get("tracker") != job.tracker.record():
        job.summary["tracker"] = job.tracker.record()
        job.folder.write_summary(job.summary)


@contextlib.contextmanager
def ending_tracker_on_error(jobs: list[Job]):
    """An error or interruption between the first epoch and the end: the jobs' trackers end
    `failed` or `interrupted` (an MLflow run stays RUNNING otherwise)."""
    try:
        yield
    except BaseException as ex:
        status = "interrupted" if isinstance(ex, KeyboardInterrupt | SystemExit) else "failed"
        for job in jobs:
            if job.tracker is not None:
                job.tracker.end(status)
        raise


def set_up_runtime(cfg: DictConfig, context: RunContext) -> torch.device:
    """The run's device (device=auto in a sweep: GPU `context.slot` mod the GPU count; the jobs
    of a group share their group's slot), seeds and threads."""
    device = resolve_device(cfg.device, context.slot)
    seed_everything(cfg.seed, cfg.deterministic)
    if cfg.cpu_threads is not None:
        torch.set_num_threads(cfg.cpu_threads)
    return device


def continue_from(checkpoint: dict, folder: RunFolder, parts: Parts) -> tuple[int, dict]:
    """Put the checkpoint's states into `parts`; (the first epoch to train, the run's summary)."""
    restore(parts, checkpoint, folder)
    epoch = checkpoint["epoch"]
    cut_metrics_back(folder, epoch)
    summary = folder.read_summary() or {}
    summary["resumed_at_epochs"] = summary.get("resumed_at_epochs", []) + [epoch]
    return epoch + 1, summary


def start_record(folder: RunFolder, cfg: DictConfig, parts: Parts, device, summary: dict,
                 start_epoch: int, context: RunContext) -> dict:
    """Create the folder and write summary.json with status `running`."""
    folder.create()
    summary = record.summary_at_start(summary, folder, cfg, parts, device, list(context.overrides))
    folder.write_summary(summary)
    resumed_after = start_epoch - 1 if start_epoch > 1 else None
    context.log.info("%s: %s on %s (%d parameters), %s on %s", folder.path, summary["model"],
                     summary["dataset"], summary["n_params"],
                     record.epoch_span(start_epoch, cfg.epochs, resumed_after), device)
    return summary


def start_probes(parts: Parts, cfg: DictConfig, start_epoch: int, device, folder: RunFolder) -> None:
    for probe in parts.probes.values():
        probe.start(ProbeContext(parts.data, cfg.epochs, start_epoch, device, folder.path, parts.model))


# --- training ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # completed, early_stopped, diverged or interrupted
    failure: Exception | None = None  # what made a run diverge
    exit_code: int = 0  # 128 + the signal that interrupted it
    trained: bool = True  # False: stopped before its training began (nothing to draw or probe)


def train(jobs: list[Job], trainer: Callable | None = None,
          signals: StopSignals | None = None) -> list[Outcome]:
    """Train the jobs (one, or a group that `trainer(jobs)` trains as one stacked model), with
    each job's bookkeeping: metrics, checkpoints and tracker after every epoch (held together
    against Ctrl-C; a group's metrics as tensors, written in bulk: train/group_metrics.py), and
    summary.json at the end, whatever the end was. The signal handlers installed here are given
    back on every way out; a caller that holds its own (`signals`: the vectorized launcher, from
    the jobs' preparation on) keeps them."""
    cfg, start_epoch = jobs[0].cfg, jobs[0].start_epoch
    epochs = range(start_epoch, cfg.epochs + 1)
    started = time.perf_counter()
    records: list[EpochRecords] = []
    metrics: GroupMetrics | None = None
    group: GroupRecords | None = None
    outcomes: list[Outcome] | None = None
    looping = False
    with contextlib.nullcontext(signals) if signals is not None else StopSignals() as signals:
        try:
            # built inside the `try`: a signal while the (stacked) trainer and the records are made
            # ends the jobs `interrupted` as one during an epoch does
            trainer = trainer(jobs) if trainer is not None else solo_trainer(jobs[0])
            if len(jobs) > 1:
                metrics = GroupMetrics(jobs, epochs, log_every(cfg))
                group = GroupRecords(metrics, GroupCheckpoints(jobs, trainer, metrics)
                                     if any(job.cfg.checkpoint for job in jobs) else None)
            records = [EpochRecords(job, trainer, in_group=metrics is not None) for job in jobs]
            members = [Member(job.parts.monitor, job.parts.model,
                              rec.on_epoch_end if rec.per_epoch else None, list(job.parts.probes.values()))
                       for job, rec in zip(jobs, records, strict=True)]
            hooks = Hooks(step_guard=signals.deferred, progress=show_progress(cfg.progress),
                          report_every_s=GROUP_REPORT_EVERY_S)
            looping = True
            endings = train_models(trainer, members, epochs, hooks, records=group)
            outcomes = [Outcome(ending.status, failure=ending.failure) for ending in endings]
        except KeyboardInterrupt:
            outcomes = [Outcome("interrupted", exit_code=signals.exit_code, trained=looping) for _ in jobs]
        finally:
            # shielded: a process pool's SIGTERM right after the terminal's SIGINT must not cut
            # this short and leave summary.json saying `running`; the runs' records are written
            # whole, whatever arrives now (an error other than a stop is the caller's to record)
            with signals.shielded():
                for rec in records:
                    rec.close()
                if outcomes is not None:
                    write_results(jobs, records, outcomes, time.perf_counter() - started, group)
    return outcomes


def write_results(jobs: list[Job], records: list[EpochRecords], outcomes: list[Outcome],
                  seconds: float, group: GroupRecords | None = None) -> None:
    """Each job's summary.json at the end: how it ended, its metrics, its time. `records` is
    empty when the jobs were stopped before their records were made."""
    if group is not None:
        group.flush()
    for index, (job, outcome) in enumerate(zip(jobs, outcomes, strict=True)):
        if index < len(records):
            records[index].flush()
        # a group's time is the group's: each job records its share (a report summing the
        # jobs' times counts it once) and the group's whole time under `vectorized`
        closing = group.metrics.closing(index) if group is not None else None
        job.summary.update(record.results(job.folder, job.parts.monitor, outcome.status,
                                          seconds / len(jobs), closing))
        if len(jobs) > 1:
            job.summary.setdefault("vectorized", {})["group_wall_time_s"] = round(seconds, 3)
        if outcome.failure is not None:
            job.summary["error"] = str(outcome.failure)
        job.folder.write_summary(job.summary)


class GroupRecords(NamedTuple):
    """What a group of jobs trained as one writes after each epoch, for all its jobs at once."""

    metrics: GroupMetrics
    checkpoints: GroupCheckpoints | None

    def after_epoch(self, epoch: int, values: dict, training, improved, monitors) -> None:
        self.metrics.after_epoch(epoch, values, training, improved)
        if self.checkpoints is not None:
            self.checkpoints.after_epoch(epoch, values, training, improved, monitors)

    def flush(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.flush()  # metrics first, then the checkpoints
        self.metrics.flush()


def not_trained(jobs: list[Job], exit_code: int) -> list[Outcome]:
    """Prepared jobs that a stop (Ctrl-C, SIGTERM) reached before they trained: each summary.json
    ends `interrupted` after 0 epochs, and `finish` ends their trackers, drawing and probing
    nothing."""
    outcomes = [Outcome("interrupted", exit_code=exit_code, trained=False) for _ in jobs]
    for job, outcome in zip(jobs, outcomes, strict=True):
        write_results([job], [], [outcome], 0.0)
    return outcomes


def solo_trainer(job: Job) -> SoloTrainer:
    parts = job.parts
    return SoloTrainer(parts.learner, parts.train_step, parts.loss_fn, parts.batches)


# --- after training ----------------------------------------------------------------------------


def write_figures(folder: RunFolder, parts: Parts, device, cfg: DictConfig, status: str,
                  allowed: bool = True) -> None:
    """Learning curves, the decision boundary and the probes' files (their figures only with
    plots=true, and when `allowed`). Probes analyse the final model, which a diverged run does not
    have (NaNs)."""
    draw = bool(cfg.plots) and allowed
    with plots.drawing(draw):
        if draw:
            record.write_plots(folder, parts, device, cfg)
        if status != "diverged":
            for probe in parts.probes.values():
                probe.finish()


def conclude(job: Job, outcome: Outcome):
    """Say how the run ended: a result for the caller, or an error with the run's exit code."""
    cfg, folder, summary, log = job.cfg, job.folder, job.summary, job.log
    if outcome.status == "diverged":
        raise UserError(f"run diverged: {outcome.failure}; lower optimizer.lr or the regularisation "
                        f"rate (metrics and checkpoints up to then are kept in {folder.path})", exit_code=3)
    if outcome.status == "interrupted":
        if not job.context.in_sweep:
            log.warning("interrupted; metrics and the last checkpoint are kept in %s; continue with "
                        "`nnlab train resume=%s`", folder.path, folder.path)
        else:  # the sweeper prints the command that continues the whole sweep
            log.warning("interrupted; metrics and the last checkpoint are kept in %s", folder.path)
        raise SystemExit(outcome.exit_code)
    log.info("%s after %d epochs: %s -> %s", outcome.status, summary["epochs_completed"],
             record.format_metrics(summary["final"]), folder.path)
    return objective(cfg, summary)


def objective(cfg: DictConfig, summary: dict):
    """What a sweeper gets back: the summary, or with `objective=final.val_acc` that number
    (Optuna maximises or minimises it)."""
    if not cfg.get("objective"):
        return summary
    section, _, key = str(cfg.objective).partition(".")
    value = summary.get(section, {}).get(key) if isinstance(summary.get(section), dict) else None
    if value is None:
        raise UserError(f"objective={cfg.objective}: not in this run's summary; use final.<metric> or "
                        f"best.<metric> with a metrics.csv column such as final.val_acc")
    return float(value)
