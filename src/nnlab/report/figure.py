"""curves.png for `nnlab report`: loss and accuracy per epoch, a pair of panels per job.

Each job (or, when a key such as the seed is aggregated, each group of jobs) gets a cell of two
panels on shared axes: loss above, accuracy below, a line per split. With two or more swept
parameters the cells form a grid like the pivot table (rows: all parameters but the last,
columns: the last), the layout of seeds/000's hyper-parameter figures; otherwise they are laid
out in order. An aggregated cell draws the mean over the group's completed jobs with a band of
± one sample standard deviation; after the epoch where some jobs stopped early the mean is over
those that got there. Every panel drawn has a curve in it, or says why it has none.

Matplotlib with the Agg backend, as in nnlab.plots (not imported here: it pulls in torch, which a
report does not need).
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from nnlab.report.aggregate import DEFAULT_KEY, Group  # noqa: E402
from nnlab.report.jobs import OK_STATUSES, Job, rank, value  # noqa: E402
from nnlab.runs import NOT_SETTINGS, run_name, wrap  # noqa: E402

# Line style per split, as nnlab.plots.SPLIT_STYLE; fixed colours so a split looks the same in
# every panel, whichever splits a job has.
SPLIT_STYLE = {"train": ("-", "C0"), "val": ("--", "C1"), "test": (":", "C2")}
KINDS = {"loss": "loss", "acc": "accuracy"}
FAILED_COLOUR = "#c0392b"




def plain(key: str, value) -> str:
    """A key's value in a title or a legend: 'optimizer.lr=0.01'."""
    return f"{key}={value}"


def legend_below(fig, handles: list, labels: list[str], most_columns: int = 4, fontsize: int = 8):
    """A legend under the panels that is never cut: each label wrapped at 50 characters (between
    settings where it can), in as many columns as fit the figure's width, one column at least.
    Figures are saved with bbox_inches="tight" besides, so nothing drawn is left outside."""
    labels = ["\n".join(textwrap.wrap(label, 50, break_on_hyphens=False)) or label for label in labels]
    renderer = fig.canvas.get_renderer()
    for ncols in range(min(len(labels), most_columns), 0, -1):
        legend = fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=fontsize)
        if ncols == 1 or legend.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
            return legend
        legend.remove()
    return None


def save(fig, path: Path) -> None:
    """Every report figure: 100 dpi, grown to hold all it draws (a long title or legend)."""
    fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)


# More cells than this share one panel per split and kind (a thin line per job, the median bold): a
# panel per job would make a figure of a thousand panels that takes minutes to draw and says nothing.
MAX_PANELS = 48
MAX_COLOURS = 20  # combinations told apart by colour in those shared panels
MAX_LEGEND = 6  # past 2 x this many combinations, the legend shows the first and the last few


@dataclass
class Curve:
    split: str
    epoch: pd.Index
    mean: pd.Series
    std: pd.Series | None = None  # an aggregated cell's spread


@dataclass
class Cell:
    combo: tuple  # its swept values, for the grid
    title: str
    ok: bool  # black title; red when a job in it did not complete
    curves: dict[str, list[Curve]] = field(default_factory=dict)  # kind -> a curve per split
    why_empty: str = ""  # said in place of the curves when it has none


