"""Figures for run folders (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import torch
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from nnlab.data.dataset import Dataset, Plane
from nnlab.models.modes import evaluating
from nnlab.runs import run_name, run_settings, wrap

matplotlib.use("Agg")  # before anyone imports pyplot: no display needed


def __getattr__(name: str):
    """`from nnlab.plots import plt` gives pyplot (Agg backend) to modules that want it. The run
    folder's own figures below use Figure directly: importing pyplot costs a quarter of a second
    that every `nnlab train` would pay at start-up."""
    if name == "plt":
        import matplotlib.pyplot as plt

        return plt
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Figures:
    """How a run's figures are written (`figures.format`, `figures.dpi`), handed to whatever draws
    them: the file format, and the resolution in dots per inch (None: each figure's own, 110 or
    120). A figure is named with .png where it is drawn; `path` gives it this format's suffix."""

    format: str = "png"
    dpi: int | None = None

    @classmethod
    def of(cls, node) -> Figures:
        """From a run's `figures` node; the defaults where it has none (a run from before it)."""
        node = node or {}
        return cls(str(node.get("format", "png")), node.get("dpi"))

    def path(self, path) -> Path:
        return Path(path).with_suffix(f".{self.format}")

    def resolution(self, own: int) -> int:
        return self.dpi if self.dpi is not None else own


PNG = Figures()  # the default: png, each figure at its own resolution


# False inside `drawing(False)`: a run with plots=false writes its data files and no image.
_DRAWING = [True]


@contextlib.contextmanager
def drawing(enabled: bool):
    """Within the block, `save` writes figures only if `enabled` (then as before)."""
    before = _DRAWING[0]
    _DRAWING[0] = bool(enabled)
    try:
        yield
    finally:
        _DRAWING[0] = before


def save(fig, path: Path, dpi: int = 120) -> None:
    """Write `fig` to `path` (folders made as needed; the format is its suffix's), unless figures
    are off (`drawing`). Every figure of a run folder is written through here."""
    if not _DRAWING[0]:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if _RENDERERS:
        try:
            figure = pickle.dumps(fig)
        except Exception:  # an artist that does not pickle: written here, as without the pool
            figure = None
        if figure is not None:
            pool, pending = _RENDERERS[-1]
            pending.append(pool.submit(_render, figure, str(path), dpi))
            return
    fig.savefig(path, dpi=dpi)


# (process pool, futures) while `rendering_in_parallel` is on
_RENDERERS: list[tuple[ProcessPoolExecutor, list]] = []


@contextlib.contextmanager
def rendering_in_parallel(workers: int | None = None):
    """Within the block, `save` hands each figure, pickled, to a pool of forked processes that
    render and write it: rendering and layout are most of a figure's cost (~0.2 s of 0.25 s for
    learning curves), so the jobs of a group draw their figures on every core while this process
    builds the next. The workers only unpickle and render matplotlib figures (never a torch op,
    so forking after training is safe). The block ends once every file is written, raising the
    first error. Without fork (macOS, Windows) or with one core, figures are written in turn."""
    workers = workers or os.cpu_count() or 1
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        pending: list = []
        _RENDERERS.append((pool, pending))
        try:
            yield
        finally:
            _RENDERERS.pop()
        for future in pending:
            future.result()


def _render(figure: bytes, path: str, dpi: int) -> None:
    pickle.loads(figure).savefig(path, dpi=dpi)


def new_figure(rows: int = 1, cols: int = 1, **kwargs):
    """(figure, axes) like plt.subplots, constrained layout, without pyplot's global state (so
    nothing needs closing)."""
    fig = Figure(figsize=kwargs.pop("figsize", None), layout="constrained")
    return fig, fig.subplots(rows, cols, **kwargs)


