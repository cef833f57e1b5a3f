"""report.md, and the table `nnlab report` (and the end of `nnlab train -m`) prints.

The pivot puts the swept parameters on rows (all but the last) and columns (the last); a cell is
a job's metric, or the status of a job that did not end well. When a key is aggregated (the
seed), it leaves the pivot and a cell is the mean ± std over it with its count (aggregate.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from nnlab.report import aggregate as agg
from nnlab.report.jobs import OK_STATUSES, levels, rank, value

if TYPE_CHECKING:
    from nnlab.report.command import Report

SPLITS = ("train", "val", "test")
METRICS = [f"{split}_{kind}" for split in SPLITS for kind in ("loss", "acc")]


def console_summary(report: Report, metric: str) -> str:
    """The status counts and the final-epoch pivot."""
    lines = [f"{len(report.table)} jobs: {status_counts(report.table)}"]
    if report.aggregate:
        lines.append(f"{metric}, final epoch: mean ± sample std (ddof=1) over {report.aggregate}; "
                     "n = jobs that completed")
    return "\n".join([*lines, pivot_markdown(report, metric, "final")])


def markdown(report: Report, metric: str, paths: list[Path]) -> str:
    t, swept, over = report.table, report.swept, report.aggregate
    lines = [f"# Report: {', '.join(str(p) for p in paths)}", "",
             f"{len(t)} jobs: {status_counts(t)}."]
    if swept:
        lines.append(differs_line(report))
    if report.constant:
        lines.append("Same in every job: " + ", ".join(f"`{k}={v}`" for k, v in
                                                      report.constant.items()) + ".")
    over_text = ""
    if over:
        over_text = f"mean ± std over {over}"
        lines += ["", f"Aggregated over `{over}`: a cell is the mean over the jobs that completed "
                  f"and the sample standard deviation (ddof=1: n - 1 in the denominator); n counts "
                  f"those jobs, and `n=4 of 5` means one job of that combination did not complete "
                  f"and is left out (see the jobs table). The best mean is in bold. "
                  f"report_aggregated.csv has every metric's mean and std per combination."]
    monitor = ", ".join(sorted(set(t["monitor"].dropna()))) or "the monitored metric"
    lines += ["", f"## {metric}, final epoch" + (f" ({over_text})" if over else ""), "",
              pivot_markdown(report, metric, "final"), "",
              f"## {metric} at the best epoch (best {monitor}" + (f"; {over_text})" if over else ")"), "",
              pivot_markdown(report, metric, "best"), "", "## Jobs (final metrics)", "",
              _jobs_markdown(report), "", "## Learning curves", "",
              "Loss (top) and accuracy (bottom) per epoch"
              + (f"; the line is the mean over {over} of the jobs that completed, the band ± one "
                 "standard deviation; past the epoch where a job stopped early, the mean is over "
                 "the jobs that reached it." if over else "."), "",
              "![learning curves](curves.png)", ""]
    for overlay in report.probes:
        lines += [f"## Probe: {overlay.name}", "", overlay.caption, "",
                  f"![{overlay.name}]({overlay.file})", ""]
        for title, table in overlay.tables:
            lines += [f"{title}:", "", table, ""]
    return "\n".join(lines)


def differs_line(report: Report) -> str:
    """'Differs between the jobs: `model` (lenet, mlp), and with it `optimizer.lr` (0.01, 0.001);
    `seed` (0, 1, 2, ..., 199 (200 values)).' Every key whose resolved value differs, an axis of
    the tables with the keys that vary with it."""
    t, diffs = report.table, report.differences
    parts = []
    for axis in report.swept:
        part = f"`{axis}` ({listed(levels(t, [axis])[axis])})"
        along = diffs.together.get(axis, []) if diffs else []
        if along:
            part += ", and with it " + ", ".join(f"`{k}` ({listed(levels(t, [k])[k])})" for k in along)
        parts.append(part)
    return "Differs between the jobs (their resolved configs): " + "; ".join(parts) + "."


def pivot_markdown(report: Report, metric: str, which: str) -> str:
    """Rows: all pivot keys but the last; columns: the last; jobs with the same values share a
    cell (' / ' between them), or with an aggregated key, a group's mean ± std is its cell."""
    t, keys = report.table, report.keys
    col = f"{which}_{metric}"
    found = levels(t, report.swept)
    grouped: dict[tuple, list[str]] = {}
    if report.aggregate:
        aggregated = report.aggregated
        best = agg.best_mean(aggregated, col, metric.endswith("_acc"))
        for group, (_, row) in zip(report.groups, aggregated.iterrows(), strict=True):
            mean = row.get(f"{col}_mean")
            grouped[group.combo] = [agg.cell(row, col, group, bold=best is not None and mean == best)]
        if not keys:  # only the aggregated key was swept: one cell for all jobs
            return md_table([report.aggregate, metric], [[listed(found[report.aggregate]),
                                                          grouped.get((), ["-"])[0]]])
    else:
        values = t[col] if col in t else pd.Series([None] * len(t))
        best = values[t["status"].isin(OK_STATUSES)]
        best = (best.max() if metric.endswith("_acc") else best.min()) if best.notna().any() else None
        cells = [_number(v, bold=v == best) if status in OK_STATUSES else status
                 for v, status in zip(values, t["status"], strict=True)]
        if not keys:
            return md_table(["job", metric], [[job, cell] for job, cell in zip(t["job"], cells,
                                                                                   strict=True)])
        for (_, job), cell in zip(t.iterrows(), cells, strict=True):
            grouped.setdefault(tuple(value(job[k]) for k in keys), []).append(cell)
    row_keys, col_key = keys[:-1], keys[-1]
    shown = report.differences.shown if report.differences else (lambda key, v: v)
    if not row_keys:
        return md_table([col_key, metric], [[shown(col_key, v), " / ".join(grouped.get((v,), ["-"]))]
                                             for v in found[col_key]])
    header = [*row_keys[:-1], f"{row_keys[-1]} \\ {col_key}", *(shown(col_key, c) for c in found[col_key])]
    rows = []
    for row in dict.fromkeys(k[:-1] for k in sorted(grouped, key=lambda k: rank(k, keys, found))):
        rows.append([*(shown(k, v) for k, v in zip(row_keys, row, strict=True)),
                     *(" / ".join(grouped.get((*row, c), ["-"])) for c in found[col_key])])
    return md_table(header, rows)