def curves(jobs: list[Job], swept: list[str], levels: dict[str, list[str]], path: Path,
           aggregate: str | None = None, groups: list[Group] | None = None,
           setting: Callable[[str, str], str] = plain, same: dict[str, str] | None = None,
           ) -> list[tuple[int, int, str]]:
    """Draw curves.png; returns (row, column, title) per cell of the grid (a cell: a loss panel
    over an accuracy panel), or per panel when the jobs share panels (more than MAX_PANELS).
    `setting` writes a swept value in a title (differences.Differences.setting); `same`: the
    settings every job shares, for the figure's title."""
    same = same or {}
    if aggregate:
        keys = [k for k in swept if k != aggregate]
        cells = [_group_cell([jobs[i] for i in g.rows], g, keys, setting) for g in groups or []]
    else:
        keys = swept
        cells = [_job_cell(job, swept, setting) for job in jobs]
    if len(cells) > MAX_PANELS:
        return _overlaid(jobs, path, setting, same, _colour_keys(swept, aggregate, levels, jobs), levels)
    kinds = [k for k in KINDS if any(cell.curves.get(k) for cell in cells)] or ["loss"]
    positions = _grid([cell.combo for cell in cells], keys, levels)
    rows = 1 + max(r for r, _ in positions)
    cols = 1 + max(c for _, c in positions)
    nk = len(kinds)
    fig, axes = plt.subplots(rows * nk, cols, figsize=(2.9 * cols + 0.5, 1.85 * nk * rows + 0.9),
                             squeeze=False, sharex=True, constrained_layout=True)
    shared = {kind: axes[i][0] for i, kind in enumerate(kinds)}  # shared y scale per kind
    highs, lows = [], []
    for cell, (r, c) in zip(cells, positions, strict=True):
        for i, kind in enumerate(kinds):
            ax = axes[r * nk + i][c]
            if ax is not shared[kind]:
                ax.sharey(shared[kind])
            for curve in cell.curves.get(kind, []):
                style, colour = SPLIT_STYLE[curve.split]
                ax.plot(curve.epoch, curve.mean, style, color=colour, label=curve.split,
                        marker="o" if len(curve.epoch) <= 12 else None, markersize=3)
                if curve.std is not None:  # a loss or an accuracy: never below 0, an accuracy never above 1
                    ax.fill_between(curve.epoch, (curve.mean - curve.std).clip(lower=0),
                                    (curve.mean + curve.std).clip(upper=1 if kind == "acc" else None),
                                    color=colour, alpha=0.18, linewidth=0)
                if kind == "loss":
                    lows.append(curve.mean.min())
                    highs.append(curve.mean.max())
            if not cell.curves.get(kind):  # no empty frame: say why (once per cell), without axes
                ax.axis("off")
                if cell.why_empty == "" or i == 0:
                    ax.text(0.5, 0.5, cell.why_empty or f"no {KINDS[kind]} recorded", ha="center",
                            va="center", transform=ax.transAxes, color=FAILED_COLOUR, fontsize=9)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7, labelbottom=i == nk - 1, labelleft=False)
        axes[r * nk][c].set_title(cell.title, fontsize=8, color="black" if cell.ok else FAILED_COLOUR)
    used = set(positions)
    for r in range(rows):
        for c in range(cols):
            if (r, c) not in used:
                for i in range(nk):
                    axes[r * nk + i][c].axis("off")
        for i, kind in enumerate(kinds):  # the y scale on the first panel of each row that is drawn
            drawn = [ax for ax in axes[r * nk + i] if ax.axison]
            if drawn:
                drawn[0].tick_params(labelleft=True)
                drawn[0].set_ylabel(KINDS[kind], fontsize=8)
    axes[0][0].xaxis.set_major_locator(MaxNLocator(integer=True))
    if "acc" in shared:
        shared["acc"].set_ylim(-0.02, 1.02)
    if "loss" in shared and lows and min(lows) > 0 and max(highs) / min(lows) > 100:
        shared["loss"].set_yscale("log")  # losses spanning decades (a near-diverging lr) read better
    for c in range(cols):
        bottom = max(r for r, cc in used if cc == c) if any(cc == c for _, cc in used) else rows - 1
        axes[bottom * nk + nk - 1][c].set_xlabel("epoch", fontsize=8)
    handles = [plt.Line2D([], [], ls=style, color=colour, label=split)
               for split, (style, colour) in SPLIT_STYLE.items()
               if any(curve.split == split for cell in cells for cs in cell.curves.values() for curve in cs)]
    if aggregate:
        handles.append(Patch(color="grey", alpha=0.3, label=f"± 1 std over {aggregate}"))
    if handles:
        legend_below(fig, handles, [h.get_label() for h in handles], most_columns=len(handles))
    what = " and ".join(KINDS[k] for k in kinds)
    fig.suptitle(suptitle(jobs, same, what, " per epoch" + (f", mean ± std over {aggregate}"
                                                           if aggregate else "")), fontsize=10)
    save(fig, path)
    return [(r, c, cell.title) for cell, (r, c) in zip(cells, positions, strict=True)]


def _job_cell(job: Job, swept: list[str], setting: Callable[[str, str], str]) -> Cell:
    cell = Cell(tuple(job.params.get(k) for k in swept), _title(job, swept, setting),
                job.status in OK_STATUSES)
    for kind in KINDS:
        cell.curves[kind] = [Curve(split, job.metrics["epoch"], job.metrics[f"{split}_{kind}"])
                             for split in SPLIT_STYLE if _recorded(job, f"{split}_{kind}")]
    if job.metrics is None:
        cell.why_empty = f"{job.status}\nno epochs"
    return cell


