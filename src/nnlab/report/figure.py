"""curves.png for `nnlab report`: one panel of learning curves per job, on shared axes.

With two or more swept parameters the panels form a grid like the pivot table (rows: all
parameters but the last, columns: the last), the layout of seeds/000's hyper-parameter figures;
otherwise they are laid out in job order. Matplotlib with the Agg backend, as in nnlab.plots
(not imported here: it pulls in torch, which a report does not need).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from nnlab.report.jobs import OK_STATUSES, Job  # noqa: E402
from nnlab.runs import NOT_SETTINGS, run_name, wrap  # noqa: E402

# Line style per split, as nnlab.plots.SPLIT_STYLE; fixed colours so a split looks the same in
# every panel, whichever splits a job has.
SPLIT_STYLE = {"train": ("-", "C0"), "val": ("--", "C1"), "test": (":", "C2")}
FAILED_COLOUR = "#c0392b"


# More jobs than this share one panel per split (a thin line each, the median bold): a panel per
# job would make a figure of a thousand panels that takes minutes to draw and says nothing.
MAX_PANELS = 48


def curves(jobs: list[Job], swept: list[str], levels: dict[str, list[str]], metric: str,
           path: Path) -> list[tuple[int, int, str]]:
    """Draw every job's `metric` kind (loss or acc) for each split; returns (row, col, title) per
    panel."""
    if len(jobs) > MAX_PANELS:
        return _overlaid(jobs, swept, metric, path)
    positions = _grid(jobs, swept, levels)
    rows = 1 + max(r for r, _ in positions)
    cols = 1 + max(c for _, c in positions)
    fig, axes = plt.subplots(rows, cols, figsize=(2.9 * cols + 0.4, 2.3 * rows + 0.7), squeeze=False,
                             sharex=True, sharey=True, constrained_layout=True)
    kind = metric.rsplit("_", 1)[1]
    panels, lows, highs = [], [], []
    for job, (r, c) in zip(jobs, positions, strict=True):
        ax = axes[r][c]
        title = _title(job, swept)
        for split, (style, colour) in SPLIT_STYLE.items():
            column = f"{split}_{kind}"
            if job.metrics is not None and column in job.metrics and job.metrics[column].notna().any():
                ax.plot(job.metrics["epoch"], job.metrics[column], style, color=colour, label=split,
                        marker="o" if len(job.metrics) <= 12 else None, markersize=3)
                lows.append(job.metrics[column].min())
                highs.append(job.metrics[column].max())
        if job.metrics is None:
            ax.text(0.5, 0.5, f"{job.status}\nno epochs", transform=ax.transAxes, ha="center",
                    va="center", color=FAILED_COLOUR, fontsize=11)
        ax.set_title(title, fontsize=8, color="black" if job.status in OK_STATUSES else FAILED_COLOUR)
        ax.grid(alpha=0.3)
        panels.append((r, c, title))
    used = set(positions)
    for r in range(rows):
        for c in range(cols):
            if (r, c) not in used:
                axes[r][c].axis("off")
            else:
                axes[r][c].tick_params(labelsize=7, labelbottom=True)
    axes[0][0].xaxis.set_major_locator(MaxNLocator(integer=True))
    if kind == "acc":
        axes[0][0].set_ylim(-0.02, 1.02)
    elif lows and min(lows) > 0 and max(highs) / min(lows) > 100:
        axes[0][0].set_yscale("log")  # losses spanning decades (a near-diverging lr) read better
    for r in range(rows):
        axes[r][0].set_ylabel(kind if kind == "loss" else "accuracy", fontsize=8)
    for c in range(cols):
        axes[rows - 1][c].set_xlabel("epoch", fontsize=8)
    handles = [plt.Line2D([], [], ls=style, color=colour, label=split)
               for split, (style, colour) in SPLIT_STYLE.items()
               if any(j.metrics is not None and f"{split}_{kind}" in j.metrics
                      and j.metrics[f"{split}_{kind}"].notna().any() for j in jobs)]
    if handles:
        fig.legend(handles=handles, loc="outside upper right", ncols=len(handles), fontsize=8)
    fig.suptitle(suptitle(jobs, swept, "loss" if kind == "loss" else "accuracy"), fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return panels


def suptitle(jobs: list[Job], swept: list[str], what: str) -> str:
    """'accuracy per epoch: fashion_mnist / MLP' over the settings every job shares (the panels
    say what differs), so the figure says which sweep it is."""
    names = {run_name(job.path) for job in jobs}
    head = f"{what} per epoch" + (f": {names.pop()}" if len(names) == 1 and None not in names else "")
    shared = [f"{k}={v}" for k, v in jobs[0].overrides.items()
              if k not in swept and not k.startswith(NOT_SETTINGS)
              and all(job.overrides.get(k) == v for job in jobs)]
    return "\n".join([head, *wrap(shared, 100)])


def _grid(jobs: list[Job], swept: list[str], levels: dict[str, list[str]]) -> list[tuple[int, int]]:
    """(row, col) per job: by the swept parameters when every combination has one job at most;
    else in job order, wrapped."""
    if len(swept) >= 2:
        combos = [tuple(job.params.get(k) for k in swept) for job in jobs]
        if len(set(combos)) == len(combos) and all(v in levels[k] for c in combos
                                                   for k, v in zip(swept, c, strict=True)):
            row_keys = sorted({c[:-1] for c in combos},
                              key=lambda rk: [levels[k].index(v) for k, v in zip(swept, rk, strict=False)])
            return [(row_keys.index(c[:-1]), levels[swept[-1]].index(c[-1])) for c in combos]
    n = len(jobs)
    cols = n if n <= 4 else math.ceil(math.sqrt(n))
    return [(i // cols, i % cols) for i in range(n)]


def _title(job: Job, swept: list[str]) -> str:
    """The job's swept values, else its folder; the status when it did not end well."""
    parts = [f"{k}={job.params.get(k)}" for k in swept] or [job.name]
    if job.status not in OK_STATUSES:
        parts[-1] += f" [{job.status}]"
    # Long lists of parameters wrap between parameters, not inside one, 4 lines at most.
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + len(part) > 40:
            lines.append(part)
        else:
            lines[-1] += f", {part}"
    return "\n".join(lines if len(lines) <= 4 else [*lines[:3], "..."])


