"""Figures for run folders (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import contextlib
import functools
import math
import multiprocessing
import os
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullLocator

from nnlab.data.dataset import Dataset, Plane
from nnlab.models.modes import evaluating
from nnlab.runs import config_path, run_name, run_settings, wrap

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
    """Within the block, figures are drawn by a pool of forked processes while this process goes
    on: `save` hands each figure to them pickled, and the run's standard figures (learning curves,
    decision boundary) are built there too, from their data (see `_draw`). The workers never run a
    torch op, so forking after training is safe. The block ends once every file is written,
    raising the first error. Without fork (macOS, Windows) or with one core, figures are written
    in turn."""
    workers = workers or os.cpu_count() or 1
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_renderer_started) as pool:
        pending: list = []
        _RENDERERS.append((pool, pending))
        try:
            yield
        finally:
            _RENDERERS.pop()
        for future in pending:
            future.result()


def _renderer_started() -> None:
    # A worker writes what it is handed: it inherits the pool's entry, not the pool.
    _RENDERERS.clear()


def _render(figure: bytes, path: str, dpi: int) -> None:
    pickle.loads(figure).savefig(path, dpi=dpi)


def _draw(function, *args) -> None:
    """`function(*args)`, which builds a figure and `save`s it: in a worker of the pool while
    `rendering_in_parallel` is on (its arguments travel, not a figure, so the worker reuses its
    own figure: see `_kept`), else here. Nothing with figures off."""
    if not _DRAWING[0]:
        return
    if _RENDERERS:
        pool, pending = _RENDERERS[-1]
        pending.append(pool.submit(function, *args))
    else:
        function(*args)


def new_figure(rows: int = 1, cols: int = 1, **kwargs):
    """(figure, axes) like plt.subplots, constrained layout, without pyplot's global state (so
    nothing needs closing)."""
    fig = Figure(figsize=kwargs.pop("figsize", None), layout="constrained")
    return fig, fig.subplots(rows, cols, **kwargs)


# --- the standard figures' own layout and reused figures ----------------------------------------
# Constrained layout draws a figure twice (once to measure, once to render): a third or more of
# a standard figure's cost. These place their panels themselves from a few text sizes instead.

_PAD = 3  # points of margin around the figure and each panel, as constrained layout's


def _px(fig, points: float) -> float:
    return points * fig.dpi / 72


def _extent(texts, renderer) -> tuple[float, float]:
    """(widest, tallest) in pixels of the texts that show something."""
    boxes = [t.get_window_extent(renderer) for t in texts if t.get_visible() and t.get_text()]
    return max((b.width for b in boxes), default=0.0), max((b.height for b in boxes), default=0.0)


def _tick_labels(axis) -> list:
    minor = not isinstance(axis.get_minor_locator(), NullLocator)  # a log axis's
    return axis.get_majorticklabels() + (axis.get_minorticklabels() if minor else [])


def _decorations(ax, renderer) -> tuple[float, float, float, float]:
    """(left, bottom, right, top): the pixels that the axes' labels take outside it. Tick labels
    just outside the view count too (a little room to spare, never too little); the end ones
    stick out by half their size."""
    rc = matplotlib.rcParams
    ytick_w, ytick_h = _extent(_tick_labels(ax.yaxis), renderer)
    xtick_w, xtick_h = _extent(_tick_labels(ax.xaxis), renderer)
    ylabel_w, _ = _extent([ax.yaxis.label], renderer)
    _, xlabel_h = _extent([ax.xaxis.label], renderer)
    _, title_h = _extent([ax.title], renderer)
    left = ((ylabel_w + _px(ax.figure, ax.yaxis.labelpad) if ylabel_w else 0.0)
            + (ytick_w + _px(ax.figure, rc["ytick.major.size"] + rc["ytick.major.pad"])
               if ytick_w else 0.0))
    bottom = ((xlabel_h + _px(ax.figure, ax.xaxis.labelpad) if xlabel_h else 0.0)
              + (xtick_h + _px(ax.figure, rc["xtick.major.size"] + rc["xtick.major.pad"])
                 if xtick_h else 0.0))
    top = title_h + _px(ax.figure, rc["axes.titlepad"]) if title_h else 0.0
    return max(left, xtick_w / 2), max(bottom, ytick_h / 2), xtick_w / 2, max(top, ytick_h / 2)


def _lay_out(fig, axes: list, suptitle=None) -> None:
    """Place a row of equally wide panels, and the suptitle at the top, so that every title, label
    and tick label fits. Twice at most: a panel's new size can change its ticks."""
    renderer = fig.canvas.get_renderer()
    width, height, pad = fig.bbox.width, fig.bbox.height, _px(fig, _PAD)
    _, head = _extent([suptitle] if suptitle is not None else [], renderer)
    for _ in range(2):
        sides = [_decorations(ax, renderer) for ax in axes]
        top = pad + (head + pad if head else 0.0) + max(side[3] for side in sides)
        bottom = pad + max(side[1] for side in sides)
        gaps = [a[2] + 2 * pad + b[0] for a, b in zip(sides, sides[1:], strict=False)]
        x = pad + sides[0][0]
        each = (width - x - pad - sides[-1][2] - sum(gaps)) / len(axes)
        placed = []
        for gap in [*gaps, 0.0]:
            placed.append((x / width, bottom / height, each / width, (height - top - bottom) / height))
            x += each + gap
        if all(np.allclose(ax.get_position(original=True).bounds, box, atol=1e-4)
               for ax, box in zip(axes, placed, strict=True)):
            break
        for ax, box in zip(axes, placed, strict=True):
            ax.set_position(box)
    if suptitle is not None:
        suptitle.set_y(1 - pad / height)


