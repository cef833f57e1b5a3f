"""Which jobs of a sweep train together, and how a group of prepared jobs is trained and finished
(`hydra/launcher=vectorized`; the Hydra side is src/hydra_plugins/nnlab_launcher/).

Grouping rule: jobs train as one stacked model when their configs agree on everything except
what each model carries on its own (PER_MODEL: seed, and so initialisation, data order, dropout
masks and toy data whose dataset.seed follows the seed; learning rate, weight decay, L1, init
scheme, scheduler parameters, early stopping), and except what only changes a job's own outputs
(PER_JOB: plots and their format, checkpoints, tracker, progress, objective). Models with
BatchNorm, datasets with per-batch augmentation, adversarial training, resumed runs and schedulers
other than nnlab's own (which move only the rate) train alone, with the reason in the log. A group
holds at most `max_models` models (null: as many as fit in a quarter of the free memory, estimated
from the first model's parameters and activations).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from signal import SIGINT

import torch
from omegaconf import DictConfig, OmegaConf

from nnlab import plots
from nnlab.errors import as_user_error
from nnlab.models.modes import evaluating
from nnlab.runs import RUNNING, dotted
from nnlab.runtime import StopSignals
from nnlab.train import task
from nnlab.train.stack import StackedTrainer, stackable

log = logging.getLogger("nnlab.train.group")

PER_MODEL = ("seed", "dataset.seed", "optimizer.lr", "optimizer.weight_decay", "l1", "model.init",
             "early_stopping.patience", "early_stopping.min_delta")
PER_MODEL_UNDER = ("scheduler.",)  # the schedule's parameters (its kind, scheduler._target_, is shared)
PER_JOB = ("plots", "checkpoint", "progress", "objective", "skip_completed")
# Optimizers whose step is linear in the learning rate (so one step at lr 1, scaled per model, is
# each model's own step): torch's. Playground's (L1 links that die when a step crosses zero) is not.
STACKABLE_OPTIMIZERS = ("torch.optim.SGD", "torch.optim.Adam", "torch.optim.AdamW", "torch.optim.RMSprop",
                        "torch.optim.Adadelta", "torch.optim.Adagrad")
PER_JOB_UNDER = ("logger.", "figures.")
# Schedulers that move only the learning rate, once an epoch: a stack reads each job's rate from
# its own optimizer, and nothing else (momentum, betas: OneCycleLR's, CyclicLR's) reaches the
# stack's one optimizer. nnlab's own (configs/scheduler/); None: a constant rate.
STACKABLE_SCHEDULERS = (None, "torch.optim.lr_scheduler.StepLR", "torch.optim.lr_scheduler.ExponentialLR",
                        "torch.optim.lr_scheduler.CosineAnnealingLR")


# --- planning, from composed configs -----------------------------------------------------------


def compatibility(cfg: DictConfig) -> tuple[str | None, str | None]:
    """(the key that jobs training together share, None) or (None, why this job trains alone)."""
    if cfg.get("resume"):
        return None, "resume= continues a run on its own"
    if cfg.get("adversarial"):
        return None, "adversarial training attacks every batch of each model: not stacked"
    optimizer = cfg.get("optimizer", {}).get("_target_")
    if optimizer not in STACKABLE_OPTIMIZERS:
        return None, (f"its optimizer ({optimizer}) is not known to step linearly in the learning "
                      f"rate, as stacking needs (torch's SGD, Adam, AdamW, RMSprop, Adadelta, Adagrad)")
    scheduler = (cfg.get("scheduler") or {}).get("_target_")
    if scheduler not in STACKABLE_SCHEDULERS:
        return None, (f"its scheduler ({scheduler}) is not one a stack follows: a stack takes only "
                      f"each job's learning rate from it, as nnlab's StepLR, ExponentialLR and "
                      f"CosineAnnealingLR (scheduler=step, exponential, cosine) set it")
    values = OmegaConf.to_container(cfg, resolve=False)
    values.pop("hydra", None)  # Hydra's own settings (and the run folder) are each job's
    try:
        values = OmegaConf.to_container(OmegaConf.create(values), resolve=True)
    except Exception as ex:  # the job's own run reports the problem
        return None, f"its config does not resolve ({type(ex).__name__}: {ex})"
    shared = {k: v for k, v in dotted(values).items() if not carried_per_model_or_job(k)}
    return json.dumps(shared, sort_keys=True, default=str), None


def carried_per_model_or_job(key: str) -> bool:
    """Whether jobs that differ in `key` may still train in one group."""
    if key.endswith(("._target_", "._partial_")) and key.startswith(PER_MODEL_UNDER):
        return False  # the kind of schedule is shared; only its parameters are each model's
    return key in PER_MODEL or key in PER_JOB or key.startswith(PER_MODEL_UNDER + PER_JOB_UNDER)


def read_only_when_built(key: str) -> bool:
    """Whether `key` is read only while a job's objects are built (its model, data, optimizer,
    schedule and monitor): jobs differing only in such keys may share one config afterwards."""
    if key.endswith(("._target_", "._partial_")) and key.startswith(PER_MODEL_UNDER):
        return False
    return key in PER_MODEL or key.startswith(PER_MODEL_UNDER)


@dataclass
class Plan:
    groups: list[list[int]] = field(default_factory=list)  # job positions training together
    alone: dict[int, str] = field(default_factory=dict)  # job position -> why it runs alone

    def order(self) -> list[tuple[int, list[int] | None]]:
        """(first job, group) and (job, None) for the ones alone, in the order of the jobs."""
        items = [(group[0], group) for group in self.groups] + [(i, None) for i in self.alone]
        return sorted(items, key=lambda item: item[0])


def plan(configs: list[DictConfig]) -> Plan:
    return plan_of([compatibility(cfg) for cfg in configs])


def plan_of(compatibilities: list[tuple[str | None, str | None]]) -> Plan:
    """The groups of jobs whose `compatibility` keys agree, and why each other job runs alone."""
    by_key: dict[str, list[int]] = {}
    result = Plan()
    for position, (key, reason) in enumerate(compatibilities):
        if key is None:
            result.alone[position] = reason
        else:
            by_key.setdefault(key, []).append(position)
    for members in by_key.values():
        if len(members) == 1:
            result.alone[members[0]] = "no other job of the sweep shares its settings (only seed, " \
                                       "lr, weight decay, l1, init, schedule and early stopping may differ)"
        else:
            result.groups.append(members)
    return result


# --- training a group of prepared jobs ---------------------------------------------------------


def why_alone(job: task.Job, first: task.Job | None) -> str | None:
    """Why a prepared job cannot join the stack of the group's first stackable job `first` (None:
    it is the first), or None when it can."""
    reason = stackable(job.parts.model)
    if reason:
        return reason
    if job.parts.batches.train.augment is not None:
        return "its data is augmented per batch from its own generator: not stacked"
    if first is not None and _signature(job.parts.model) != _signature(first.parts.model):
        return "its model's parameters differ in names or shapes from the group's"
    if first is not None and job.device != first.device:
        return f"it runs on {job.device}, the group on {first.device}"
    return None


def _signature(model: torch.nn.Module) -> list:
    return [type(model).__name__] + [(n, tuple(p.shape)) for n, p in model.named_parameters()] + [
        type(m).__name__ for m in model.modules()]


def stacked_trainer(jobs: list[task.Job]) -> StackedTrainer:
    parts = [job.parts for job in jobs]
    return StackedTrainer([p.learner for p in parts], [p.train_step.l1 for p in parts],
                          parts[0].loss_fn, [p.batches for p in parts], jobs[0].device)


def max_models(job: task.Job, setting: int | None) -> int:
    """How many models of `job`'s kind one group may hold: `setting`, or with null, as many as
    fit in a quarter of the memory free on its device (estimated: each model's parameters six
    times over, for weights, gradients, optimizer state and the step's copies, plus its
    activations on a batch, kept for the backward pass)."""
    if setting is not None:
        return int(setting)
    per_model = 4 * (6 * job.summary["n_params"] + 3 * job.cfg.batch_size * _activations(job))
    return max(1, free_memory(job.device) // 4 // max(1, per_model))


def _activations(job: task.Job) -> int:
    """Numbers each sample produces on its way through the model (one forward pass, counted)."""
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, out: sizes.append(out.numel()))
             for m in job.parts.model.modules() if not list(m.children())]
    try:
        x, _ = next(iter(job.parts.batches.evaluate.get("test") or job.parts.batches.train))
        with torch.no_grad(), evaluating(job.parts.model):  # BatchNorm refuses one sample in training
            job.parts.model(x[:1])
    finally:
        for hook in hooks:
            hook.remove()
    return sum(sizes)


def free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


def train_prepared(jobs: list[task.Job], names: list[str], group_id: int,
                   signals: StopSignals | None = None) -> list[task.Outcome]:
    """Train prepared jobs: together when they can, each alone otherwise (the log says why).
    Each job's summary.json records its place: vectorized = {group, position, size}. A stop
    (Ctrl-C, SIGTERM; `signals`: the caller's handlers, else each training's own) ends the jobs
    not trained yet `interrupted` after 0 epochs (`stopped`)."""
    outcomes: dict[int, task.Outcome] = {}
    try:
        _train_prepared(jobs, names, group_id, signals, outcomes)
    except KeyboardInterrupt:  # between two trainings
        return stopped(jobs, outcomes, signals.exit_code if signals is not None else 128 + SIGINT)
    return [outcomes[i] for i in range(len(jobs))]


def _train_prepared(jobs: list[task.Job], names: list[str], group_id: int, signals,
                    outcomes: dict[int, task.Outcome]) -> None:
    # Jobs of a continued sweep may start from different epochs (each from its own last.pt): a
    # stack trains one epoch range, so there is a stack per first epoch.
    stacks: dict[int, list[int]] = {}
    for position, job in enumerate(jobs):
        same_start = stacks.get(job.start_epoch)
        reason = why_alone(job, jobs[same_start[0]] if same_start else None)
        if reason is None:
            stacks.setdefault(job.start_epoch, []).append(position)
        else:
            log.info("%s trains alone: %s", names[position], reason)
            outcomes[position] = task.train([job], signals=signals)[0]
            if outcomes[position].status == "interrupted":  # the rest of the group never trains
                outcomes.update(enumerate(stopped(jobs, outcomes, outcomes[position].exit_code)))
                return
    if len(stacks) > 1:
        log.info("the group's jobs continue from %d different epochs: a stack for each (%s)", len(stacks),
                 ", ".join(f"{len(p)} from epoch {start}" for start, p in stacks.items()))
    for together in stacks.values():
        _train_stack(jobs, names, group_id, signals, outcomes, together)
        if any(outcomes[i].status == "interrupted" for i in together):
            outcomes.update(enumerate(stopped(jobs, outcomes, outcomes[together[0]].exit_code)))
            return


def _train_stack(jobs: list[task.Job], names: list[str], group_id: int, signals,
                 outcomes: dict[int, task.Outcome], together: list[int]) -> None:
    if len(together) == 1:
        outcomes[together[0]] = task.train([jobs[together[0]]], signals=signals)[0]
    elif together:
        group = [jobs[i] for i in together]
        for position, job in enumerate(group):
            job.summary["vectorized"] = {"group": group_id, "position": position, "size": len(group)}
            job.log.info("trains as model %d of %d in one stacked model (group %d) on %s", position,
                         len(group), group_id, job.device)
        log.info("training %d models as one stacked model on %s: %s", len(group), group[0].device,
                 listed([names[i] for i in together]))
        for i, outcome in zip(together, task.train(group, trainer=stacked_trainer, signals=signals),
                              strict=True):
            outcomes[i] = outcome
            if outcome.status == "diverged":
                for logger in (log, jobs[i].log):
                    logger.warning("%s diverged (%s); it was frozen there, the others went on",
                                   names[i], outcome.failure)


def stopped(jobs: list[task.Job], known: dict[int, task.Outcome], exit_code: int) -> list[task.Outcome]:
    """How each prepared job ends when a stop came outside its training: its outcome when it has
    one (`known`, or the status its summary.json already records), else, still `running`, it
    never trained: `interrupted` after 0 epochs (task.not_trained)."""
    out, untrained = {}, []
    for i, job in enumerate(jobs):
        status = job.summary.get("status")
        if i in known:
            out[i] = known[i]
        elif status != RUNNING:  # trained, its record written, and stopped before it was handed back
            out[i] = task.Outcome(status, failure=job.summary.get("error"),
                                  exit_code=exit_code if status == "interrupted" else 0)
        else:
            untrained.append(i)
    out.update(zip(untrained, task.not_trained([jobs[i] for i in untrained], exit_code), strict=True))
    return [out[i] for i in range(len(jobs))]


def listed(names: list[str], most: int = 6) -> str:
    """`names` joined, the middle of a long list left out: a group of 800 is one short line (each
    job's train.log says it was in the group)."""
    if len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most - 2]) + f", ... ({len(names) - most + 1} more), " + names[-1]


def finish_each(jobs: list[task.Job], outcomes: list[task.Outcome],
                on_error: Callable[[int, BaseException], None]) -> tuple[list, int | None]:
    """`task.finish` for every job: (their results, the exit code of an interruption or None).
    A job that ends in an error is handed to `on_error` and the others still finish."""
    results, exit_code = [], None
    with plots.rendering_in_parallel() if len(jobs) > 1 else contextlib.nullcontext():
        for position, (job, outcome) in enumerate(zip(jobs, outcomes, strict=True)):
            result, code = _finish(job, outcome, lambda ex, position=position: on_error(position, ex))
            results.append(result)
            exit_code = exit_code if code is None else code
    return results, exit_code


def _finish(job: task.Job, outcome: task.Outcome, on_error) -> tuple[object, int | None]:
    try:
        with task.ending_tracker_on_error([job]):
            return task.finish(job, outcome), None
    except SystemExit as ex:  # interrupted: its record is whole; the sweep stops after the group
        return None, ex.code if isinstance(ex.code, int) else 1
    except Exception as ex:
        job.log.error("job failed: %s", as_user_error(ex) or ex)  # its train.log, as a solo run's
        on_error(ex)
        return None, None
