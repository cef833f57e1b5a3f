"""checkpoints/best.pt and last.pt of the M jobs of a group trained as one, without a copy of each
job's weights every epoch.

A run of its own keeps its newest states in memory as copies and writes them every few seconds
(runs.CheckpointWriter). For a group that was a Python call and a clone of every job's weights
and optimizer state per epoch. Here:

- each job's best weights, optimizer state and metrics row are kept in stacked tensors, taken
  with `torch.where` from the live stack at each epoch where some job improved; only a job's
  schedule (its own object) is copied then, for the jobs that improved. best.pt is built from
  them when it is written, its random states and probe states those of the write (a run resumes
  from last.pt, never from best.pt);
- last.pt is built when it is written: every few seconds (sized so that writing stays near a
  tenth of the time), when a job stops early (its state is then its last epoch's), and at the end.
  A diverged job's last.pt stays at its last write: the epochs after it are cut from its
  metrics.csv when it is resumed, as for any run.

Both hold what a run of its own writes (resume.checkpoint_state), so `resume=` continues a job of
a group alone, and `nnlab attack run=` reads its best weights.
"""

from __future__ import annotations

import time

import torch

from nnlab.runs import snapshot, turn_interval
from nnlab.train.resume import checkpoint_state
from nnlab.train.stack import per_slice


class GroupCheckpoints:
    def __init__(self, jobs: list, trainer, metrics, min_interval_s: float = 2.0):
        self.jobs, self.trainer, self.metrics = jobs, trainer, metrics
        self.on = torch.tensor([bool(job.cfg.checkpoint) for job in jobs])
        self.best_params: dict | None = None  # name -> [M, ...] weights at each job's best epoch
        self.best_state: dict | None = None  # position -> {key: [M, ...]}: the optimizer's, then
        self.best_row: dict | None = None  # metric -> [M]: each job's row at its best epoch
        self.best_epoch: torch.Tensor | None = None
        self.scheduled = any(job.parts.learner.scheduler is not None for job in jobs)
        self.best_schedule: dict[int, dict] = {}  # job -> its schedule's state at its best epoch
        self.best_due = torch.zeros(len(jobs), dtype=torch.bool)  # best.pt newer than the file
        self.shared: set[tuple] = set()  # (position, key): optimizer state all models share
        self.active = torch.ones(len(jobs), dtype=torch.bool)  # training at the last epoch
        self.newest = torch.zeros(len(jobs), dtype=torch.long)  # each job's newest epoch
        self.written = torch.zeros(len(jobs), dtype=torch.long)  # ... in its last.pt
        self.min_interval_s = self.interval_s = min_interval_s
        self.last_write = time.monotonic()
        self.monitors = None

    def after_epoch(self, epoch: int, values: dict, training: torch.Tensor, improved: torch.Tensor,
                    monitors) -> None:
        self.monitors = monitors
        active = training & self.on
        # a job that left the stack before this epoch's records diverged: its weights are those
        # of its last finite step, not of an epoch's end; its last.pt stays at its last write
        diverged = self.active & ~training
        self.written = torch.where(diverged, self.newest, self.written)
        self.active = training.clone()
        self.newest = torch.where(active, epoch, self.newest)
        better = improved & self.on
        if bool(better.any()):
            self._keep_best(epoch, values, better)
        stopping = (monitors.should_stop() & active).nonzero().flatten().tolist()
        if stopping:  # its state is this epoch's: the stack moves its optimizer state on
            self.flush(stopping)
        if time.monotonic() - self.last_write >= self.interval_s:
            self.flush()

    def _keep_best(self, epoch: int, values: dict, better: torch.Tensor) -> None:
        """torch.where: the weights, optimizer state and metrics row of the jobs in `better`, as
        [M, ...] tensors; a schedule's state (a job's own object) for those jobs that have one."""
        trainer = self.trainer
        with torch.no_grad():
            if self.best_params is None:
                self.best_params = {k: p.detach().clone() for k, p in trainer.params.items()}
                self.best_state = {}
                self.best_row = {key: column.clone() for key, column in values.items()}
                self.best_epoch = torch.zeros(len(self.jobs), dtype=torch.long)
            for name, p in trainer.params.items():
                kept = self.best_params[name]
                self.best_params[name] = torch.where(per_slice(better, p), p.detach(), kept)
            for position, param in enumerate(trainer.params.values()):
                kept = self.best_state.setdefault(position, {})
                for key, value in (trainer.optimizer.state.get(param) or {}).items():
                    if not torch.is_tensor(value):
                        kept[key] = value
                        continue
                    if value.shape != param.shape:  # shared by every model (a step count): per job
                        value = value.expand(len(self.jobs), *value.shape)
                        self.shared.add((position, key))
                    kept[key] = torch.where(per_slice(better, value), value,
                                            kept[key] if key in kept else value)
            for key, column in values.items():
                self.best_row[key] = torch.where(better, column, self.best_row[key])
            self.best_epoch = torch.where(better, epoch, self.best_epoch)
        for i in better.nonzero().flatten().tolist() if self.scheduled else ():
            self.best_schedule[i] = snapshot(self.jobs[i].parts.learner.scheduler.state_dict())
        self.best_due |= better

    def flush(self, only: list[int] | None = None) -> None:
        """Write last.pt (and best.pt where it changed) of every job, or of `only`: metrics
        first, so they never lag behind a checkpoint."""
        due = ((self.newest > self.written) & self.on).tolist()
        indices = [i for i in (range(len(self.jobs)) if only is None else only) if due[i]]
        best = [i for i in (range(len(self.jobs)) if only is None else only) if self.best_due[i]]
        if not indices and not best:
            return
        started = time.monotonic()
        self.metrics.flush(sorted(set(indices) | set(best)))
        if self.monitors is not None:
            self.monitors.sync(indices)
        for i in indices:
            job = self.jobs[i]
            row = self.metrics.row(i, int(self.newest[i]))
            job.folder.save_checkpoint("last.pt", checkpoint_state(job.parts, row, job.resolved,
                                                                   self.trainer.saved_state(i)))
            self.written[i] = self.newest[i]
        for i in best:
            self.jobs[i].folder.save_checkpoint("best.pt", self._best(i))
            self.best_due[i] = False
        if only is None:
            self.last_write = time.monotonic()
            self.interval_s = turn_interval(self.last_write - started, 1, self.min_interval_s)

    def _best(self, index: int) -> dict:
        """Job `index`'s best.pt: its state at its best epoch, as a run of its own keeps it (the
        random states are those of the write: a run resumes from last.pt, never from best.pt)."""
        job = self.jobs[index]
        states = {position: {key: value[index] if (position, key) in self.shared else value
                             for key, value in state.items()}
                  for position, state in self.best_state.items()}
        saved = self.trainer.saved_state(index, self.best_params, states)
        row = {key: column[index].item() for key, column in self.best_row.items()}
        epoch = int(self.best_epoch[index])
        state = checkpoint_state(job.parts, {"epoch": epoch, **row}, job.resolved, saved)
        state["optimizer"]["param_groups"][0]["lr"] = row["lr"]
        state["scheduler"] = self.best_schedule.get(index, state["scheduler"])
        state["monitor"] = {"best": row[job.parts.monitor.metric], "best_epoch": epoch, "bad_epochs": 0}
        return state
