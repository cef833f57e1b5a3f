"""`nnlab report` on a population of seeds (src/nnlab/report/population.py, distribution.py, the
quantiles in aggregate.py): the share of jobs that meet --threshold with its Wilson interval, the
five-number summary, distribution.png, and curves coloured by combination with --aggregate none.
The sweep is written by hand (test_report_aggregate.write_sweep), so every expected number is
computed here from the chosen finals."""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import pytest

from conftest import nnlab
from nnlab.report.command import write_report
from nnlab.report.population import wilson
from test_report import md_table
from test_report_aggregate import FINAL, write_sweep

# The 95% Wilson score intervals of textbook cases (Brown, Cai & DasGupta 2001; Newcombe 1998).
WILSON = {(0, 10): (0.0, 0.2775), (5, 5): (0.5655, 1.0), (2, 4): (0.1500, 0.8500),
          (5, 10): (0.2366, 0.7634), (81, 263): (0.2553, 0.3662)}


@pytest.mark.parametrize("k,n", WILSON)
def test_wilson_interval_matches_published_values(k, n):
    assert wilson(k, n) == pytest.approx(WILSON[(k, n)], abs=5e-5)


@pytest.fixture
def swept(tmp_path):
    return write_sweep(tmp_path / "sweep")  # lr 0.1 and 0.01 x seeds 1-5; lr 0.1 seed 3 diverged


def finals(lr: str) -> list[float]:
    return [acc for (r, _), acc in FINAL.items() if r == lr and acc is not None]


