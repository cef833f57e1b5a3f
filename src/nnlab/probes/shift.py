"""Test accuracy of the final model on translated test images, for image datasets (`probe=[shift]`).

Every test image is moved by 0..max_shift pixels in each direction, zero-filled with no
wrap-around (`translate`). shift_invariance.csv has (direction, shift, accuracy) and
plots/shift_invariance.png one line per direction: an MLP on pixels falls off quickly, a
convolutional net with pooling holds up (seeds/003's MLP-vs-LeNet comparison).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch

from nnlab.errors import UserError
from nnlab.plots import PNG, Figures
from nnlab.probes import ProbeContext
from nnlab.probes.directions import DIRECTIONS
from nnlab.probes.images import ImageProbe, plt, predict, save


def translate(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Images (..., H, W) moved dx pixels right and dy down (negative: left/up), zero-filled.

    Pixels moved past the edge are dropped (no wrap-around); returns a new tensor of the same
    dtype, shape and device.
    """
    dx, dy = int(dx), int(dy)
    h, w = images.shape[-2:]
    out = torch.zeros_like(images)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


class ShiftInvariance(ImageProbe):
    name = "shift"

    def __init__(self, max_shift: int = 6, directions: Sequence[str] = ("right", "down", "diagonal"),
                 figures: Figures = PNG):
        super().__init__(figures)
        self.max_shift, self.directions = max_shift, [str(d) for d in directions]

    def start(self, ctx: ProbeContext) -> None:
        super().start(ctx)
        h, w = ctx.data.test.x.shape[-2:]
        if self.max_shift >= min(h, w):
            raise UserError(f"probe.shift.max_shift={self.max_shift} moves the {h}x{w} test images "
                            f"out of the frame; use at most {min(h, w) - 1}")

    def accuracies(self) -> list[tuple[str, int, float]]:
        """(direction, shift, test accuracy) for every direction and shift 0..max_shift."""
        ctx, test = self.ctx, self.ctx.data.test

        def accuracy(dx: int, dy: int) -> float:
            move = partial(translate, dx=dx, dy=dy) if dx or dy else None
            pred = predict(self.model, test.x, ctx.device, transform=move).argmax(1)
            return float((pred == test.y).float().mean())

        unshifted = accuracy(0, 0)
        rows = []
        for direction in self.directions:
            ux, uy = DIRECTIONS[direction]
            rows.append((direction, 0, unshifted))
            rows += [(direction, s, accuracy(ux * s, uy * s)) for s in range(1, self.max_shift + 1)]
        return rows

    def write(self, run_dir: Path, plot_dir: Path) -> None:
        rows = self.accuracies()
        with open(run_dir / "shift_invariance.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["direction", "shift", "accuracy"])
            for direction, shift, acc in rows:
                writer.writerow([direction, shift, f"{acc:.6g}"])
        plot_shift(rows, plot_dir / "shift_invariance.png", chance=1 / self.ctx.data.num_classes,
                   title=self.ctx.title("test accuracy on shifted images", width=60), figures=self.figures)


def plot_shift(rows: list[tuple[str, int, float]], path: Path, chance: float, title: str = "",
               figures: Figures = PNG) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    markers = "osD^v"
    for k, direction in enumerate(dict.fromkeys(d for d, _, _ in rows)):
        points = [(s, acc) for d, s, acc in rows if d == direction]
        ax.plot(*zip(*points, strict=True), marker=markers[k % len(markers)], label=direction)
    ax.axhline(chance, color="grey", ls=":", lw=1, label=f"chance ({chance:.0%})")
    shifts = sorted({s for _, s, _ in rows})
    ax.set_xticks(shifts)
    ax.set(xlabel="shift (pixels; diagonal moves this far right and down)", ylabel="test accuracy",
           ylim=(-0.02, 1.02))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title="direction")
    save(fig, path, dpi=120, figures=figures)