def _overlaid(jobs: list[Job], swept: list[str], metric: str, path: Path) -> list[tuple[int, int, str]]:
    """One panel per split: every job's curve as a thin line, and the median over jobs per epoch."""
    import pandas as pd
    from matplotlib.collections import LineCollection

    kind = metric.rsplit("_", 1)[1]
    present = [split for split in SPLIT_STYLE
               if any(j.metrics is not None and f"{split}_{kind}" in j.metrics
                      and j.metrics[f"{split}_{kind}"].notna().any() for j in jobs)] or ["train"]
    fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 3.6), squeeze=False,
                             sharey=True, constrained_layout=True)
    panels = []
    for col, split in enumerate(present):
        ax, column = axes[0][col], f"{split}_{kind}"
        lines = [j.metrics[["epoch", column]].dropna().to_numpy() for j in jobs
                 if j.metrics is not None and column in j.metrics]
        ax.add_collection(LineCollection(lines, colors=SPLIT_STYLE[split][1], linewidths=0.6, alpha=0.15))
        if lines:
            table = pd.concat([pd.Series(line[:, 1], index=line[:, 0]) for line in lines], axis=1)
            ax.plot(table.index, table.median(axis=1), color="black", linewidth=1.6, label="median")
            ax.legend(fontsize=8)
        ax.autoscale()
        if kind == "acc":
            ax.set_ylim(-0.02, 1.02)
        title = f"{split}: {len(lines)} jobs, one line each"
        ax.set(xlabel="epoch", ylabel=kind if kind == "loss" else "accuracy")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        panels.append((0, col, title))
    fig.suptitle(suptitle(jobs, swept, f"{kind if kind == 'loss' else 'accuracy'} per epoch"), fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return panels
