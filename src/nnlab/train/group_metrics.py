"""metrics.csv and the per-epoch lines of train.log for the M jobs of a group trained as one,
kept as one tensor [epochs, columns, M] and written to each job's files in bulk.

A run of its own appends a row to its metrics.csv after every epoch (train/records.py). A group of
a thousand jobs cannot afford a Python row, a file write and a log line per job per epoch: the
work would grow with the group, not with the arithmetic. Here an epoch costs a few tensor writes
whatever M is; the rows reach the files every `interval` seconds (sized so that writing stays
near a tenth of the time), before a job's checkpoint is written (metrics never lag behind it),
and at the end. A kill -9 then loses at most the rows since the last write, never the rows a
checkpoint needs; each write appends whole rows with one write() (runs.RunFolder.append_metrics).
"""

from __future__ import annotations

import math
import time

import torch

from nnlab.runs import CSV_FLOAT_FORMAT, METRIC_COLUMNS, turn_interval
from nnlab.train import record
from nnlab.train.job_log import log_lines


class GroupMetrics:
    """The metrics rows of `jobs` (task.Job) over `epochs`, as the loop gives them
    (`after_epoch`, engine.train_models' `records`)."""

    def __init__(self, jobs: list, epochs: range, log_every: int, min_interval_s: float = 1.0):
        self.jobs, self.epochs = jobs, epochs
        self.size = len(jobs)
        self.columns: list[str] | None = None  # METRIC_COLUMNS this group records, set by its first row
        self.rows = torch.empty(0)
        self.recorded = torch.zeros(len(epochs), self.size, dtype=torch.bool)  # which job trained when
        self.upto = 0  # epochs held (index into `epochs`)
        self.written = [0] * self.size  # epochs appended to each job's files
        self.log_every, self.min_interval_s = log_every, min_interval_s
        self.interval_s = min_interval_s
        self.last_write = time.monotonic()

    def after_epoch(self, epoch: int, values: dict[str, torch.Tensor], training: torch.Tensor,
                    improved: torch.Tensor) -> None:
        if self.columns is None:
            self.columns = [c for c in METRIC_COLUMNS if c == "epoch" or c in values]
            self.rows = torch.full((len(self.epochs), len(self.columns), self.size), math.nan,
                                   dtype=torch.float64)
        k = epoch - self.epochs[0]
        self.rows[k, 0] = epoch
        for c, name in enumerate(self.columns[1:], start=1):
            self.rows[k, c] = values[name]
        self.recorded[k] = training
        self.upto = k + 1
        if time.monotonic() - self.last_write >= self.interval_s:
            self.flush()

    def flush(self, indices: list[int] | None = None) -> None:
        """Append the rows not yet written, of every job (or of `indices`), to their files."""
        indices = range(self.size) if indices is None else indices
        pending = [i for i in indices if self.written[i] < self.upto]
        if not pending:
            return
        started = time.monotonic()
        row_format = self._row_format()
        for i in pending:
            block = self.rows[self.written[i]:self.upto, :, i][self.recorded[self.written[i]:self.upto, i]]
            self.written[i] = self.upto
            if len(block):
                self._append(i, block, row_format)
        self.last_write = time.monotonic()
        if len(pending) == self.size:
            self.interval_s = turn_interval(self.last_write - started, 1, self.min_interval_s)

    def _row_format(self) -> str:
        """One printf format for a whole metrics.csv line: the run's empty columns stay empty."""
        cells = ["%d" if c == "epoch" else CSV_FLOAT_FORMAT if c in self.columns else ""
                 for c in METRIC_COLUMNS]
        return ",".join(cells) + "\n"

    def _append(self, index: int, block: torch.Tensor, row_format: str) -> None:
        """Job `index`'s rows `block` [rows, columns]: one printf for them all (a row at a time
        would cost a Python call per row of a thousand jobs' thousand epochs)."""
        job = self.jobs[index]
        job.folder.append_metrics_lines((row_format * len(block)) % tuple(block.flatten().tolist()))
        epochs = block[:, 0]
        logged = block[(epochs % self.log_every == 0) | (epochs == job.start_epoch)
                       | (epochs == self.epochs[-1])].tolist()
        if logged:  # the job's own train.log: the lines a run of its own logs
            log_lines(job.log, [f"epoch {int(row[0])}: "
                                f"{record.format_metrics(dict(zip(self.columns, row, strict=True)))}"
                                for row in logged])

    def row(self, index: int, epoch: int) -> dict:
        """Job `index`'s row of `epoch`, as the loop gave it (for its checkpoint)."""
        values = self.rows[epoch - self.epochs[0], :, index].tolist()
        return {c: int(v) if c == "epoch" else v for c, v in zip(self.columns, values, strict=True)}

    def closing(self, index: int) -> dict | None:
        """Job `index`'s epochs_completed, final and best rows as its metrics.csv holds them
        (numbers parsed back from their 6 digits), for its summary.json (record.results); None
        when an earlier run's rows are needed too (a continued job whose best or last epoch came
        before this range)."""
        if self.columns is None:
            return None
        kept = self.recorded[:self.upto, index]
        count = int(kept.sum())
        job = self.jobs[index]
        prior = job.start_epoch - 1
        best_epoch = job.parts.monitor.best_epoch
        if count == 0 or (best_epoch and best_epoch < self.epochs[0]):
            return None
        table = self.rows[:self.upto, :, index][kept]
        final = self._parsed(table[-1].tolist())
        best = {}
        if best_epoch:
            best = self._parsed(self.rows[best_epoch - self.epochs[0], :, index].tolist())
        return {"epochs_completed": prior + count, "final": final, "best": best}

    def _parsed(self, row: list[float]) -> dict:
        out = {}
        for column, value in zip(self.columns, row, strict=True):
            out[column] = int(value) if column == "epoch" else float(CSV_FLOAT_FORMAT % value)
        return out
