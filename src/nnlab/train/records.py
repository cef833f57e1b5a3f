"""What one job writes after each epoch: its metrics row and log line (a run of its own; a
group's metrics are train/group_metrics.py's), its tracker and its checkpoints."""

from __future__ import annotations

from nnlab.runs import CheckpointWriter
from nnlab.train import record
from nnlab.train.resume import checkpoint_state


def log_every(cfg) -> int:
    """A run logs its metrics every this many epochs (and its first and last)."""
    return max(1, cfg.epochs // 20)


class EpochRecords:
    """One job's records after each epoch: metrics row (appended at once: a kill -9 loses no
    epoch, and no checkpoint is ever ahead of them), tracker, checkpoints, and a log line now and
    then. In a group (`in_group`) the metrics rows, log lines and checkpoints are the group's to
    write (group_metrics.py, group_checkpoints.py), and a job needs its own call each epoch
    (`per_epoch`) only for a tracker."""

    def __init__(self, job, trainer, in_group: bool = False):
        cfg = job.cfg
        self.job = job
        self.tracker = job.tracker
        if self.tracker is not None:
            self.tracker.sharing = trainer.size  # a group's jobs take turns sending
        self.own_metrics = not in_group
        self.checkpoints = CheckpointWriter(job.folder) if cfg.checkpoint and not in_group else None
        self.per_epoch = not in_group or self.tracker is not None
        # a job of a group may share its config object with the others (template.py): its
        # resolved values were kept while its own were applied, and are read only for checkpoints
        self.config = job.resolved if self.checkpoints is not None else None
        self.log_every = log_every(cfg)
        self.logged_epochs = (job.start_epoch, cfg.epochs)

    def on_epoch_end(self, row: dict, improved: bool) -> None:
        job = self.job
        if self.own_metrics:
            job.folder.append_metrics(row)
            if row["epoch"] % self.log_every == 0 or row["epoch"] in self.logged_epochs:
                job.log.info("epoch %d: %s", row["epoch"], record.format_metrics(row))
        if self.tracker is not None:
            self.tracker.log(row)
        if self.checkpoints is not None:
            self.checkpoints.record(checkpoint_state(job.parts, row, self.config), improved)

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.flush()  # it ends in `finish`, after the figures it sends

    def flush(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.flush()
