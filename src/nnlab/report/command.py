"""`nnlab report PATH... [--out DIR] [--metric NAME] [--columns KEY] [--aggregate KEY|none]
[--threshold 'METRIC>=X'] [--latex]`: a sweep's jobs (or any run folders) as tables and figures.

Reads run folders as data (every folder under a PATH that holds .hydra/config.yaml), compares
their resolved configs to find what differs (differences.py), and writes into the folder --out
(default: the PATH, when there is one):

  report.csv             one row per job: folder, status, the keys that differ, final and best metrics
  report_aggregated.csv  when a key is aggregated (the seed, by default): a row per combination
                         of the other swept keys, each metric's mean, std, min, quartiles, median
                         and max over it (aggregate.py)
  report_threshold.csv   with --threshold: per combination, the share of the completed jobs that
                         meet it, with its 95% Wilson interval and counts (population.py)
  report.md              the metric pivoted on the swept parameters (mean ± std when aggregated),
                         its distribution and the threshold's shares, every job with its status,
                         the probes' numbers (markdown.py)
  report.tex             with --latex: report.md's result tables in booktabs LaTeX (latex.py)
  curves.png             loss and accuracy per epoch, a panel per job or per group (figure.py)
  distribution.png       when aggregated: the final metric of every job, a strip per combination
                         (distribution.py)
  probe_<name>.png       a probe's results overlaid, a line per run, for probes that several
                         runs share (probes.py)

A job that did not end well (diverged, failed, interrupted, still `running`, no summary.json,
no metrics.csv, or planned in the sweep's multirun.yaml but never started) is kept in every
output under its status. Collecting the jobs lives in jobs.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from nnlab.errors import UserError, choice_error, die
from nnlab.report import aggregate as agg
from nnlab.report.differences import differences
from nnlab.report.jobs import Job, collect_jobs, levels, recorded_metrics
from nnlab.report.markdown import METRICS, console_summary, markdown, md_table  # noqa: F401 (md_table: scripts use it)
from nnlab.report.population import parse_threshold, shares
from nnlab.report.result import Report
from nnlab.runs import CSV_FLOAT_FORMAT

USAGE = ("nnlab report PATH... [--out DIR] [--metric NAME] [--columns KEY] [--aggregate KEY|none] "
         "[--threshold 'METRIC>=X'] [--latex]")
EXAMPLES = """examples:
  nnlab report SWEEP_DIR                                  # report.md, report.csv, curves.png into SWEEP_DIR
  nnlab report RUN_DIR RUN_DIR --out compare              # runs from anywhere, into the folder compare/
  nnlab report SWEEP_DIR --threshold 'test_acc>=0.95'     # share of seeds reaching 0.95, per combination
  nnlab report SWEEP_DIR --latex --out paper/tables       # also paper/tables/report.tex (booktabs)
  nnlab report SWEEP_DIR --aggregate none --metric test_loss   # a cell per job; the loss"""
# --out names a folder; a name with one of these endings is surely meant as a file (`--out x.tex`)
FILE_ENDINGS = (".tex", ".md", ".csv", ".png", ".pdf", ".svg", ".txt", ".json", ".html", ".htm",
                ".jpg", ".jpeg", ".yaml", ".yml", ".xlsx")


def main(argv: list[str]) -> None:
    parser = _Parser(prog="nnlab report", usage=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Tabulate and plot the jobs of a sweep, or any run folders: what "
                     "differs between their\nresolved configs, the metric per combination, curves "
                     "and distributions.", epilog=EXAMPLES)
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a sweep folder, run folders, or folders holding run folders")
    parser.add_argument("--out", type=Path, metavar="DIR", help="the folder to write report.csv, "
                        "report.md, curves.png and the rest into (made if missing; default: PATH, "
                        "when there is one); a file name such as x.tex is refused")
    parser.add_argument("--metric", default="test_acc", metavar="NAME", help=f"the metric in the pivot "
                        f"tables and distribution.png: {', '.join(METRICS)} (default test_acc)")
    parser.add_argument("--columns", metavar="KEY", help="the swept parameter across the table "
                        "and the grid of curves (default: the last one typed)")
    parser.add_argument("--aggregate", metavar="KEY|none", help="a swept parameter to average over: "
                        "mean ± sample std (ddof=1), quantiles and n per combination of the others, "
                        f"and distribution.png (default: {agg.DEFAULT_KEY}, when it is swept; none: a "
                        "cell per job)")
    parser.add_argument("--threshold", metavar="'METRIC>=X'", help="per combination, the share of "
                        "the completed jobs whose final METRIC meets it, with a 95%% Wilson interval "
                        "and n (report_threshold.csv); operators >=, >, <=, <; e.g. 'test_acc>=0.95'")
    parser.add_argument("--latex", action="store_true", help="also write report.tex: the result "
                        "tables as booktabs LaTeX (\\usepackage{booktabs})")
    args = parser.parse_args(argv)
    try:
        report = write_report([Path(p) for p in args.paths], args.out, args.metric, args.columns,
                              args.aggregate, args.threshold, args.latex)
    except UserError as ex:
        die(f"report: {ex}", ex.exit_code)
    except OSError as ex:  # e.g. --out not writable
        die(f"report: cannot write {ex.filename or args.out}: {ex.strerror}")
    print(console_summary(report, args.metric, population=True))
    print(f"wrote {', '.join(written(report))} to {report.out}")