def test_threshold_gives_the_share_of_completed_seeds_with_its_interval(swept, tmp_path):
    proc = nnlab("report", str(swept), "--threshold", "test_acc>=0.75", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # lr 0.01: 5 of 5 at >= 0.75; lr 0.1: 0.80 and 0.75 of 0.70, 0.80, 0.60, 0.75 (seed 3 diverged)
    expected = {"0.01": (5, 5), "0.1": (2, 4)}
    assert {lr: (sum(a >= 0.75 for a in finals(lr)), len(finals(lr))) for lr in expected} == expected
    table = [["optimizer.lr", "share", "95% interval (Wilson)", "k of n"],
             ["0.01", "1.000", "[0.566, 1.000]", "5 of 5"],
             ["0.1", "0.500", "[0.150, 0.850]", "2 of 4 (n=4 of 5 completed)"]]
    assert md_table(proc.stdout, "share of the completed jobs with test_acc >= 0.75") == table
    assert md_table((swept / "report.md").read_text(), "## Share of jobs with test_acc >= 0.75") == table
    shares = pd.read_csv(swept / "report_threshold.csv", dtype={"optimizer.lr": str},
                         index_col="optimizer.lr")
    assert list(shares.loc["0.1", ["n_planned", "n", "k"]]) == [5, 4, 2]
    assert shares.loc["0.1", "threshold"] == "test_acc >= 0.75"
    assert list(shares.loc["0.1", ["share", "ci_low", "ci_high"]]) == pytest.approx([0.5, *WILSON[(2, 4)]],
                                                                                   abs=5e-5)
    assert "report_threshold.csv" in proc.stdout.splitlines()[-1]

    # each operator: lr 0.01's accuracies are 0.90, 0.92, 0.95, 0.91, 0.97
    for rule, k in (("test_acc<0.91", 1), ("test_acc <= 0.91", 2), ("test_acc>0.92", 2),
                    ("test_loss<0.085", 3)):
        report = write_report([swept], tmp_path / "rep", threshold=rule)
        assert report.shares.set_index("optimizer.lr").loc["0.01", "k"] == k, rule


@pytest.mark.parametrize("rule,message", [
    ("test_acc=>0.95", "--threshold 'test_acc=>0.95': write METRIC OP NUMBER, e.g. --threshold "
                       "'test_acc>=0.95' (OP: >=, >, <=, <; METRIC: train_loss, train_acc"),
    ("test_acc>=high", "write METRIC OP NUMBER"),
    ("test_acc 0.95", "write METRIC OP NUMBER"),
    ("test_accuracy>=0.9", "did you mean 'test_acc'?"),
    ("val_acc>=0.9", "--threshold val_acc: no job recorded val_acc; recorded: train_loss, train_acc"),
])
def test_a_bad_threshold_is_a_one_line_error(swept, tmp_path, rule, message):
    proc = nnlab("report", str(swept), "--out", "rep", "--threshold", rule, cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("nnlab: error: report: ") and message in proc.stderr, proc.stderr
    assert not (tmp_path / "rep").exists()


def test_quantiles_next_to_mean_and_std(swept, tmp_path):
    proc = nnlab("report", str(swept), cwd=tmp_path)
    aggregated = pd.read_csv(swept / "report_aggregated.csv", dtype={"optimizer.lr": str},
                             index_col="optimizer.lr")
    rows = []
    for lr in ("0.01", "0.1"):
        values = finals(lr)
        five = np.percentile(values, [0, 25, 50, 75, 100])  # numpy's linear interpolation
        assert five[2] == pytest.approx(statistics.median(values))
        row = aggregated.loc[lr]
        assert [row[f"final_test_acc_{q}"] for q in ("min", "q25", "median", "q75", "max")] == \
            pytest.approx(list(five))
        assert row["best_test_acc_median"] == pytest.approx(statistics.median(v - 0.01 for v in values))
        n = f"{len(values)}" + (" of 5" if len(values) < 5 else "")
        rows.append([lr, n, f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}",
                     *(f"{v:.4f}" for v in five)])
    header = ["optimizer.lr", "n", "mean ± std", "min", "25%", "median", "75%", "max"]
    markdown = (swept / "report.md").read_text()
    assert md_table(markdown, "## test_acc, final epoch: distribution over seed") == [header, *rows]
    assert md_table(proc.stdout, "quantiles of the jobs that completed") == [header, *rows]


def test_distribution_figure_has_a_strip_per_combination(swept, tmp_path, pyplot_figures):
    report = write_report([swept], tmp_path / "rep", threshold="test_acc>=0.75")
    assert report.distribution and (tmp_path / "rep" / "distribution.png").stat().st_size > 10_000
    fig = pyplot_figures[-1]
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.01 (n=5)", "0.1 (n=4 of 5)"]
    dots = [c for c in ax.collections if len(c.get_offsets())]
    for strip, lr in zip(dots, ("0.01", "0.1"), strict=True):  # a dot per completed job, in its row
        x, y = np.asarray(strip.get_offsets()).T
        assert sorted(x) == pytest.approx(sorted(finals(lr)))
        assert np.all(np.abs(y - ("0.01", "0.1").index(lr)) < 0.5)
    assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--"] == [0.75]
    assert [t.get_text() for t in ax.texts] == ["100.0% ≥ 0.75\n(5 of 5)", "50.0% ≥ 0.75\n(2 of 4)"]

    write_report([swept], tmp_path / "rep", aggregate="none")  # no combination of several jobs
    assert not (tmp_path / "rep" / "distribution.png").exists()
    assert not (tmp_path / "rep" / "report_threshold.csv").exists()  # not left from the first report


def test_aggregate_none_colours_the_curves_by_combination(tmp_path, pyplot_figures):
    """More jobs than panels (2 lr x 30 seeds): each lr's jobs share a colour, with a legend entry
    and a median per lr, not a colour or an entry per job."""
    from nnlab.report.figure import MAX_PANELS
    from test_report_differences import config, write_run

    seeds = range(30)
    assert 2 * len(seeds) > MAX_PANELS
    for num, (lr, seed) in enumerate((lr, s) for lr in (0.1, 0.01) for s in seeds):
        loss = [1.0, 0.5 if lr == 0.1 else 0.2 + seed / 1000]
        metrics = pd.DataFrame({"epoch": [1, 2], "train_loss": loss, "train_acc": [0.5, 0.8]})
        write_run(tmp_path / "sweep", str(num), config(seed=seed, **{"optimizer.lr": lr}),
                  [f"optimizer.lr={lr}", f"seed={seed}"], metrics=metrics)
    write_report([tmp_path / "sweep"], tmp_path / "rep", "train_acc", aggregate="none")
    fig = pyplot_figures[0]
    loss = fig.axes[0]
    colours = [tuple(c.get_colors()[0]) for c in loss.collections]
    assert len(colours) == 2 and colours[0] != colours[1]  # one LineCollection per lr
    assert [len(c.get_segments()) for c in loss.collections] == [30, 30]
    medians = {line.get_label(): list(line.get_ydata()) for line in loss.lines}
    assert medians == {"optimizer.lr=0.01": [1.0, pytest.approx(0.2145)], "optimizer.lr=0.1": [1.0, 0.5]}
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["optimizer.lr=0.01 (30 jobs)",
                                                                  "optimizer.lr=0.1 (30 jobs)"]
