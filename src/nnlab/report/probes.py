"""probe_<name>.png for `nnlab report`: one probe's results from several runs in one figure.

For each probe whose table at least two of the reported runs wrote, its numbers are read back
from each run folder's CSV and drawn with a line per run, labelled by what differs between the
runs (the swept parameters: `model=mlp` / `model=lenet`, seeds/003's comparison), with the same
numbers as markdown tables for report.md. When a key is aggregated (the seed), a line is a group's
mean over its completed jobs, with a band of ± one sample standard deviation.

Compared: `shift` (accuracy against shift, per direction), `grad_flow` (max |gradient| per layer,
before training and at the last recorded epoch) and `confusion` (recall per class). Left out:
`boundary` (its figure is the plane at several epochs; its CSV's train accuracy is already in
curves.png), `first_layer` (units of different networks do not correspond one to one, so there
is nothing to line up) and `misclassified` (its count is 1 - test accuracy, already in the
tables; which images were missed is a list, not a curve).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nnlab.report.aggregate import Group
from nnlab.report.figure import FAILED_COLOUR, legend_below, plain, plt, save, suptitle
from nnlab.report.jobs import OK_STATUSES, Job
from nnlab.report.markdown import md_table


@dataclass
class View:
    """How one probe's CSV is read and compared."""
    name: str  # probe=[name]
    csv: str  # the file the probe writes into the run folder
    what: str  # the figure's title
    caption: str  # report.md's words under the heading
    xlabel: str
    ylabel: str
    read: Callable[[Path], pd.DataFrame]  # run folder -> long table: panel, x, y
    log: bool = False  # y on a log axis
    bars: bool = False  # categorical x: grouped bars instead of lines
    fmt: str = "{:.4f}"


def _shift(run: Path) -> pd.DataFrame:
    t = pd.read_csv(run / "shift_invariance.csv")
    return pd.DataFrame({"panel": "shifted " + t["direction"].astype(str), "x": t["shift"],
                         "y": t["accuracy"]})


def _grad_flow(run: Path) -> pd.DataFrame:
    t = pd.read_csv(run / "grad_flow.csv")
    first, last = t["epoch"].min(), t["epoch"].max()
    parts = [("max |grad|, first recorded epoch (0: untrained)", t[t["epoch"] == first])]
    if last != first:
        parts.append(("max |grad|, last recorded epoch", t[t["epoch"] == last]))
    return pd.concat([pd.DataFrame({"panel": panel, "x": rows["layer"], "y": rows["max_abs_grad"]})
                      for panel, rows in parts])


def _recall(run: Path) -> pd.DataFrame:
    t = pd.read_csv(run / "confusion_matrix.csv", index_col=0)
    counts = t.to_numpy()
    recall = counts.diagonal() / counts.sum(axis=1).clip(min=1)
    return pd.DataFrame({"panel": "recall per class", "x": [str(c) for c in t.index], "y": recall})


VIEWS = [
    View("shift", "shift_invariance.csv", "test accuracy on shifted test images",
         "Test accuracy with every test image shifted by `shift` pixels (zero fill, no wrap-around), "
         "from each run's shift_invariance.csv.", "shift (pixels)", "test accuracy", _shift),
    View("grad_flow", "grad_flow.csv", "max |gradient| per layer",
         "Max |dL/dW| of each Linear/Conv layer's weights (layer 1 nearest the input) on each run's "
         "fixed probe batch, before training and at its last recorded epoch, from grad_flow.csv.",
         "layer (1 = nearest the input)", "max |grad| (log axis)", _grad_flow, log=True, fmt="{:.3g}"),
    View("confusion", "confusion_matrix.csv", "test recall per class",
         "Recall of each class on the test split (the confusion matrix's diagonal over its row "
         "sums), from confusion_matrix.csv.", "class", "recall", _recall, bars=True),
]


@dataclass
class Overlay:
    """What report.md says about one probe_<name>.png."""
    name: str
    file: str
    caption: str
    tables: list[tuple[str, str]]  # (title, markdown table), one per panel


@dataclass
class _Line:
    label: str
    ok: bool  # every job in it completed
    points: pd.DataFrame  # panel, x, mean, std (std NaN for a single run)


def overlay_probes(jobs: list[Job], keys: list[str], aggregate: str | None, groups: list[Group],
                   out: Path, setting: Callable[[str, str], str] = plain,
                   same: dict[str, str] | None = None) -> list[Overlay]:
    """Write probe_<name>.png for every probe in VIEWS that two or more of the jobs ran; a line is
    labelled with `setting` (differences.Differences.setting), the title says what is `same`."""
    overlays = []
    for view in VIEWS:
        lines = _lines(view, jobs, keys, aggregate, groups, setting)
        path = out / f"probe_{view.name}.png"
        if lines is None:
            path.unlink(missing_ok=True)  # from an earlier report of other runs
            continue
        _draw(view, lines, jobs, same or {}, path)
        caption = view.caption + (
            f" A line per combination: the mean over {aggregate} of the jobs that completed, the "
            "band ± one sample standard deviation." if aggregate else
            " A line per run, labelled by what differs between the runs.")
        overlays.append(Overlay(view.name, path.name, caption, _tables(view, lines, aggregate)))
    return overlays