def written(report: Report) -> list[str]:
    return ["report.csv", *(["report_aggregated.csv"] if report.aggregate else []),
            *(["report_threshold.csv"] if report.threshold else []), "report.md",
            *(["report.tex"] if report.latex else []), "curves.png",
            *(["distribution.png"] if report.distribution else []),
            *(overlay.file for overlay in report.probes)]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, like every other bad input
        die(f"report: {message}; usage: {USAGE}")


def write_report(paths: list[Path], out: Path | None, metric: str = "test_acc",
                 columns: str | None = None, aggregate: str | None = None,
                 threshold: str | None = None, latex: bool = False) -> Report:
    """Every output of `nnlab report`; `aggregate`: a swept key, "none", or None for the default
    (the seed, when it is swept); `threshold`: as typed after --threshold."""
    if metric not in METRICS:
        raise choice_error("--metric", metric, METRICS)
    rule = parse_threshold(threshold, METRICS) if threshold is not None else None
    if out is None:
        if len(paths) != 1:
            raise UserError("several PATHs given: say where the report goes with --out DIR")
        out = paths[0]
    elif out.suffix.lower() in FILE_ENDINGS and not out.is_dir():
        raise UserError(f"--out {out}: --out is the folder the report's files go into (report.md, "
                        f"report.csv, the figures{', report.tex with --latex' if latex else ''}), "
                        f"not a file; e.g. --out {out.with_suffix('')}"
                        + (" --latex writes report.tex there" if out.suffix.lower() == ".tex" else ""))
    jobs = collect_jobs(paths)
    recorded = recorded_metrics(jobs)
    for name, option in ((metric, "--metric"), *(((rule.metric, "--threshold"),) if rule else ())):
        if recorded and name not in recorded:
            raise UserError(f"{option} {name}: no job recorded {name}; recorded: "
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
    report = Report(table, swept, diffs.same, [], out, over, differences=diffs, threshold=rule,
                    latex=latex)
    found = levels(table, swept)
    report.groups = groups = agg.groups(table, report.keys, found) if over else []

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)

    # matplotlib is imported once the input is checked
    from nnlab.report.distribution import distribution
    from nnlab.report.figure import curves, suptitle
    from nnlab.report.latex import latex as latex_tables
    from nnlab.report.probes import overlay_probes

    report.panels = curves(jobs, swept, found, out / "curves.png", over, groups, diffs.setting, diffs.same)
    report.probes = overlay_probes(jobs, report.keys, over, groups, out, diffs.setting, diffs.same)
    table.to_csv(out / "report.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    if over:
        report.aggregated = agg.aggregated_table(table, groups, report.keys, over)
    if rule is not None:  # per combination: of the keys not aggregated (all of them, else)
        report.shares = shares(table, groups or agg.groups(table, report.keys, found), report.keys, rule)
    report.distribution = bool(over)
    # Each file is written, or removed: one left by an earlier report with other options would
    # contradict report.md.
    _write(out / "report_aggregated.csv", report.aggregated)
    _write(out / "report_threshold.csv", report.shares)
    if over:
        distribution(table, groups, report.keys, metric, diffs.shown, out / "distribution.png",
                     suptitle(jobs, diffs.same, f"final {metric} per combination, over {over}", unit=""),
                     rule, report.shares)
    _write(out / "distribution.png", True if over else None)
    (out / "report.md").write_text(markdown(report, metric, paths))
    _write(out / "report.tex", latex_tables(report, metric, " ".join(map(str, paths))) if latex else None)
    return report


def _write(path: Path, content: pd.DataFrame | str | bool | None) -> None:
    """A table as CSV, or text; None: remove the file; True: already written."""
    if content is None:
        path.unlink(missing_ok=True)
    elif isinstance(content, pd.DataFrame):
        content.to_csv(path, index=False, float_format=CSV_FLOAT_FORMAT)
    elif isinstance(content, str):
        path.write_text(content)


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
