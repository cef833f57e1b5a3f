"""Decision-boundary snapshots across training, for 2-D datasets (`probe=[boundary]`).

The snapshots taken so far are part of the probe's state (`state_dict`), which the training
checkpoint keeps: a resumed run draws the same panels as the run that never stopped.
"""

from __future__ import annotations

import csv

import torch

from nnlab import plots
from nnlab.errors import UserError
from nnlab.models.modes import evaluating
from nnlab.probes import ProbeContext


def snapshot_epochs(first: int, last: int, count: int) -> list[int]:
    """`count` epochs from first to last, spaced geometrically (early epochs change the most)."""
    if last <= first or count <= 1:
        return sorted({first, last})[-max(count, 1):]
    ratio = (last / first) ** (1 / (count - 1))
    epochs = {min(last, round(first * ratio**i)) for i in range(count)}
    return sorted(epochs | {last})


class BoundarySnapshots:
    def __init__(self, snapshots: int = 8, resolution: int = 80, figures: plots.Figures = plots.PNG):
        self.count, self.resolution = snapshots, resolution
        self.figures = figures  # how its figure is written (figures.format, figures.dpi)
        self.taken: list[tuple[int, torch.Tensor, float]] = []
        self.model, self.last_epoch = None, None

    def start(self, ctx: ProbeContext) -> None:
        if ctx.data.plane is None:
            raise UserError(f"probe=boundary needs a 2-D dataset; {ctx.data.name} is not one")
        self.ctx = ctx
        # Spread over the whole run, epoch 1 on, also when it resumes after epoch k.
        self.epochs = set(snapshot_epochs(1, ctx.epochs, self.count))

    def after_epoch(self, epoch: int, model) -> None:
        self.model, self.last_epoch = model, epoch
        if epoch in self.epochs:
            self._take(epoch, model)

    def _take(self, epoch: int, model) -> None:
        ctx = self.ctx
        probs = plots.class1_probability(model, ctx.data.plane, self.resolution, ctx.device)
        with torch.no_grad(), evaluating(model):
            pred = model(ctx.data.train.x.to(ctx.device)).argmax(1).cpu()
        self.taken.append((epoch, probs, float((pred == ctx.data.train.y).float().mean())))

    def state_dict(self) -> dict:
        return {"taken": [[epoch, probs, acc] for epoch, probs, acc in self.taken]}

    def load_state_dict(self, state: dict) -> None:
        self.taken = [(int(epoch), probs, float(acc)) for epoch, probs, acc in state["taken"]]

    def finish(self) -> None:
        """Draw the grid; a run that stopped early also gets its final epoch as the last panel."""
        if self.last_epoch is None:
            return
        if not self.taken or self.taken[-1][0] != self.last_epoch:
            self._take(self.last_epoch, self.model)
        plots.boundary_grid(self.taken, self.ctx.data, self.ctx.run_dir / "plots" / "boundary_snapshots.png",
                            title=self.ctx.title("decision boundary during training", width=100),
                            figures=self.figures)
        with open(self.ctx.run_dir / "boundary_snapshots.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["epoch", "train_acc", "class1_area"])
            for epoch, probs, acc in self.taken:
                writer.writerow([epoch, f"{acc:.6g}", f"{float((probs > 0.5).float().mean()):.6g}"])