def run_title(run_dir, subject: str = "", fallback: str = "", width: int = 90) -> str:
    """A figure title that says which run it is: 'fashion_mnist / LeNet: <subject>' over the run's
    distinguishing settings as typed (a sweep's job: its swept values), wrapped at `width`
    characters. `fallback` names the run where its folder has no Hydra record."""
    name = (run_name(run_dir) if run_dir is not None else None) or fallback
    head = f"{name}: {subject}" if name and subject else name or subject
    settings = run_settings(run_dir) if run_dir is not None else []
    return "\n".join([head, *wrap(settings, width)] if head else wrap(settings, width))


# Up to this many epochs a curve marks every epoch: one epoch is then a point, not an empty plot.
FEW_EPOCHS = 12


def epoch_axis(ax, epochs: int) -> None:
    """Whole-number epoch ticks (never 1.25), and room around a single epoch."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if epochs == 1:
        ax.set_xticks([1])
        ax.set_xlim(0.5, 1.5)


# TensorFlow Playground's palette: orange for class 0 (negative), blue for class 1 (positive).
ORANGE, BLUE = "#f59322", "#0877bd"
PLAYGROUND_CMAP = LinearSegmentedColormap.from_list("playground", [ORANGE, "#e8eaeb", BLUE])
SPLIT_STYLE = {"train": "-", "val": "--", "test": ":"}


def learning_curves(rows: list[dict], path: Path, title: str = "", figures: Figures = PNG) -> None:
    """Loss and accuracy per epoch for every split present. `rows`: metrics.csv as read by
    csv.DictReader (strings, "" where a split has no value); plain csv keeps pandas' import
    (a quarter of a second) out of every run's start-up."""

    def column(name: str) -> tuple[list[int], list[float]]:
        kept = [(int(r["epoch"]), float(r[name])) for r in rows if r.get(name) not in ("", None)]
        return [e for e, _ in kept], [v for _, v in kept]

    fig, (ax_loss, ax_acc) = new_figure(1, 2, figsize=(10, 4))
    losses = []
    for split, style in SPLIT_STYLE.items():
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
            epochs, values = column(f"{split}_{metric}")
            if any(not math.isnan(v) for v in values):  # NaN: a diverged run's last rows
                ax.plot(epochs, values, style, label=split,
                        marker="o" if len(rows) <= FEW_EPOCHS else None, markersize=4)
                if metric == "loss":
                    losses += [v for v in values if not math.isnan(v)]
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    if losses and min(losses) > 0 and max(losses) / min(losses) > 100:
        ax_loss.set_yscale("log")  # losses spanning decades read better on a log axis
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(-0.02, 1.02))
    for ax in (ax_loss, ax_acc):
        epoch_axis(ax, len(rows))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    save(fig, figures.path(path), figures.resolution(120))


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
                      resolution: int = 150, figures: Figures = PNG) -> None:
    fig, ax = new_figure(figsize=(5.5, 5.5))
    draw_boundary(ax, class1_probability(model, data.plane, resolution, device), data)
    ax.set(xlabel="x1", ylabel="x2")
    ax.set_title(title, fontsize=8)
    # Proxy markers: the edge colour, not the fill, tells train from test.
    handles = [Line2D([], [], marker="o", ls="", mfc="#bbbbbb", mec=edge, label=name)
               for name, edge in (("train", "white"), ("test", "black"))]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.8)
    save(fig, figures.path(path), figures.resolution(120))


def boundary_grid(snapshots: list[tuple[int, torch.Tensor, float]], data: Dataset, path: Path,
                  title: str = "", figures: Figures = PNG) -> None:
    """One panel per (epoch, P(class 1) grid, train accuracy) snapshot, under `title`."""
    n = len(snapshots)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = new_figure(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (epoch, probs, acc) in zip(axes.flat, snapshots, strict=False):
        draw_boundary(ax, probs, data, show_test=False)
        ax.set_title(f"epoch {epoch}  (train acc {acc:.2f})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    save(fig, figures.path(path), figures.resolution(110))
