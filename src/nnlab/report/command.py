"""`nnlab report PATH... [--out DIR] [--metric test_acc]`: a sweep's jobs as tables and one figure.

Reads run folders as data (every folder under a PATH that holds .hydra/config.yaml) and writes
into --out (default: the PATH, when there is one):

  report.csv   one row per job: folder, status, swept parameters, final and best metrics
  report.md    the metric pivoted on the swept parameters, then every job with its status
  curves.png   learning curves, one panel per job on a shared y scale (report_figure.py)

A job that did not end well (diverged, failed, interrupted, still `running`, no summary.json,
no metrics.csv, or planned in the sweep's multirun.yaml but never started) is kept in every
output under its status. Collecting the jobs lives in report_jobs.py.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nnlab.errors import UserError, choice_error, die
from nnlab.report.jobs import OK_STATUSES, Job, collect_jobs
from nnlab.runs import CSV_FLOAT_FORMAT

SPLITS = ("train", "val", "test")
METRICS = [f"{split}_{kind}" for split in SPLITS for kind in ("loss", "acc")]
USAGE = "nnlab report PATH... [--out DIR] [--metric NAME] [--columns KEY]"


@dataclass
class Report:
    table: pd.DataFrame  # report.csv
    swept: list[str]  # swept parameters; the pivot's rows are all but the last, columns the last
    constant: dict[str, str]  # overrides that are the same in every job
    panels: list[tuple[int, int, str]]  # curves.png: (row, column, title) per panel
    out: Path


def main(argv: list[str]) -> None:
    parser = _Parser(prog="nnlab report", usage=USAGE,
                     description="Tabulate and plot the jobs of a sweep, or any run folders.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a sweep folder, run folders, or folders holding run folders")
    parser.add_argument("--out", type=Path, metavar="DIR", help="where to write report.csv, report.md and "
                        "curves.png (default: PATH, when there is one)")
    parser.add_argument("--metric", default="test_acc", metavar="NAME", help=f"the metric in the pivot table "
                        f"and the curves: {', '.join(METRICS)} (default test_acc)")
    parser.add_argument("--columns", metavar="KEY", help="the swept parameter across the table "
                        "and the grid of curves (default: the last one typed)")
    args = parser.parse_args(argv)
    try:
        report = write_report([Path(p) for p in args.paths], args.out, args.metric, args.columns)
    except UserError as ex:
        die(f"report: {ex}", ex.exit_code)
    except OSError as ex:  # e.g. --out not writable
        die(f"report: cannot write {ex.filename or args.out}: {ex.strerror}")
    print(f"{len(report.table)} jobs: {_status_counts(report.table)}")
    print(_pivot_markdown(report, args.metric, "final"))
    print(f"wrote report.csv, report.md and curves.png to {report.out}")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, like every other bad input
        die(f"report: {message}; usage: {USAGE}")


def write_report(paths: list[Path], out: Path | None, metric: str = "test_acc",
                 columns: str | None = None) -> Report:
    if metric not in METRICS:
        raise choice_error("--metric", metric, METRICS)
    if out is None:
        if len(paths) != 1:
            raise UserError("several PATHs given: say where the report goes with --out DIR")
        out = paths[0]
    jobs = collect_jobs(paths)
    recorded = {c for j in jobs if j.metrics is not None for c in j.metrics.columns
                if j.metrics[c].notna().any()}
    if recorded and metric not in recorded:
        raise UserError(f"no job recorded {metric}; recorded: "
                        f"{', '.join(m for m in METRICS if m in recorded)}")
    swept, constant = _swept_parameters(jobs)
    if columns is not None:
        if columns not in swept:
            raise (choice_error("--columns (a swept parameter)", columns, swept) if swept else
                   UserError(f"--columns {columns}: no parameter differs between these jobs"))
        swept = [k for k in swept if k != columns] + [columns]
    table = _table(jobs, swept)

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)

    from nnlab.report.figure import curves  # matplotlib is imported once the input is checked

    panels = curves(jobs, swept, _levels(table, swept), metric, out / "curves.png")
    report = Report(table, swept, constant, panels, out)
    table.to_csv(out / "report.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    (out / "report.md").write_text(_markdown(report, metric, paths))
    return report


def _swept_parameters(jobs: list[Job]) -> tuple[list[str], dict[str, str]]:
    """Keys whose value differs between jobs, in the order they were typed; the others."""
    keys = list(dict.fromkeys(k for j in jobs for k in j.params))
    swept, constant = [], {}
    for key in keys:
        values = {j.params[key] for j in jobs if j.params.get(key) is not None}
        if len(values) > 1:
            swept.append(key)
        elif values and all(key in j.overrides for j in jobs if j.overrides):
            constant[key] = values.pop()
    return swept, constant


def _table(jobs: list[Job], swept: list[str]) -> pd.DataFrame:
    rows = []
    for j in jobs:
        s = j.summary
        row = {"job": j.name, "status": j.status, **{k: j.params.get(k) for k in swept},
               "epochs_completed": s.get("epochs_completed"), "best_epoch": s.get("best_epoch"),
               "monitor": s.get("monitor")}
        final = s.get("final") or (j.metrics.iloc[-1].to_dict() if j.metrics is not None else {})
        row.update({f"final_{m}": final.get(m) for m in METRICS})
        row.update({f"best_{m}": (s.get("best") or {}).get(m) for m in METRICS})
        row.update({"wall_time_s": s.get("wall_time_s"), "n_params": s.get("n_params"),
                    "note": j.note, "path": str(j.path)})
        rows.append(row)
    table = pd.DataFrame(rows)
    # Splits a dataset does not have (val on the toys) are empty in every job: drop those columns.
    empty = [c for c in table.columns if c.startswith(("final_", "best_")) and table[c].isna().all()]
    return table.drop(columns=empty)


def _levels(table: pd.DataFrame, keys: list[str]) -> dict[str, list[str]]:
    """Each swept parameter's values: ascending when all are numbers, else in order of appearance."""
    levels = {}
    for key in keys:
        values = list(dict.fromkeys(v for v in table[key] if _value(v) != "-"))
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
        if numbers.notna().all():
            values = [v for _, v in sorted(zip(numbers, values, strict=True))]
        levels[key] = values + (["-"] if any(_value(v) == "-" for v in table[key]) else [])
    return levels


