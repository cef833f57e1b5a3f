"""report.md, and the table `nnlab report` (and the end of `nnlab train -m`) prints.

The pivot puts the swept parameters on rows (all but the last) and columns (the last); a cell is
a job's metric, or the status of a job that did not end well. When a key is aggregated (the
seed), it leaves the pivot and a cell is the mean ± std over it with its count (aggregate.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from nnlab.report import aggregate as agg
from nnlab.report.jobs import OK_STATUSES, levels, rank, value

if TYPE_CHECKING:
    from nnlab.report.result import Report

SPLITS = ("train", "val", "test")
METRICS = [f"{split}_{kind}" for split in SPLITS for kind in ("loss", "acc")]


def console_summary(report: Report, metric: str, population: bool = False) -> str:
    """The status counts and the final-epoch pivot (what a sweep prints when it ends); with
    `population` (`nnlab report`), the distribution per combination when aggregated, and the
    shares that meet --threshold."""
    lines = [f"{len(report.table)} jobs: {status_counts(report.table)}"]
    if report.aggregate:
        lines.append(f"{metric}, final epoch: mean ± sample std (ddof=1) over {report.aggregate}; "
                     "n = jobs that completed")
    lines.append(pivot_markdown(report, metric, "final"))
    if not population:
        return "\n".join(lines)
    if report.aggregate:
        lines += [f"{metric}, final epoch, over {report.aggregate}: quantiles of the jobs that completed",
                  distribution_table(report, metric).markdown()]
    if report.threshold is not None:
        lines += [threshold_heading(report), threshold_table(report).markdown()]
    return "\n".join(lines)


def threshold_heading(report: Report) -> str:
    return (f"share of the completed jobs with {report.threshold} at the final epoch"
            + (f", per combination over {report.aggregate}" if report.aggregate else "")
            + ", with its 95% Wilson interval")


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
                  f"report_aggregated.csv has every metric's mean, std, min, quartiles, median "
                  f"and max per combination."]
    monitor = ", ".join(sorted(set(t["monitor"].dropna()))) or "the monitored metric"
    lines += ["", f"## {metric}, final epoch" + (f" ({over_text})" if over else ""), "",
              pivot_markdown(report, metric, "final"), "",
              f"## {metric} at the best epoch (best {monitor}" + (f"; {over_text})" if over else ")"), "",
              pivot_markdown(report, metric, "best"), "", *_population(report, metric),
              "## Jobs (final metrics)", "",
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


def _population(report: Report, metric: str) -> list[str]:
    """The distribution over the aggregated key (table and distribution.png) and the shares that
    meet --threshold, each a section of report.md."""
    lines = []
    if report.aggregate:
        lines += [f"## {metric}, final epoch: distribution over {report.aggregate}", "",
                  "Per combination, over its jobs that completed: the mean ± std of the table above "
                  "and the five-number summary (quantiles interpolated linearly). "
                  "distribution.png shows every job.", "", distribution_table(report, metric).markdown(),
                  "", f"![final {metric} per combination](distribution.png)", ""]
    if report.threshold is not None:
        lines += [f"## Share of jobs with {report.threshold}", "",
                  f"Per combination, k of its n jobs that completed have {report.threshold} at "
                  f"the final epoch (jobs that did not complete are not counted); the share k / n "
                  f"and its 95% Wilson score interval (report_threshold.csv).", "",
                  threshold_table(report).markdown(), ""]
    return lines


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


@dataclass
class Table:
    """A table of report.md, also written as LaTeX (latex.py). A pivot's header names its row keys
    and, in the corner, its column key ('optimizer.lr \\ batch_size'): `row_keys` and `col_key`."""
    header: list[str]
    rows: list[list[str]]
    row_keys: list[str] = field(default_factory=list)
    col_key: str | None = None
    keys: int = 1  # how many leading columns name a combination (the others hold numbers)

    def markdown(self) -> str:
        return md_table(self.header, self.rows)


def pivot_markdown(report: Report, metric: str, which: str) -> str:
    return pivot_table(report, metric, which).markdown()


def pivot_table(report: Report, metric: str, which: str) -> Table:
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
            return Table([report.aggregate, metric], [[listed(found[report.aggregate]),
                                                       grouped.get((), ["-"])[0]]])
    else:
        values = t[col] if col in t else pd.Series([None] * len(t))
        best = values[t["status"].isin(OK_STATUSES)]
        best = (best.max() if metric.endswith("_acc") else best.min()) if best.notna().any() else None
        cells = [_number(v, bold=v == best) if status in OK_STATUSES else status
                 for v, status in zip(values, t["status"], strict=True)]
        if not keys:
            return Table(["job", metric], [[job, cell] for job, cell in zip(t["job"], cells, strict=True)])
        combos = zip(*(t[k] for k in keys), strict=True)
        for combo, cell in zip(combos, cells, strict=True):
            grouped.setdefault(tuple(value(v) for v in combo), []).append(cell)
    row_keys, col_key = keys[:-1], keys[-1]
    shown = _shown(report)
    if not row_keys:
        return Table([col_key, metric], [[shown(col_key, v), " / ".join(grouped.get((v,), ["-"]))]
                                          for v in found[col_key]])
    columns = [shown(col_key, c) for c in found[col_key]]
    header = [*row_keys[:-1], f"{row_keys[-1]} \\ {col_key}", *columns]
    rows = []
    for row in dict.fromkeys(k[:-1] for k in sorted(grouped, key=lambda k: rank(k, keys, found))):
        rows.append([*(shown(k, v) for k, v in zip(row_keys, row, strict=True)),
                     *(" / ".join(grouped.get((*row, c), ["-"])) for c in found[col_key])])
    return Table(header, rows, row_keys, col_key)


def distribution_table(report: Report, metric: str) -> Table:
    """A row per combination (aggregated): n, mean ± std, and the five-number summary of the
    final metric over its completed jobs."""
    col = f"final_{metric}"
    shown = _shown(report)
    rows = []
    for group, (_, row) in zip(report.groups, report.aggregated.iterrows(), strict=True):
        n, planned = int(row["n"]), int(row["n_planned"])
        stats = [row.get(f"{col}_{name}") for name in ("mean", "std", *agg.QUANTILES)]
        mean, std, *five = [None if v is None or pd.isna(v) else v for v in stats]
        rows.append([*(shown(k, v) for k, v in zip(report.keys, group.combo, strict=True)),
                     f"{n}" + (f" of {planned}" if n < planned else ""),
                     "-" if mean is None else f"{mean:.4f}" + ("" if std is None else f" ± {std:.4f}"),
                     *(_number(v) for v in five)])
    keys = report.keys or ["jobs"]
    if not report.keys:
        rows = [["all", *row] for row in rows]
    return Table([*keys, "n", "mean ± std", "min", "25%", "median", "75%", "max"], rows, keys=len(keys))


def threshold_table(report: Report) -> Table:
    """A row per combination: the share of completed jobs that meet --threshold, its 95% Wilson
    interval, and the counts."""
    from nnlab.report.population import share_cells

    shown = _shown(report)
    keys = report.keys
    rows = [[*(shown(k, row[k]) for k in keys), *share_cells(row)] for _, row in report.shares.iterrows()]
    if not keys:
        rows = [["all", *row] for row in rows]
    return Table([*(keys or ["jobs"]), "share", "95% interval (Wilson)", "k of n"], rows,
                 keys=max(1, len(keys)))


def _shown(report: Report):
    return report.differences.shown if report.differences else (lambda key, v: v)


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
