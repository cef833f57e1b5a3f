"""Per-epoch analyses hung off the training loop.

A probe has `start(ctx)` (before the first epoch), `after_epoch(epoch, model)` and `finish()`,
which writes its files into the run folder. See `ProbeContext` for what it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from nnlab.data.dataset import Dataset


@dataclass
class ProbeContext:
    data: Dataset
    epochs: int
    start_epoch: int
    device: torch.device
    run_dir: Path
    # The model as it is before this run's first epoch (untrained, or as restored on resume), for
    # probes that record a baseline at "epoch start_epoch - 1"; None where a caller has no model.
    model: torch.nn.Module | None = None

    def title(self, subject: str, width: int = 70) -> str:
        """A figure title that names the run: 'fashion_mnist / LeNet: <subject>' over the run's
        distinguishing settings (nnlab.plots.run_title), so two runs' figures never look alike."""
        from nnlab.plots import run_title

        return run_title(self.run_dir, subject, fallback=self.data.name, width=width)