def _value(value) -> str:
    """A parameter's value, "-" for a job that has none (not typed, and not in its config)."""
    return value if isinstance(value, str) else "-"


# --- report.md -------------------------------------------------------------------------------


def _markdown(report: Report, metric: str, paths: list[Path]) -> str:
    t, swept = report.table, report.swept
    lines = [f"# Report: {', '.join(str(p) for p in paths)}", "",
             f"{len(t)} jobs: {_status_counts(t)}."]
    if swept:
        lines.append("Swept: " + "; ".join(
            f"`{k}` ({', '.join(_levels(t, [k])[k])})" for k in swept) + ".")
    if report.constant:
        lines.append("Same in every job: " + ", ".join(f"`{k}={v}`" for k, v in
                                                      report.constant.items()) + ".")
    monitor = ", ".join(sorted(set(t["monitor"].dropna()))) or "the monitored metric"
    lines += ["", f"## {metric}, final epoch", "", _pivot_markdown(report, metric, "final"), "",
              f"## {metric} at the best epoch (best {monitor})", "",
              _pivot_markdown(report, metric, "best"), "", "## Jobs (final metrics)", "",
              _jobs_markdown(report),
              "", "## Learning curves", "", "![learning curves](curves.png)", ""]
    return "\n".join(lines)


def _pivot_markdown(report: Report, metric: str, which: str) -> str:
    """Rows: all swept parameters but the last; columns: the last; cells: the metric, or the
    status of a job that did not end well; jobs with the same parameters share a cell."""
    t, swept = report.table, report.swept
    col = f"{which}_{metric}"
    values = t[col] if col in t else pd.Series([None] * len(t))
    best = values[t["status"].isin(OK_STATUSES)]
    best = (best.max() if metric.endswith("_acc") else best.min()) if best.notna().any() else None
    cells = [_number(v, bold=v == best) if status in OK_STATUSES else status
             for v, status in zip(values, t["status"], strict=True)]
    if not swept:
        return md_table(["job", metric], [[job, cell] for job, cell in zip(t["job"], cells,
                                                                               strict=True)])
    levels = _levels(t, swept)
    row_keys, col_key = swept[:-1], swept[-1]
    grouped: dict[tuple, list[str]] = {}
    for (_, job), cell in zip(t.iterrows(), cells, strict=True):
        grouped.setdefault(tuple(_value(job[k]) for k in swept), []).append(cell)
    if not row_keys:
        return md_table([col_key, metric], [[v, " / ".join(grouped.get((v,), ["-"]))]
                                             for v in levels[col_key]])
    header = [*row_keys[:-1], f"{row_keys[-1]} \\ {col_key}", *levels[col_key]]
    rows = []
    for row in dict.fromkeys(k[:-1] for k in sorted(grouped, key=lambda k: _rank(k, swept, levels))):
        rows.append([*row, *(" / ".join(grouped.get((*row, c), ["-"])) for c in levels[col_key])])
    return md_table(header, rows)


def _rank(key: tuple, swept: list[str], levels: dict[str, list[str]]) -> tuple:
    return tuple(levels[k].index(v) if v in levels[k] else len(levels[k])
                 for k, v in zip(swept, key, strict=True))


def _jobs_markdown(report: Report) -> str:
    t = report.table
    metrics = [c for c in t.columns if c.startswith("final_")]
    columns = ["job", "status", *report.swept, "epochs_completed", "best_epoch", *metrics,
               "wall_time_s", "note"]
    header = [{"epochs_completed": "epochs done"}.get(c, c.removeprefix("final_")) for c in columns]
    return md_table(header, [[_number(r[c]) if c in metrics else _cell(r[c]) for c in columns]
                              for _, r in t.iterrows()])


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


def _status_counts(table: pd.DataFrame) -> str:
    return ", ".join(f"{n} {status}" for status, n in table["status"].value_counts(sort=False).items())
