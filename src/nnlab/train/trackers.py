"""Experiment trackers beyond metrics.csv (which is always written)."""

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

    def close(self) -> None:
        self.writer.close()
