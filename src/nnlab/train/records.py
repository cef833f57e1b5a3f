"""What one job writes after each epoch: its metrics row and log line (a run of its own; a
group's metrics are train/group_metrics.py's), its tracker and its checkpoints."""

from __future__ import annotations

from nnlab.runs import CheckpointWriter, MetricsWriter
from nnlab.train import record
from nnlab.train.resume import checkpoint_state


def log_every(cfg) -> int:
    """A run logs its metrics every this many epochs (and its first and last)."""
    return max(1, cfg.epochs // 20)


class EpochRecords:
    """One job's records after each epoch: metrics row, tracker, checkpoints, and a log line now
    and then. In a group (`group_metrics` given) the metrics rows, log lines and checkpoints are
    the group's to write, and a job needs its own call each epoch (`per_epoch`) only for a
    tracker."""

    def __init__(self, job, trainer, index: int, group_metrics=None):
        cfg = job.cfg
        self.job, self.trainer, self.index = job, trainer, index
        self.group_metrics = group_metrics
        self.tracker = job.tracker
        if self.tracker is not None:
            self.tracker.sharing = trainer.size  # a group's jobs take turns sending, as writing
        self.metrics = MetricsWriter(job.folder) if group_metrics is None else None
        self.checkpoints = None
        if cfg.checkpoint and group_metrics is None:  # a group's: train/group_checkpoints.py
            self.checkpoints = CheckpointWriter(job.folder, before_write=self._metrics_first)
        self.per_epoch = group_metrics is None or self.tracker is not None or self.checkpoints is not None
        # a job of a group may share its config object with the others (template.py): its
        # resolved values were kept while its own were applied, and are read only for checkpoints
        self.config = job.resolved if self.checkpoints is not None else None
        self.log_every = log_every(cfg)
        self.logged_epochs = (job.start_epoch, cfg.epochs)

    def on_epoch_end(self, row: dict, improved: bool) -> None:
        job = self.job
        if self.metrics is not None:
            self.metrics.record(row)
            if row["epoch"] % self.log_every == 0 or row["epoch"] in self.logged_epochs:
                job.log.info("epoch %d: %s", row["epoch"], record.format_metrics(row))
        if self.tracker is not None:
            self.tracker.log(row)
        if self.checkpoints is not None:
            self.checkpoints.record(checkpoint_state(job.parts, row, self.config), improved)

    def _metrics_first(self) -> None:
        """Before a checkpoint is written: the metrics up to it (a resumed run cuts back to it)."""
        if self.metrics is not None:
            self.metrics.flush()
        else:
            self.group_metrics.flush([self.index])

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.flush()  # it ends in `finish`, after the figures it sends

    def flush(self) -> None:
        self._metrics_first()
        if self.checkpoints is not None:
            self.checkpoints.flush()