def _group_cell(jobs: list[Job], group: Group, keys: list[str],
                setting: Callable[[str, str], str]) -> Cell:
    """The mean and sample std (ddof=1) per epoch over the group's completed jobs."""
    done = [job for job in jobs if job.status in OK_STATUSES and job.metrics is not None]
    parts = [setting(k, v) for k, v in zip(keys, group.combo, strict=True)] or ["all jobs"]
    count = f"n={len(done)}" + (f" of {len(jobs)}" if len(done) < len(jobs) else "")
    lengths = [int(job.metrics["epoch"].max()) for job in done]
    if lengths and min(lengths) < max(lengths):
        count += f", {sum(n == max(lengths) for n in lengths)} reached epoch {max(lengths)}"
    cell = Cell(group.combo, _wrap([*parts[:-1], f"{parts[-1]} ({count})"]), len(done) == len(jobs))
    # one long table of every job's epochs: grouping it by epoch is one pass, not one per job
    epochs = pd.concat([job.metrics for job in done], ignore_index=True) if done else pd.DataFrame()
    by_epoch = epochs.groupby("epoch") if len(epochs) else None
    for kind in KINDS:
        for split in SPLIT_STYLE:
            column = f"{split}_{kind}"
            if by_epoch is not None and column in epochs and epochs[column].notna().any():
                stats = by_epoch[column].agg(["mean", "std"])  # pandas' std: ddof=1, NaN for one job
                cell.curves.setdefault(kind, []).append(
                    Curve(split, stats.index, stats["mean"], stats["std"]))
    if not done:
        cell.why_empty = "no completed job\n" + ", ".join(sorted({job.status for job in jobs}))
    return cell


def _recorded(job: Job, column: str) -> bool:
    return job.metrics is not None and column in job.metrics and job.metrics[column].notna().any()


def suptitle(jobs: list[Job], same: dict[str, str], what: str, unit: str = " per epoch") -> str:
    """'accuracy per epoch: fashion_mnist / MLP' over the settings every job shares (`same`; the
    panels say what differs), so the figure says which sweep it is."""
    # run_name reads a config: once per dataset and model, not once per job of a 10,000-job sweep
    kinds = {(job.settings.get("dataset.name"), job.settings.get("model._target_")): job
             for job in jobs if job.settings}
    names = {run_name(job.path) for job in kinds.values()}
    head = f"{what}{unit}" + (f": {names.pop()}" if len(names) == 1 and None not in names else "")
    shared = [f"{k}={v}" for k, v in same.items() if not k.startswith(NOT_SETTINGS)]
    return "\n".join([head, *wrap(shared, 100)])


