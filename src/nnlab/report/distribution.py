"""distribution.png for `nnlab report`: the final metric of every completed job, a strip per
combination of the swept keys (when a key such as the seed is aggregated).

Each job is a dot (jittered up and down so that 200 seeds at 0.99 do not hide each other), over a
box from the 25% to the 75% quantile with the median as a bar and whiskers to the min and the
max: what a mean ± std hides (a few seeds stuck at 0.78 while the median is 0.99) is visible at
a glance. With --threshold on the same metric, a dashed line marks it and each strip states its
share (the Wilson interval is in report.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from nnlab.report.aggregate import Group
from nnlab.report.figure import FAILED_COLOUR, plt, save
from nnlab.report.population import Threshold

SYMBOLS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


def distribution(table: pd.DataFrame, groups: list[Group], keys: list[str], metric: str,
                 shown: Callable[[str, str], str], path: Path, title: str,
                 threshold: Threshold | None = None, shares: pd.DataFrame | None = None) -> list[str]:
    """Draw distribution.png: a strip per group, top to bottom in the tables' order; returns the
    strips' labels."""
    column = f"final_{metric}"
    values = [pd.to_numeric(table[column].iloc[g.completed], errors="coerce").dropna().to_numpy()
              if column in table else np.array([]) for g in groups]
    labels = []
    for group, numbers in zip(groups, values, strict=True):
        name = ", ".join(shown(k, v) for k, v in zip(keys, group.combo, strict=True)) or "all jobs"
        count = f"n={len(numbers)}" + (f" of {len(group.rows)}" if len(numbers) < len(group.rows) else "")
        labels.append(f"{name} ({count})")
    rows = len(groups)
    fig, ax = plt.subplots(figsize=(7.5, 0.62 * rows + 1.5), constrained_layout=True)
    rng = np.random.default_rng(0)  # the same jitter every time: the figure does not change by itself
    for y, numbers in enumerate(values):
        if not len(numbers):
            ax.text(0.5, y, "no completed job", transform=ax.get_yaxis_transform(), ha="center",
                    va="center", color=FAILED_COLOUR, fontsize=8)
            continue
        if len(numbers) > 1:  # the box behind the dots: a dense cluster stays visible
            ax.boxplot([numbers], positions=[y], orientation="horizontal", widths=0.7, whis=(0, 100),
                       showfliers=False, manage_ticks=False, patch_artist=True, zorder=1,
                       boxprops={"facecolor": "#e8e8e8", "edgecolor": "#555555", "linewidth": 1},
                       medianprops={"color": "black", "linewidth": 2.2},
                       whiskerprops={"color": "#555555"}, capprops={"color": "#555555"})
        jitter = rng.uniform(-0.3, 0.3, len(numbers))
        ax.scatter(numbers, y + jitter, s=10, alpha=min(0.9, max(0.35, 40 / len(numbers))), color="C0",
                   linewidths=0, zorder=2)
    if threshold is not None and threshold.metric == metric:
        ax.axvline(threshold.value, color=FAILED_COLOUR, ls="--", linewidth=1, zorder=1)
        for y, (_, row) in enumerate(shares.iterrows() if shares is not None else []):
            if row["n"]:  # exact counts: 1 of 200 is not "0%"
                ax.annotate(f"{row['share']:.1%} {SYMBOLS[threshold.op]} {threshold.value:g}\n"
                            f"({int(row['k'])} of {int(row['n'])})", (1.01, y),
                            xycoords=("axes fraction", "data"), va="center", fontsize=8,
                            color=FAILED_COLOUR)
    ax.set_yticks(range(rows), labels, fontsize=8)
    ax.set_ylabel(", ".join(keys) or "jobs", fontsize=9)
    ax.set_ylim(rows - 0.5, -0.5)  # the first combination on top, as in the tables
    ax.set_xlabel(f"{metric} at the final epoch", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    how = "a dot per completed job; box: 25%-75%, bar: median, whiskers: min and max"
    ax.set_title(how + (f"; dashed: {threshold}" if threshold is not None and threshold.metric == metric
                        else ""), fontsize=8)
    fig.suptitle(title, fontsize=10)
    save(fig, path)
    return labels
