"""Per-layer gradient statistics across training, for vanishing-gradient studies (`probe=[grad_flow]`).

On one fixed batch of training samples (drawn once with its own seed, so the probe never moves the
training RNG), the gradient of the training loss with respect to every nn.Linear / nn.Conv weight
is taken at epoch `start_epoch - 1` (the untrained model, or the resumed one) and after every
`every`-th epoch. grad_flow.csv has (epoch, layer, name, max_abs_grad, mean_abs_grad), layer 1
being nearest the input; plots/grad_flow.png draws max and mean |grad| per layer, one line per
recorded epoch, on linear and log axes (seeds/001 exercise 1: sigmoid stacks lose orders of
magnitude per layer, relu and tanh do not). Biases are left out, as in the report.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from matplotlib.ticker import MaxNLocator
from torch import nn

from nnlab.data.dataset import pixels
from nnlab.errors import UserError
from nnlab.losses import make_loss
from nnlab.models.modes import evaluating
from nnlab.plots import PNG, Figures
from nnlab.probes import ProbeContext
from nnlab.probes.images import plt, save

WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
COLUMNS = ["epoch", "layer", "name", "max_abs_grad", "mean_abs_grad"]


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Linear/Conv layer, in registration order (forward order for a stack)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHTED)]


def gradient_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   loss_fn) -> list[tuple[str, float, float]]:
    """(name, max |grad|, mean |grad|) of the loss on (x, y) w.r.t. each layer's weight.

    Eval mode, so dropout masks do not add noise to the profile; torch.autograd.grad leaves the
    parameters' .grad (the optimizer's business) untouched.
    """
    layers = weighted_layers(model)
    with torch.enable_grad(), evaluating(model):
        loss = loss_fn(model(x), y)
        grads = torch.autograd.grad(loss, [m.weight for _, m in layers])
    return [(name, float(g.abs().max()), float(g.abs().mean()))
            for (name, _), g in zip(layers, grads, strict=True)]


class GradFlow:
    def __init__(self, samples: int = 256, every: int = 1, loss: str = "cross_entropy", seed: int = 0,
                 figures: Figures = PNG):
        self.samples, self.every, self.seed = samples, every, seed
        self.figures = figures  # how its figure is written (figures.format, figures.dpi)
        self.loss_fn = make_loss(loss)
        self.rows: list[tuple[int, int, str, float, float]] = []
        self.model, self.last_epoch = None, None

    def start(self, ctx: ProbeContext) -> None:
        self.ctx = ctx
        train = ctx.data.train
        if len(train) == 0:
            raise UserError("probe=grad_flow needs training samples; the training split is empty")
        g = torch.Generator().manual_seed(self.seed)
        pick = torch.randperm(len(train), generator=g)[:self.samples]
        self.x = pixels(train.x[pick]).to(ctx.device)  # models take pixels in [0, 1]
        self.y = train.y[pick].to(ctx.device)
        if ctx.model is not None:
            self._check(ctx.model)
            self.record(ctx.start_epoch - 1, ctx.model)

    def _check(self, model: nn.Module) -> None:
        if not weighted_layers(model):
            raise UserError("probe=grad_flow needs a model with Linear or Conv layers; "
                            f"{type(model).__name__} has none")

    def after_epoch(self, epoch: int, model) -> None:
        if self.model is None:
            self._check(model)
        self.model, self.last_epoch = model, epoch
        if epoch % self.every == 0 or epoch == self.ctx.epochs:
            self.record(epoch, model)

    def record(self, epoch: int, model) -> None:
        stats = gradient_stats(model, self.x, self.y, self.loss_fn)
        self.rows += [(epoch, k, name, mx, mean) for k, (name, mx, mean) in enumerate(stats, start=1)]

    def finish(self) -> None:
        """Write the CSV and figure; a run that stopped early also gets its final epoch recorded."""
        if self.last_epoch is not None and (not self.rows or self.rows[-1][0] != self.last_epoch):
            self.record(self.last_epoch, self.model)
        if not self.rows:
            return
        rows = self._with_earlier_rows(self.ctx.run_dir / "grad_flow.csv")
        with open(self.ctx.run_dir / "grad_flow.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for epoch, layer, name, mx, mean in rows:
                writer.writerow([epoch, layer, name, f"{mx:.6g}", f"{mean:.6g}"])
        plot_grad_flow(rows, self.ctx.run_dir / "plots" / "grad_flow.png",
                       title=self.ctx.title(f"gradient per layer on {len(self.y)} training samples", 110),
                       figures=self.figures)

    def _with_earlier_rows(self, path: Path) -> list[tuple]:
        """A resumed run keeps the epochs its earlier part recorded (those before this part's first)."""
        first = self.rows[0][0]
        if self.ctx.start_epoch == 1 or not path.exists():
            return self.rows
        with open(path, newline="") as f:
            earlier = [(int(r["epoch"]), int(r["layer"]), r["name"], float(r["max_abs_grad"]),
                        float(r["mean_abs_grad"])) for r in csv.DictReader(f)]
        return [r for r in earlier if r[0] < first] + self.rows


def plot_grad_flow(rows: list[tuple], path: Path, title: str = "", figures: Figures = PNG) -> None:
    """2 x 2 panels: max |grad| (top) and mean |grad| (bottom) per layer, linear (left) and log axes,
    one line per recorded epoch coloured from dark (early) to light (late)."""
    epochs = sorted({r[0] for r in rows})
    colours = plt.cm.viridis([i / max(len(epochs) - 1, 1) * 0.9 for i in range(len(epochs))])
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True, sharex=True)
    for row_axes, column, label in ((axes[0], 3, "max |grad|"), (axes[1], 4, "mean |grad|")):
        for epoch, colour in zip(epochs, colours, strict=True):
            points = sorted((r[1], r[column]) for r in rows if r[0] == epoch)
            for ax in row_axes:
                ax.plot(*zip(*points, strict=True), marker=".", color=colour, label=f"epoch {epoch}")
        for ax, scale in zip(row_axes, ("linear", "log"), strict=True):
            ax.set_yscale(scale)
            ax.set(ylabel=f"{label} ({scale} axis)")
            ax.grid(alpha=0.3, which="both" if scale == "log" else "major")
    for ax in axes[1]:
        ax.set_xlabel("layer (1 = nearest the input)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0][0].get_legend_handles_labels()
    if len(epochs) > 12:  # a legend of dozens of epochs hides the plot: keep the first, middle, last
        keep = sorted({0, len(epochs) // 2, len(epochs) - 1})
        handles, labels = [handles[i] for i in keep], [labels[i] for i in keep]
    axes[0][1].legend(handles, labels, fontsize=8)
    if title:
        fig.suptitle(title)
    save(fig, path, dpi=120, figures=figures)
