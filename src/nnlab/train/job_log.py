"""A job's own train.log while it trains in a group: the console gets the group's lines, each
job's file gets its own (and a group of a thousand jobs holds no file open)."""

from __future__ import annotations

import logging
from pathlib import Path


class AppendingFileHandler(logging.Handler):
    """Appends each record to a file, opening it only for that write: a group of a thousand jobs
    must not hold a thousand files open."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.emit_many([record])

    def emit_many(self, records: list[logging.LogRecord]) -> None:
        try:
            with open(self.path, "a") as f:
                f.write("".join(self.format(record) + "\n" for record in records))
        except Exception:
            self.handleError(records[0])


def own_log(path: Path, number: int) -> logging.Logger:
    """A logger writing to the file `path` only (Hydra's file handler follows the last job
    prepared, and the console gets the group's lines instead of every job's)."""
    logger = logging.getLogger(f"nnlab.train.job{number}")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(AppendingFileHandler(path))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def log_lines(logger: logging.Logger, lines: list[str]) -> None:
    """`logger.info` of each line; one file write when the logger is a job's own (`own_log`)."""
    handlers = logger.handlers
    if len(handlers) == 1 and isinstance(handlers[0], AppendingFileHandler) and not logger.propagate:
        handlers[0].emit_many([logger.makeRecord(logger.name, logging.INFO, __file__, 0, line, (), None)
                               for line in lines])
        return
    for line in lines:
        logger.info("%s", line)
