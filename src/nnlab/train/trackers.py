"""Experiment trackers beyond metrics.csv (which is always written).

A tracker is made by `instantiate(cfg.logger, run_dir=...)` when the run is prepared. It may
`start(config, summary, overrides, sweep_dir)` (and then `record()` what summary.json keeps of
it); it gets `log(row)` after every epoch, `flush()` at the end of training, and `end(status)`
once the run's figures are written (task.finish), or when an error stops the run. MLflow's is in
mlflow_logger.py."""

from __future__ import annotations

from pathlib import Path

from nnlab.errors import UserError


class TensorBoardLogger:
    """Every metrics.csv column as a TensorBoard scalar, in <run>/tensorboard/."""

    def __init__(self, run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("logger=tensorboard needs the tensorboard package: "
                            "pip install 'nnlab[tensorboard]' (or pip install tensorboard)") from None
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def log(self, row: dict) -> None:
        epoch = int(row["epoch"])
        for key, value in row.items():
            if key != "epoch" and value is not None:
                split, _, metric = key.partition("_")
                tag = f"{metric}/{split}" if metric in ("loss", "acc") else key
                self.writer.add_scalar(tag, float(value), epoch)
        self.writer.flush()

    def flush(self) -> None:
        self.writer.flush()

    def end(self, status: str) -> None:
        self.writer.close()  # closing twice is harmless