def _jobs_markdown(report: Report) -> str:
    t = report.table
    metrics = [c for c in t.columns if c.startswith("final_")]
    keys = report.differences.keys if report.differences else report.swept
    columns = ["job", "status", *keys, "epochs_completed", "best_epoch", *metrics,
               "wall_time_s", "note"]
    header = [{"epochs_completed": "epochs done"}.get(c, c.removeprefix("final_")) for c in columns]
    numbers = [c in metrics for c in columns]
    return md_table(header, [[_number(v) if number else _cell(v)
                              for v, number in zip(row, numbers, strict=True)]
                             for row in t[columns].itertuples(index=False)])


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(_cell(c).replace("|", "\\|") for c in line) + " |"
                     for line in lines)


def _number(value, bold: bool = False) -> str:
    if value is None or pd.isna(value):
        return "-"
    return f"**{value:.4f}**" if bold else f"{value:.4f}"


def _cell(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def status_counts(table: pd.DataFrame) -> str:
    return ", ".join(f"{n} {status}" for status, n in table["status"].value_counts(sort=False).items())


def listed(values: list[str], most: int = 8) -> str:
    """A swept key's values, shortened when there are many: a thousand seeds are one line
    ("0, 1, 2, ..., 998, 999 (1000 values)"), not a thousand numbers in a table cell."""
    if len(values) <= most:
        return ", ".join(values)
    return f"{', '.join(values[:3])}, ..., {', '.join(values[-2:])} ({len(values)} values)"
