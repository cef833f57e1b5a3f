"""Figures for run folders (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402

from nnlab.data.dataset import Dataset, Plane  # noqa: E402
from nnlab.engine import evaluating  # noqa: E402

# TensorFlow Playground's palette: orange for class 0 (negative), blue for class 1 (positive).
ORANGE, BLUE = "#f59322", "#0877bd"
PLAYGROUND_CMAP = LinearSegmentedColormap.from_list("playground", [ORANGE, "#e8eaeb", BLUE])
SPLIT_STYLE = {"train": "-", "val": "--", "test": ":"}


def learning_curves(metrics: pd.DataFrame, path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch for every split present."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for split, style in SPLIT_STYLE.items():
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
            col = f"{split}_{metric}"
            if col in metrics and metrics[col].notna().any():
                ax.plot(metrics["epoch"], metrics[col], style, label=split)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    losses = metrics.filter(like="_loss").stack()
    if len(losses) and losses.min() > 0 and losses.max() / losses.min() > 100:
        ax_loss.set_yscale("log")  # losses spanning decades read better on a log axis
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(-0.02, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=120)
    plt.close(fig)


@torch.no_grad()
def class1_probability(model, plane: Plane, resolution: int, device) -> torch.Tensor:
    """P(class 1) on a resolution x resolution grid over the plane (rows: x2, columns: x1)."""
    x0, x1, y0, y1 = plane.extent
    gx = torch.linspace(x0, x1, resolution)
    gy = torch.linspace(y0, y1, resolution)
    yy, xx = torch.meshgrid(gy, gx, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    with evaluating(model):
        probs = model(plane.featurize(points).to(device)).softmax(dim=1)[:, 1]
    return probs.reshape(resolution, resolution).cpu()


def draw_boundary(ax, probs: torch.Tensor, data: Dataset, show_test: bool = True) -> None:
    """Playground-style heatmap with the training points (white edge) and test points (black)."""
    plane = data.plane
    ax.imshow(probs.numpy(), origin="lower", extent=plane.extent, cmap=PLAYGROUND_CMAP,
              vmin=0, vmax=1, alpha=0.85, aspect="auto", interpolation="bilinear")
    ax.contour(*_grid(plane.extent, probs.shape[0]), probs.numpy(), levels=[0.5], colors="k",
               linewidths=0.8)
    splits = data.splits()
    for name, edge in (("train", "white"), ("test", "black")):
        if name == "test" and not show_test:
            continue
        pts, labels = plane.points[name], splits[name].y
        colors = [BLUE if int(c) == 1 else ORANGE for c in labels]
        size = min(80.0, max(18.0, 4000.0 / len(labels)))  # XOR's 4 points deserve big markers
        ax.scatter(pts[:, 0], pts[:, 1], c=colors, s=size, edgecolors=edge, linewidths=0.6)
    ax.set_xlim(plane.extent[:2])
    ax.set_ylim(plane.extent[2:])
    ax.set_aspect("equal")


def _grid(extent, resolution):
    x0, x1, y0, y1 = extent
    return torch.linspace(x0, x1, resolution).numpy(), torch.linspace(y0, y1, resolution).numpy()


def decision_boundary(model, data: Dataset, path: Path, device, title: str = "",
                      resolution: int = 150) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 5.5), constrained_layout=True)
    draw_boundary(ax, class1_probability(model, data.plane, resolution, device), data)
    ax.set(xlabel="x1", ylabel="x2", title=title)
    # Proxy markers: the edge colour, not the fill, tells train from test.
    handles = [plt.Line2D([], [], marker="o", ls="", mfc="#bbbbbb", mec=edge, label=name)
               for name, edge in (("train", "white"), ("test", "black"))]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def boundary_grid(snapshots: list[tuple[int, torch.Tensor, float]], data: Dataset, path: Path) -> None:
    """One panel per (epoch, P(class 1) grid, train accuracy) snapshot."""
    n = len(snapshots)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False,
                             constrained_layout=True)
    for ax, (epoch, probs, acc) in zip(axes.flat, snapshots, strict=False):
        draw_boundary(ax, probs, data, show_test=False)
        ax.set_title(f"epoch {epoch}  (train acc {acc:.2f})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.savefig(path, dpi=110)
    plt.close(fig)
