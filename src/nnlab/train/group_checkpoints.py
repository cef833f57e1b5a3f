"""checkpoints/best.pt and last.pt of the M jobs of a group trained as one, without a copy of each
job's weights every epoch.

A run of its own keeps its newest states in memory as copies and writes them every few seconds
(runs.CheckpointWriter). For a group that was a Python call and a clone of every job's weights
and optimizer state per epoch. Here:

- the best weights and optimizer state of every job are kept in stacked tensors, taken with
  `torch.where` from the live stack at each epoch where some job improved; the small rest of a
  job's best.pt (epoch, row, schedule, random states, monitor, probes) is taken only for the jobs
  that improved;
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


class GroupCheckpoints:
    def __init__(self, jobs: list, trainer, metrics, min_interval_s: float = 2.0):
        self.jobs, self.trainer, self.metrics = jobs, trainer, metrics
        self.on = torch.tensor([bool(job.cfg.checkpoint) for job in jobs])
        self.best_params: dict | None = None  # name -> [M, ...] weights at each job's best epoch
        self.best_state: dict | None = None  # position -> {key: [M, ...]}: the optimizer's, then
        self.best_rest: dict[int, dict] = {}  # job -> the rest of its best.pt
        self.best_shared: dict[int, dict] = {}  # job -> position -> {key: value} (a step count)
        self.best_due: set[int] = set()  # jobs whose best.pt is newer than the file
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
            indices = better.nonzero().flatten().tolist()
            self._keep_best(better, indices)
            monitors.sync(indices)
            columns = {key: column.tolist() for key, column in values.items()}
            for i in indices:
                row = {"epoch": epoch, **{key: column[i] for key, column in columns.items()}}
                self.best_rest[i] = self._rest(i, row)
                self.best_due.add(i)
        stopping = (monitors.should_stop() & active).nonzero().flatten().tolist()
        if stopping:  # its state is this epoch's: the stack moves its optimizer state on
            self.flush(stopping)
        if time.monotonic() - self.last_write >= self.interval_s:
            self.flush()

    def _keep_best(self, better: torch.Tensor, indices: list[int]) -> None:
        """torch.where: the stack's weights and optimizer state of the jobs in `better`; what
        every model shares (a step count) is kept per job, for `indices`."""
        trainer = self.trainer
        with torch.no_grad():
            if self.best_params is None:
                self.best_params = {k: p.detach().clone() for k, p in trainer.params.items()}
                self.best_state = {}
            else:
                for name, p in trainer.params.items():
                    kept = self.best_params[name]
                    self.best_params[name] = torch.where(_per_slice(better, p), p.detach(), kept)
            for position, param in enumerate(trainer.params.values()):
                state = trainer.optimizer.state.get(param) or {}
                kept = self.best_state.setdefault(position, {})
                for key, value in state.items():
                    if torch.is_tensor(value) and value.shape == param.shape and key in kept:
                        kept[key] = torch.where(_per_slice(better, value), value, kept[key])
                    elif torch.is_tensor(value) and value.shape == param.shape:
                        kept[key] = value.clone()
                    else:  # shared by every model (a step count): each job's as of its best
                        for i in indices:
                            shared = self.best_shared.setdefault(i, {}).setdefault(position, {})
                            shared[key] = value.clone() if torch.is_tensor(value) else value

    def _rest(self, index: int, row: dict) -> dict:
        """Job `index`'s best.pt without its weights and optimizer state, as of now."""
        job = self.jobs[index]
        state = checkpoint_state(job.parts, row, job.resolved, {"model": None, "optimizer": None})
        state["optimizer"] = self.trainer.optimizers[index].state_dict()  # its rates, no state
        return snapshot(state)

    def flush(self, only: list[int] | None = None) -> None:
        """Write last.pt (and best.pt where it changed) of every job, or of `only`: metrics
        first, so they never lag behind a checkpoint."""
        due = ((self.newest > self.written) & self.on).tolist()
        indices = [i for i in (range(len(self.jobs)) if only is None else only) if due[i]]
        best = sorted(i for i in self.best_due if only is None or i in only)
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
            self.best_due.discard(i)
        if only is None:
            self.last_write = time.monotonic()
            self.interval_s = turn_interval(self.last_write - started, 1, self.min_interval_s)

    def _best(self, index: int) -> dict:
        states = {position: {**state, **self.best_shared.get(index, {}).get(position, {})}
                  for position, state in self.best_state.items()}
        saved = self.trainer.saved_state(index, self.best_params, states)
        rest = self.best_rest[index]
        optimizer = dict(rest["optimizer"])
        optimizer["state"] = saved["optimizer"]["state"]
        return {**rest, "model": saved["model"], "optimizer": optimizer}


def _per_slice(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.device).view(-1, *([1] * (like.dim() - 1)))