def _lines(view: View, jobs: list[Job], keys: list[str], aggregate: str | None,
           groups: list[Group], setting: Callable[[str, str], str]) -> list[_Line] | None:
    """A line per job that has the probe's file (per group, when aggregating); None where fewer
    than two jobs have it (one run's own plot already shows it)."""
    having = {i for i, job in enumerate(jobs) if (job.path / view.csv).is_file()}
    if len(having) < 2:
        return None
    lines = []
    if aggregate:
        for group in groups:
            used = [i for i in group.completed if i in having]
            if not used:
                continue
            points = pd.concat([view.read(jobs[i].path) for i in used])
            stats = points.groupby(["panel", "x"], sort=False)["y"].agg(["mean", "std"]).reset_index()
            label = ", ".join(setting(k, v) for k, v in zip(keys, group.combo, strict=True)) or "all jobs"
            count = f"n={len(used)}" + (f" of {len(group.rows)}" if len(used) < len(group.rows) else "")
            lines.append(_Line(f"{label} ({count})", len(used) == len(group.rows), stats))
        return lines or None
    labels = [", ".join(setting(k, job.params.get(k)) for k in keys) or job.name for job in jobs]
    for i in sorted(having):
        job, label = jobs[i], labels[i]
        if labels.count(label) > 1:  # runs that differ in nothing typed: their folders tell them apart
            label = f"{label} ({job.name})" if keys else job.name
        if job.status not in OK_STATUSES:
            label += f" [{job.status}]"
        points = view.read(job.path).rename(columns={"y": "mean"}).assign(std=float("nan"))
        lines.append(_Line(label, job.status in OK_STATUSES, points))
    return lines


def _draw(view: View, lines: list[_Line], jobs: list[Job], same: dict[str, str], path: Path) -> None:
    panels = list(dict.fromkeys(p for line in lines for p in line.points["panel"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.8, 4.2 * len(panels)), 4.0), squeeze=False,
                             sharey=True, constrained_layout=True)
    width = 0.8 / len(lines)
    for ax, panel in zip(axes[0], panels, strict=True):
        xs = list(dict.fromkeys(x for line in lines
                                for x in line.points.loc[line.points["panel"] == panel, "x"]))
        for k, line in enumerate(lines):
            p = line.points[line.points["panel"] == panel]
            colour = f"C{k % 10}"
            if view.bars:
                at = [xs.index(x) - 0.4 + width * (k + 0.5) for x in p["x"]]
                ax.bar(at, p["mean"], width, yerr=p["std"].fillna(0), color=colour, label=line.label)
                continue
            ax.plot(p["x"], p["mean"], marker="o", markersize=3, color=colour, label=line.label,
                    ls="-" if line.ok else "--")
            if p["std"].notna().any():  # accuracy, recall, |grad|: none below 0
                ax.fill_between(p["x"], (p["mean"] - p["std"]).clip(lower=0), p["mean"] + p["std"],
                                color=colour, alpha=0.18, linewidth=0)
        if view.bars:
            ax.set_xticks(range(len(xs)), xs, rotation=45 if max(map(len, map(str, xs))) > 2 else 0,
                          fontsize=8)
        elif all(float(x).is_integer() for x in xs):
            ax.set_xticks(sorted(xs))
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel(view.xlabel, fontsize=8)
        ax.grid(alpha=0.3, which="both" if view.log else "major")
        ax.tick_params(labelsize=7)
    if view.log:
        axes[0][0].set_yscale("log")
    elif view.ylabel in ("test accuracy", "recall"):
        axes[0][0].set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel(view.ylabel, fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    legend = legend_below(fig, handles, labels)
    for line, text in zip(lines, legend.get_texts(), strict=False):
        if not line.ok:  # a job in it did not complete: red, as in curves.png
            text.set_color(FAILED_COLOUR)
    fig.suptitle(suptitle(jobs, same, f"probe {view.name}: {view.what}", unit=""), fontsize=10)
    save(fig, path)


def _tables(view: View, lines: list[_Line], aggregate: str | None) -> list[tuple[str, str]]:
    """A table per panel: a row per x (shift, layer, class), a column per line."""
    tables = []
    for panel in dict.fromkeys(p for line in lines for p in line.points["panel"]):
        by_line = [line.points[line.points["panel"] == panel].set_index("x") for line in lines]
        xs = list(dict.fromkeys(x for p in by_line for x in p.index))
        rows = []
        for x in xs:
            cells = []
            for p in by_line:
                if x not in p.index:
                    cells.append("-")
                    continue
                mean, std = p.loc[x, "mean"], p.loc[x, "std"]
                cells.append(view.fmt.format(mean) + ("" if pd.isna(std) else f" ± {view.fmt.format(std)}"))
            rows.append([str(x), *cells])
        tables.append((panel, md_table([view.xlabel, *(line.label for line in lines)], rows)))
    return tables