def _grid(combos: list[tuple], keys: list[str], levels: dict[str, list[str]]) -> list[tuple[int, int]]:
    """(row, col) per cell: by the swept parameters when there are two or more and every
    combination has one cell at most; else in order, wrapped."""
    if len(keys) >= 2:
        if len(set(combos)) == len(combos) and all(v in levels[k] for c in combos
                                                   for k, v in zip(keys, c, strict=True)):
            row_keys = sorted({c[:-1] for c in combos},
                              key=lambda rk: [levels[k].index(v) for k, v in zip(keys, rk, strict=False)])
            return [(row_keys.index(c[:-1]), levels[keys[-1]].index(c[-1])) for c in combos]
    n = len(combos)
    cols = n if n <= 4 else math.ceil(math.sqrt(n))
    return [(i // cols, i % cols) for i in range(n)]


def _title(job: Job, swept: list[str], setting: Callable[[str, str], str]) -> str:
    """The job's swept values, else its folder; the status when it did not end well."""
    parts = [setting(k, job.params.get(k)) for k in swept] or [job.name]
    if job.status not in OK_STATUSES:
        parts[-1] += f" [{job.status}]"
    return _wrap(parts)


def _wrap(parts: list[str]) -> str:
    """Long lists of parameters wrap between parameters, not inside one, 4 lines at most."""
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + len(part) > 40:
            lines.append(part)
        else:
            lines[-1] += f", {part}"
    return "\n".join(lines if len(lines) <= 4 else [*lines[:3], "..."])


def _colour_keys(swept: list[str], aggregate: str | None, levels: dict[str, list[str]],
                 jobs: list[Job]) -> list[str]:
    """The keys whose combinations colour the shared panels: the swept keys but the seed (and the
    aggregated one); while that makes more than MAX_COLOURS combinations, the key with the most
    values is left out too."""
    keys = [k for k in swept if k not in (aggregate, DEFAULT_KEY)]
    while len(keys) > 1 and len({tuple(j.params.get(k) for k in keys) for j in jobs}) > MAX_COLOURS:
        keys.remove(max(keys, key=lambda k: len(levels.get(k, []))))
    return keys


def _overlaid(jobs: list[Job], path: Path, setting: Callable[[str, str], str], same: dict[str, str],
              keys: list[str], levels: dict[str, list[str]]) -> list[tuple[int, int, str]]:
    """A row per kind (loss, accuracy), a panel per split: every job's curve as a thin line, and
    the median over jobs per epoch, bold; coloured by the jobs' values of `keys` (a colour and a
    median per combination, one legend entry each), or in the split's colour with a black median
    when no key is left to colour by."""
    from matplotlib.collections import LineCollection

    combo_of = [tuple(value(j.params.get(k)) for k in keys) for j in jobs]
    combos = sorted(set(combo_of), key=lambda c: rank(c, keys, levels))
    number = {c: i for i, c in enumerate(combos)}
    palette = ([f"C{i}" for i in range(len(combos))] if len(combos) <= 10 else
               list(plt.get_cmap("viridis")(np.linspace(0, 0.92, len(combos)))))
    present = {kind: [split for split in SPLIT_STYLE if any(_recorded(j, f"{split}_{kind}") for j in jobs)]
               for kind in KINDS}
    kinds = [kind for kind in KINDS if present[kind]] or ["loss"]
    cols = max([len(present[kind]) for kind in kinds] + [1])
    fig, axes = plt.subplots(len(kinds), cols, figsize=(4.2 * cols, 3.3 * len(kinds) + 0.6),
                             squeeze=False, sharex=True, constrained_layout=True)
    panels = []
    for row, kind in enumerate(kinds):
        for col in range(cols):
            ax = axes[row][col]
            if col >= len(present[kind]):
                ax.axis("off")
                continue
            split = present[kind][col]
            column = f"{split}_{kind}"
            drawn = [(number[combo], j.metrics[["epoch", column]].dropna().to_numpy())
                     for j, combo in zip(jobs, combo_of, strict=True) if _recorded(j, column)]
            # every job's epochs in one table: a median per combination and epoch in one groupby
            long = pd.DataFrame(np.concatenate([np.column_stack([np.full(len(line), c), line])
                                                for c, line in drawn]), columns=["combo", "epoch", "y"])
            medians = long.groupby(["combo", "epoch"])["y"].median()
            for c in sorted({c for c, _ in drawn}):
                lines = [line for k, line in drawn if k == c]
                one = not keys
                ax.add_collection(LineCollection(lines, colors=SPLIT_STYLE[split][1] if one else palette[c],
                                                 linewidths=0.6, alpha=min(0.4, max(0.04, 8 / len(lines)))))
                median = medians.loc[float(c)]
                ax.plot(median.index, median.to_numpy(), color="black" if one else palette[c],
                        linewidth=1.6, label="median" if one else _combo_label(keys, combos[c], setting))
            if not keys:
                ax.legend(fontsize=8)
            ax.autoscale()
            if kind == "acc":
                ax.set_ylim(-0.02, 1.02)
            title = f"{split} {KINDS[kind]}: {len(drawn)} jobs, one line each"
            ax.set(xlabel="epoch", ylabel=KINDS[kind])
            ax.set_title(title, fontsize=9)
            ax.grid(alpha=0.3)
            panels.append((row, col, title))
    if keys:  # a legend entry per combination (not per job): its colour, its jobs, bold its median
        counts = Counter(combo_of)
        entries = [(plt.Line2D([], [], color=palette[i], linewidth=1.6),
                    f"{_combo_label(keys, c, setting)} ({counts[c]} jobs)") for i, c in enumerate(combos)]
        if len(entries) > 2 * MAX_LEGEND:
            hidden = len(entries) - 2 * MAX_LEGEND
            entries = [*entries[:MAX_LEGEND], (plt.Line2D([], [], ls="none"), f"... {hidden} more ..."),
                       *entries[-MAX_LEGEND:]]
        legend_below(fig, *map(list, zip(*entries, strict=True)))
    what = " and ".join(KINDS[k] for k in kinds)
    fig.suptitle(suptitle(jobs, same, what) + ("\nthin: a job; bold: the median per epoch of each colour"
                                              if keys else ""), fontsize=10)
    save(fig, path)
    return panels


def _combo_label(keys: list[str], combo: tuple, setting: Callable[[str, str], str]) -> str:
    return ", ".join(setting(k, v) for k, v in zip(keys, combo, strict=True))
