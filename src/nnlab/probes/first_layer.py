"""The final model's first-layer weights drawn as images, for image datasets (`probe=[first_layer]`).

The first nn.Linear or nn.Conv2d in `model.modules()` order: a Linear on flattened images has one
unit per row, reshaped to the image's (C, H, W); a Conv2d has one unit per (C, k, k) kernel. Each
tile is scaled to its own largest |weight|, so 0 is always the middle of the scale: a diverging
colour map (red +, blue -) for one channel, mid-grey = 0 in RGB for three. first_layer_weights.csv
has each unit's weight statistics (bias excluded).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch
from torch import nn

from nnlab.errors import UserError
from nnlab.plots import PNG, Figures
from nnlab.probes.images import ImageProbe, plt, save


def first_layer(model: nn.Module) -> nn.Linear | nn.Conv2d | None:
    """The first nn.Linear or nn.Conv2d in `model.modules()` order, or None."""
    return next((m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)), None)


def unit_images(layer: nn.Linear | nn.Conv2d, input_shape: tuple[int, ...]) -> torch.Tensor:
    """The layer's weights as one (C, h, w) image per unit: (units, C, h, w), float32 on the CPU."""
    weight = layer.weight.detach().float().cpu()
    if isinstance(layer, nn.Conv2d):
        return weight.clone()
    if weight.shape[1] != math.prod(input_shape):
        raise UserError(f"probe=first_layer: the model's first Linear layer takes {weight.shape[1]} "
                        f"inputs, not the {math.prod(input_shape)} pixels of a {tuple(input_shape)} "
                        "image, so its weights cannot be drawn as images")
    return weight.reshape(weight.shape[0], *input_shape).clone()


def unit_stats(images: torch.Tensor) -> list[dict]:
    """mean, std (population), min, max and L2 norm of each unit's weights."""
    flat = images.reshape(len(images), -1).double()
    return [{"unit": i, "mean": float(w.mean()), "std": float(w.std(correction=0)),
             "min": float(w.min()), "max": float(w.max()), "l2_norm": float(w.norm())}
            for i, w in enumerate(flat)]


def symmetric_rgb(tile: torch.Tensor) -> torch.Tensor:
    """(3, h, w) weights -> (h, w, 3) colours in [0, 1]: 0 is mid-grey, +-max|w| the extremes."""
    scale = float(tile.abs().max())
    return (0.5 + tile / (2 * scale) if scale > 0 else torch.full_like(tile, 0.5)).permute(1, 2, 0)


class FirstLayerWeights(ImageProbe):
    name = "first_layer"

    def __init__(self, max_units: int = 64, figures: Figures = PNG):
        super().__init__(figures)
        self.max_units = max_units

    def check_model(self, model) -> None:
        layer = first_layer(model)
        if layer is None:
            raise UserError("probe=first_layer: the model has no nn.Linear or nn.Conv2d layer")
        unit_images(layer, tuple(self.ctx.data.input_shape))

    def write(self, run_dir: Path, plot_dir: Path) -> None:
        layer = first_layer(self.model)
        images = unit_images(layer, tuple(self.ctx.data.input_shape))
        with open(run_dir / "first_layer_weights.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["unit", "mean", "std", "min", "max", "l2_norm"])
            writer.writeheader()
            for row in unit_stats(images):
                writer.writerow({k: v if k == "unit" else f"{v:.6g}" for k, v in row.items()})
        plot_units(images[:self.max_units], plot_dir / "first_layer_weights.png", figures=self.figures,
                   title=self.ctx.title(f"first layer {describe(layer)}, "
                                       f"{min(len(images), self.max_units)} of {len(images)} units"))


def describe(layer: nn.Linear | nn.Conv2d) -> str:
    if isinstance(layer, nn.Conv2d):
        return f"Conv2d({layer.in_channels}->{layer.out_channels}, {'x'.join(map(str, layer.kernel_size))})"
    return f"Linear({layer.in_features}->{layer.out_features})"


def plot_units(images: torch.Tensor, path: Path, title: str = "", figures: Figures = PNG) -> None:
    """A grid of one tile per unit, each scaled symmetrically around 0 by its own max |w|."""
    n, channels = images.shape[:2]
    cols = n if n <= 6 else math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    tile = min(1.3, 9 / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(5.5, tile * cols), tile * rows + 0.9),
                             squeeze=False, constrained_layout=True)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        unit = images[i]
        if channels == 3:
            ax.imshow(symmetric_rgb(unit).numpy(), interpolation="nearest")
        else:  # 1 channel (or any other count: their mean)
            w = unit.mean(0)
            scale = float(w.abs().max()) or 1.0
            ax.imshow(w.numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        ax.set_title(str(i), fontsize=6, pad=1.5)
    legend = ("red +, blue -, white 0" if channels != 3 else "grey 0")
    if channels not in (1, 3):
        legend += f"; mean of {channels} input channels"
    fig.suptitle(f"{title}\neach tile scaled to its own max |w| ({legend})", fontsize=9)
    save(fig, path, figures=figures)
