"""What the image probes (confusion, first_layer, misclassified, shift) share.

Each keeps a reference to the model in `after_epoch` and does its work in `finish`, so it sees the
model as it is at the end of training. `predict` runs the model the way evaluation does: eval mode,
no gradients, batches of `EVAL_BATCH` uint8 images moved to the device and turned into [0, 1] pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from nnlab import plots
from nnlab.data.dataset import Dataset, pixels
from nnlab.errors import UserError
from nnlab.models.modes import evaluating
from nnlab.plots import plt  # nnlab.plots selects the Agg backend
from nnlab.probes import ProbeContext

EVAL_BATCH = 1000


def require_images(ctx: ProbeContext, probe: str) -> None:
    """UserError unless the dataset is an image dataset with a non-empty test split."""
    if not ctx.data.is_image:
        raise UserError(f"probe={probe} needs an image dataset (mnist, fashion_mnist, cifar10); "
                        f"{ctx.data.name} is not one")
    if len(ctx.data.test) == 0:
        raise UserError(f"probe={probe} needs test images; the test split of {ctx.data.name} is empty")


def class_names(data: Dataset) -> list[str]:
    """The dataset's class names, or "0", "1", ... where it has none (or the wrong number)."""
    if len(data.class_names) == data.num_classes:
        return [str(name) for name in data.class_names]
    return [str(i) for i in range(data.num_classes)]


@torch.no_grad()
def predict(model, x: torch.Tensor, device, transform: Callable | None = None,
            batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Logits (float32, on the CPU) of `model` for images `x`, in eval mode; train mode is restored.

    `transform`, when given, is applied to each batch of raw images on the device before `pixels`.
    """
    out = []
    with evaluating(model):
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size].to(device)
            if transform is not None:
                batch = transform(batch)
            out.append(model(pixels(batch)).float().cpu())
    return torch.cat(out)


def show_image(ax, image: torch.Tensor) -> None:
    """One (C, H, W) uint8 image on `ax`: greyscale for 1 channel, RGB for 3, no ticks."""
    image = image.cpu()
    if image.shape[0] == 1:
        ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(image[:3].permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def save(fig, path: Path, dpi: int = 110, figures: plots.Figures = plots.PNG) -> None:
    """`fig` written to `path` (named .png) in the run's format and resolution (`figures`: dpi
    is the figure's own unless figures.dpi is set), then closed."""
    plots.save(fig, figures.path(path), figures.resolution(dpi))  # which skips it with plots=false
    plt.close(fig)


class ImageProbe:
    """Base for probes that analyse the final model on an image dataset's test split."""

    name = ""  # the option name in configs/probe, for error messages

    def __init__(self, figures: plots.Figures = plots.PNG):
        self.figures = figures  # how its figure is written (figures.format, figures.dpi)

    def start(self, ctx: ProbeContext) -> None:
        require_images(ctx, self.name)
        self.ctx = ctx
        self.model = None

    def after_epoch(self, epoch: int, model) -> None:
        if self.model is None:
            self.check_model(model)
        self.model = model

    def check_model(self, model) -> None:
        """Raise a UserError at the first epoch if this probe cannot work on `model`."""

    def finish(self) -> None:
        if getattr(self, "model", None) is None:
            return  # no epoch completed
        self.write(self.ctx.run_dir, self.ctx.run_dir / "plots")

    def write(self, run_dir: Path, plot_dir: Path) -> None:
        raise NotImplementedError