# Each kind of standard figure is built once per thread (in a renderer process: once per
# process) and redrawn for every run: building the axes and their ticks costs ~40 ms, half as
# much as drawing them.
_KEPT = threading.local()


def _kept(kind: str, make):
    kept = _KEPT.__dict__.setdefault("figures", {})
    if kind not in kept:
        kept[kind] = make()
    return kept[kind]


def _figure(figsize, rows: int = 1, cols: int = 1):
    """(figure, axes) with no layout engine, on its own Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols)


def _reset(ax) -> None:
    """The axes as built: none of the last run's lines, images or collections; the colour cycle
    from its start; a linear y axis; limits from the data again."""
    for artist in [*ax.lines, *ax.images, *ax.collections]:
        artist.remove()
    ax.set_prop_cycle(None)
    if ax.get_yscale() != "linear":
        ax.set_yscale("linear")
    ax.relim()
    ax.set_autoscale_on(True)


def run_title(run_dir, subject: str = "", fallback: str = "", width: int = 90) -> str:
    """A figure title that says which run it is: 'fashion_mnist / LeNet: <subject>' over the run's
    distinguishing settings as typed (a sweep's job: its swept values), wrapped at `width`
    characters. `fallback` names the run where its folder has no Hydra record."""
    name, settings = _identity(run_dir) if run_dir is not None else (None, [])
    name = name or fallback
    head = f"{name}: {subject}" if name and subject else name or subject
    return "\n".join([head, *wrap(settings, width)] if head else wrap(settings, width))


def _identity(run_dir) -> tuple[str | None, list[str]]:
    """(run_name, run_settings) of a run folder. Each parses the run's Hydra record (~10 ms with
    a sweep's multirun.yaml), so they are read once for all of a run's figures, until one of the
    files they read changes."""
    path = Path(os.path.abspath(run_dir))
    files = (config_path(path), path / ".hydra" / "overrides.yaml", path.parent / "multirun.yaml")
    name, settings = _read_identity(path, tuple(_stamp(file) for file in files))
    return name, list(settings)


def _stamp(file: Path) -> tuple | None:
    try:
        stat = file.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=16)
def _read_identity(path: Path, stamps: tuple) -> tuple[str | None, tuple[str, ...]]:
    return run_name(path), tuple(run_settings(path))


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
    _draw(_learning_curves, rows, figures.path(path), figures.resolution(120), title)


def _curves_figure():
    fig, (ax_loss, ax_acc) = _figure((10, 4), 1, 2)
    for ax, name, label in ((ax_loss, "loss", "loss"), (ax_acc, "accuracy", "accuracy")):
        ax.set(xlabel="epoch", ylabel=label)
        ax.set_title(name, y=1.0)  # y given: no search for room above the ticks at every draw
        ax.grid(alpha=0.3)
    return fig, (ax_loss, ax_acc), fig.suptitle("")


def _learning_curves(rows: list[dict], path: Path, dpi: int, title: str) -> None:
    def column(name: str) -> tuple[list[int], list[float]]:
        kept = [(int(r["epoch"]), float(r[name])) for r in rows if r.get(name) not in ("", None)]
        return [e for e, _ in kept], [v for _, v in kept]

    fig, (ax_loss, ax_acc), head = _kept("learning_curves", _curves_figure)
    fig.set_dpi(dpi)  # measured as written
    for ax in (ax_loss, ax_acc):
        _reset(ax)
    losses = []
    for split, style in SPLIT_STYLE.items():
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
            epochs, values = column(f"{split}_{metric}")
            if any(not math.isnan(v) for v in values):  # NaN: a diverged run's last rows
                ax.plot(epochs, values, style, label=split,
                        marker="o" if len(rows) <= FEW_EPOCHS else None, markersize=4)
                if metric == "loss":
                    losses += [v for v in values if not math.isnan(v)]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 100:
        ax_loss.set_yscale("log")  # losses spanning decades read better on a log axis
    ax_acc.set_ylim(-0.02, 1.02)
    for ax in (ax_loss, ax_acc):
        epoch_axis(ax, len(rows))
        ax.legend()
    head.set_text(title)
    _lay_out(fig, [ax_loss, ax_acc], head)
    save(fig, path, dpi)


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


@dataclass(frozen=True)
class Boundary:
    """What a decision boundary panel shows, in numpy arrays: P(class 1) on a grid over the plane
    and the points over it (what a renderer process is handed instead of the model and data)."""

    probs: np.ndarray
    grid: tuple[np.ndarray, np.ndarray]
    extent: tuple[float, float, float, float]
    points: tuple[tuple[np.ndarray, list[str], float, str], ...]  # (xy, colours, size, edge)

    @classmethod
    def of(cls, probs: torch.Tensor, data: Dataset, show_test: bool = True) -> Boundary:
        """The training points (white edge) and test points (black)."""
        plane, splits, points = data.plane, data.splits(), []
        for name, edge in (("train", "white"), ("test", "black")):
            if name == "test" and not show_test:
                continue
            labels = splits[name].y
            colors = [BLUE if c == 1 else ORANGE for c in labels.tolist()]
            size = min(80.0, max(18.0, 4000.0 / len(labels)))  # XOR's 4 points deserve big markers
            points.append((plane.points[name].numpy(), colors, size, edge))
        return cls(probs.numpy(), _grid(plane.extent, probs.shape[0]), tuple(plane.extent),
                   tuple(points))


def draw_boundary(ax, probs: torch.Tensor, data: Dataset, show_test: bool = True) -> None:
    """Playground-style heatmap with the training points (white edge) and test points (black)."""
    _draw_boundary(ax, Boundary.of(probs, data, show_test))


def _draw_boundary(ax, boundary: Boundary) -> None:
    ax.imshow(boundary.probs, origin="lower", extent=boundary.extent, cmap=PLAYGROUND_CMAP,
              vmin=0, vmax=1, alpha=0.85, aspect="auto", interpolation="bilinear")
    ax.contour(*boundary.grid, boundary.probs, levels=[0.5], colors="k", linewidths=0.8)
    for xy, colors, size, edge in boundary.points:
        ax.scatter(xy[:, 0], xy[:, 1], c=colors, s=size, edgecolors=edge, linewidths=0.6)
    ax.set_xlim(boundary.extent[:2])
    ax.set_ylim(boundary.extent[2:])
    ax.set_aspect("equal")


def _grid(extent, resolution):
    x0, x1, y0, y1 = extent
    return torch.linspace(x0, x1, resolution).numpy(), torch.linspace(y0, y1, resolution).numpy()


def decision_boundary(model, data: Dataset, path: Path, device, title: str = "",
                      resolution: int = 150, figures: Figures = PNG) -> None:
    if not _DRAWING[0]:
        return  # not even the model's grid
    boundary = Boundary.of(class1_probability(model, data.plane, resolution, device), data)
    _draw(_decision_boundary, boundary, figures.path(path), figures.resolution(120), title)


def _boundary_figure():
    fig, ax = _figure((5.5, 5.5))
    ax.set(xlabel="x1", ylabel="x2")
    # Proxy markers: the edge colour, not the fill, tells train from test.
    handles = [Line2D([], [], marker="o", ls="", mfc="#bbbbbb", mec=edge, label=name)
               for name, edge in (("train", "white"), ("test", "black"))]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.8)
    return fig, ax


def _decision_boundary(boundary: Boundary, path: Path, dpi: int, title: str) -> None:
    fig, ax = _kept("decision_boundary", _boundary_figure)
    fig.set_dpi(dpi)
    _reset(ax)
    _draw_boundary(ax, boundary)
    ax.set_title(title, fontsize=8, y=1.0)  # y given: no search for room above the ticks
    _lay_out(fig, [ax])
    save(fig, path, dpi)


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
