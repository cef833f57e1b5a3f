"""`nnlab report PATH... [--out DIR] [--metric test_acc] [--columns KEY] [--aggregate KEY|none]`: a
sweep's jobs (or any run folders) as tables and figures.

Reads run folders as data (every folder under a PATH that holds .hydra/config.yaml), compares
their resolved configs to find what differs (differences.py), and writes into --out (default: the
PATH, when there is one):

  report.csv             one row per job: folder, status, the keys that differ, final and best metrics
  report_aggregated.csv  when a key is aggregated (the seed, by default): a row per combination
                         of the other swept keys, each metric's mean and std over it (aggregate.py)
  report.md              the metric pivoted on the swept parameters (mean ± std when aggregated),
                         every job with its status, the probes' numbers (markdown.py)
  curves.png             loss and accuracy per epoch, a panel per job or per group (figure.py)
  probe_<name>.png       a probe's results overlaid, a line per run, for probes that several
                         runs share (probes.py)

A job that did not end well (diverged, failed, interrupted, still `running`, no summary.json,
no metrics.csv, or planned in the sweep's multirun.yaml but never started) is kept in every
output under its status. Collecting the jobs lives in jobs.py.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nnlab.errors import UserError, choice_error, die
from nnlab.report import aggregate as agg
from nnlab.report.differences import Differences, differences
from nnlab.report.jobs import Job, collect_jobs, levels, recorded_metrics
from nnlab.report.markdown import METRICS, console_summary, markdown, md_table  # noqa: F401 (md_table: scripts use it)
from nnlab.runs import CSV_FLOAT_FORMAT

USAGE = "nnlab report PATH... [--out DIR] [--metric NAME] [--columns KEY] [--aggregate KEY|none]"


@dataclass
class Report:
    table: pd.DataFrame  # report.csv
    swept: list[str]  # the pivot's axes: a key per set of keys that differ together (--columns last)
    constant: dict[str, str]  # keys typed in every job, with the same value in all
    panels: list[tuple[int, int, str]]  # curves.png: (row, column, title) per panel
    out: Path
    aggregate: str | None = None  # the swept key averaged over, if any
    aggregated: pd.DataFrame | None = None  # report_aggregated.csv, a row per group
    groups: list[agg.Group] = field(default_factory=list)  # the jobs of each aggregated row
    probes: list = field(default_factory=list)  # probes.Overlay per probe_<name>.png written
    differences: Differences | None = None  # every key that differs, and which go together

    @property
    def keys(self) -> list[str]:
        """The pivot's keys: rows all but the last, columns the last; the aggregated one is not."""
        return [k for k in self.swept if k != self.aggregate]


def main(argv: list[str]) -> None:
    parser = _Parser(prog="nnlab report", usage=USAGE,
                     description="Tabulate and plot the jobs of a sweep, or any run folders.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a sweep folder, run folders, or folders holding run folders")
    parser.add_argument("--out", type=Path, metavar="DIR", help="where to write report.csv, report.md, "
                        "curves.png and the rest (default: PATH, when there is one)")
    parser.add_argument("--metric", default="test_acc", metavar="NAME", help=f"the metric in the pivot "
                        f"tables: {', '.join(METRICS)} (default test_acc)")
    parser.add_argument("--columns", metavar="KEY", help="the swept parameter across the table "
                        "and the grid of curves (default: the last one typed)")
    parser.add_argument("--aggregate", metavar="KEY|none", help="a swept parameter to average over: "
                        "mean ± sample std (ddof=1) and n per combination of the others "
                        f"(default: {agg.DEFAULT_KEY}, when it is swept; none: a cell per job)")
    args = parser.parse_args(argv)
    try:
        report = write_report([Path(p) for p in args.paths], args.out, args.metric, args.columns,
                              args.aggregate)
    except UserError as ex:
        die(f"report: {ex}", ex.exit_code)
    except OSError as ex:  # e.g. --out not writable
        die(f"report: cannot write {ex.filename or args.out}: {ex.strerror}")
    print(console_summary(report, args.metric))
    print(f"wrote {', '.join(written(report))} to {report.out}")


def written(report: Report) -> list[str]:
    return ["report.csv", *(["report_aggregated.csv"] if report.aggregate else []), "report.md",
            "curves.png", *(overlay.file for overlay in report.probes)]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, like every other bad input
        die(f"report: {message}; usage: {USAGE}")


def write_report(paths: list[Path], out: Path | None, metric: str = "test_acc",
                 columns: str | None = None, aggregate: str | None = None) -> Report:
    """Every output of `nnlab report`; `aggregate`: a swept key, "none", or None for the default
    (the seed, when it is swept)."""
    if metric not in METRICS:
        raise choice_error("--metric", metric, METRICS)
    if out is None:
        if len(paths) != 1:
            raise UserError("several PATHs given: say where the report goes with --out DIR")
        out = paths[0]
    jobs = collect_jobs(paths)
    recorded = recorded_metrics(jobs)
    if recorded and metric not in recorded:
        raise UserError(f"no job recorded {metric}; recorded: "
                        f"{', '.join(m for m in METRICS if m in recorded)}")
    diffs = differences(jobs, first=tuple(k for k in (columns, aggregate) if k))
    swept = list(diffs.axes)
    if columns is not None:
        if columns not in swept:
            raise (choice_error("--columns (a swept parameter)", columns, swept) if swept else
                   UserError(f"--columns {columns}: no parameter differs between these jobs"))
        swept = [k for k in swept if k != columns] + [columns]
    table = _table(jobs, diffs.keys)
    over = agg.choose_key(aggregate, swept, table)
    if over is not None and over == columns:
        raise UserError(f"--columns {columns} is the parameter averaged over; choose another column "
                        f"or give --aggregate none for a cell per {columns}")
    report = Report(table, swept, diffs.same, [], out, over, differences=diffs)
    report.groups = found = agg.groups(table, report.keys, levels(table, swept)) if over else []

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)

    # matplotlib is imported once the input is checked
    from nnlab.report.figure import curves
    from nnlab.report.probes import overlay_probes

    report.panels = curves(jobs, swept, levels(table, swept), out / "curves.png", over, found,
                           diffs.setting, diffs.same)
    report.probes = overlay_probes(jobs, report.keys, over, found, out, diffs.setting, diffs.same)
    table.to_csv(out / "report.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    if over:
        report.aggregated = agg.aggregated_table(table, found, report.keys, over)
        report.aggregated.to_csv(out / "report_aggregated.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    else:  # a stale one from an earlier, aggregated report would contradict report.md
        (out / "report_aggregated.csv").unlink(missing_ok=True)
    (out / "report.md").write_text(markdown(report, metric, paths))
    return report


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
    # (best_epoch is not a metric: the jobs table always has it, "-" where no epoch ended.)
    empty = [c for c in table.columns if c.startswith(("final_", "best_")) and c != "best_epoch"
             and table[c].isna().all()]
    return table.drop(columns=empty)
