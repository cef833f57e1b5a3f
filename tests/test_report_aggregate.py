"""`nnlab report` aggregated over the seeds (src/nnlab/report/aggregate.py and its tables, curves):
on a sweep folder written by hand whose every number is chosen here, so the expected means and
standard deviations are computed independently (statistics.mean / statistics.stdev)."""

from __future__ import annotations

import json
import statistics

import pandas as pd
import pytest
import yaml

from conftest import nnlab
from nnlab.report.command import write_report
from test_report import md_table

LRS, SEEDS = ("0.1", "0.01"), (1, 2, 3, 4, 5)
# Final test accuracy of each job; None: it diverged (left out of the mean, counted in n).
FINAL = {("0.1", 1): 0.70, ("0.1", 2): 0.80, ("0.1", 3): None, ("0.1", 4): 0.60, ("0.1", 5): 0.75,
         ("0.01", 1): 0.90, ("0.01", 2): 0.92, ("0.01", 3): 0.95, ("0.01", 4): 0.91, ("0.01", 5): 0.97}
EARLY = ("0.01", 2)  # stopped early, after 2 of 3 epochs


def job_metrics(acc: float, epochs: int) -> pd.DataFrame:
    """Accuracy climbing to `acc` by 0.1 per epoch; loss 1 - accuracy; train a little above test."""
    tests = [acc - 0.1 * (epochs - e) for e in range(1, epochs + 1)]
    return pd.DataFrame({"epoch": range(1, epochs + 1), "train_loss": [0.9 - t for t in tests],
                         "train_acc": [t + 0.05 for t in tests], "test_loss": [1 - t for t in tests],
                         "test_acc": tests, "lr": 0.1, "seconds": 0.01})


def write_sweep(root, final=FINAL):
    """A sweep folder as `nnlab train -m optimizer.lr=0.1,0.01 seed=1,2,3,4,5` writes it: job k's
    folder with .hydra/{config,overrides}.yaml, summary.json and metrics.csv, and the sweep's
    multirun.yaml (Hydra's basic sweeper: lr outer, seed inner)."""
    root.mkdir()
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {
        "sweep": {"dir": str(root), "subdir": "${hydra.job.num}"},
        "sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", "params": None},
        "overrides": {"task": ["dataset=spiral", "optimizer.lr=0.1,0.01", "seed=1,2,3,4,5"]}}}))
    for num, (lr, seed) in enumerate((lr, seed) for lr in LRS for seed in SEEDS):
        job = root / str(num)
        (job / ".hydra").mkdir(parents=True)
        overrides = ["dataset=spiral", f"optimizer.lr={lr}", f"seed={seed}"]
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(
            {"seed": seed, "optimizer": {"lr": float(lr)}, "dataset": {"name": "spiral"}}))
        acc = final[(lr, seed)]
        metrics = job_metrics(0.5 if acc is None else acc, 2 if acc is None or (lr, seed) == EARLY else 3)
        metrics.to_csv(job / "metrics.csv", index=False)
        last = metrics.iloc[-1].to_dict()
        status = "diverged" if acc is None else "early_stopped" if (lr, seed) == EARLY else "completed"
        (job / "summary.json").write_text(json.dumps({
            "status": status, "final": last, "best": {**last, "test_acc": last["test_acc"] - 0.01},
            "epochs_completed": len(metrics), "best_epoch": len(metrics), "monitor": "train_loss",
            **({"error": "loss became nan"} if acc is None else {})}))
    return root


def expected(lr: str, key=lambda acc: acc) -> tuple[float, float, int]:
    values = [key(acc) for (r, _), acc in FINAL.items() if r == lr and acc is not None]
    return statistics.mean(values), statistics.stdev(values), len(values)


@pytest.fixture
def swept(tmp_path):
    return write_sweep(tmp_path / "sweep")


def test_pivot_is_mean_and_sample_std_over_the_seeds_with_their_count(swept, tmp_path):
    proc = nnlab("report", str(swept), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    m1, s1, n1 = expected("0.1")
    m2, s2, n2 = expected("0.01")
    assert (n1, n2) == (4, 5)
    table = [["optimizer.lr", "test_acc"], ["0.01", f"**{m2:.4f} ± {s2:.4f} (n=5)**"],
             ["0.1", f"{m1:.4f} ± {s1:.4f} (n=4 of 5)"]]  # the diverged job is left out, and counted
    assert md_table(proc.stdout, "10 jobs: ") == table
    markdown = (swept / "report.md").read_text()
    assert md_table(markdown, "## test_acc, final epoch (mean ± std over seed)") == table
    assert "ddof=1" in markdown
    best = md_table(markdown, "## test_acc at the best epoch")  # summary's best: final - 0.01
    mb, sb, _ = expected("0.1", key=lambda acc: acc - 0.01)
    assert best[2] == ["0.1", f"{mb:.4f} ± {sb:.4f} (n=4 of 5)"]
    jobs = md_table(markdown, "## Jobs (final metrics)")  # still a row per job
    assert len(jobs) == 11 and jobs[3][:4] == ["2", "diverged", "0.1", "3"]

    per_job = pd.read_csv(swept / "report.csv")
    assert len(per_job) == 10  # report.csv keeps a row per job
    aggregated = pd.read_csv(swept / "report_aggregated.csv", dtype={"optimizer.lr": str})
    assert list(aggregated["optimizer.lr"]) == ["0.01", "0.1"]
    row = aggregated.set_index("optimizer.lr").loc["0.1"]
    assert (row["n"], row["n_planned"], row["left_out"]) == (4, 5, "seed=3 (diverged)")
    assert row["final_test_acc_mean"] == pytest.approx(m1, abs=1e-6)
    assert row["final_test_acc_std"] == pytest.approx(s1, abs=1e-6)
    mloss, sloss, _ = expected("0.1", key=lambda acc: 1 - acc)
    assert row["final_test_loss_mean"] == pytest.approx(mloss, abs=1e-6)
    assert row["final_test_loss_std"] == pytest.approx(sloss, abs=1e-6)
    assert row["best_test_acc_mean"] == pytest.approx(mb, abs=1e-6)
    assert {"best_epoch_mean", "val_acc_mean"}.isdisjoint(aggregated.columns)


def test_a_job_never_started_counts_as_planned_and_a_loss_is_best_when_lowest(swept, tmp_path):
    import shutil

    shutil.rmtree(swept / "9")  # lr 0.01, seed 5: the sweep was stopped before it
    report = write_report([swept], tmp_path / "rep", "test_loss")
    values = [1 - FINAL[("0.01", s)] for s in SEEDS[:4]]
    cell = f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (n=4 of 5)"
    pivot = md_table((tmp_path / "rep" / "report.md").read_text(), "## test_loss, final epoch")
    assert pivot[1] == ["0.01", f"**{cell}**"]  # the lowest mean loss is the best
    assert report.aggregated.set_index("optimizer.lr").loc["0.01", "left_out"] == "seed=5 (not run)"


def test_a_combination_with_no_completed_job_says_what_became_of_its_jobs(swept, tmp_path):
    import shutil

    summary = json.loads((swept / "5" / "summary.json").read_text())
    (swept / "5" / "summary.json").write_text(json.dumps({**summary, "status": "diverged"}))
    for num in range(6, 10):  # the rest of lr 0.01 never started
        shutil.rmtree(swept / str(num))
    proc = nnlab("report", str(swept), cwd=tmp_path)
    m1, s1, _ = expected("0.1")
    assert md_table(proc.stdout, "10 jobs: ") == [
        ["optimizer.lr", "test_acc"], ["0.01", "1 diverged, 4 not run (n=0 of 5)"],
        ["0.1", f"**{m1:.4f} ± {s1:.4f} (n=4 of 5)**"]]
    shutil.rmtree(swept / "5")
    assert "| 0.01 | not run (n=0 of 5) |" in nnlab("report", str(swept), cwd=tmp_path).stdout


def test_aggregate_names_another_key_or_none(swept, tmp_path):
    # over the learning rates, per seed: seed 3 has only lr 0.01 left, a single job, so no ± (and
    # its 0.95 is the best mean)
    report = write_report([swept], tmp_path / "lr", aggregate="optimizer.lr")
    pivot = md_table((tmp_path / "lr" / "report.md").read_text(), "## test_acc, final epoch")
    assert pivot[0] == ["seed", "test_acc"] and [row[0] for row in pivot[1:]] == ["1", "2", "3", "4", "5"]
    assert pivot[3][1] == f"**{FINAL[('0.01', 3)]:.4f} (n=1 of 2)**"
    pair = [FINAL[("0.1", 1)], FINAL[("0.01", 1)]]
    assert pivot[1][1] == f"{statistics.mean(pair):.4f} ± {statistics.stdev(pair):.4f} (n=2)"
    assert report.aggregate == "optimizer.lr" and len(report.panels) == 5

    write_report([swept], tmp_path / "lr", aggregate="none")  # a cell per job, as before
    pivot = md_table((tmp_path / "lr" / "report.md").read_text(), "## test_acc, final epoch")
    assert pivot[0] == ["optimizer.lr \\ seed", "1", "2", "3", "4", "5"]
    assert pivot[2][1:] == ["0.7000", "0.8000", "diverged", "0.6000", "0.7500"]
    assert not (tmp_path / "lr" / "report_aggregated.csv").exists()  # not left from the first report


def test_seed_alone_swept_gives_one_cell_over_all_jobs(tmp_path):
    root = write_sweep(tmp_path / "sweep")
    report = write_report([root / str(k) for k in range(5, 10)], tmp_path / "rep")  # lr 0.01 only
    values = [FINAL[("0.01", s)] for s in SEEDS]
    pivot = md_table((tmp_path / "rep" / "report.md").read_text(), "## test_acc, final epoch")
    cell = f"**{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (n=5)**"
    assert pivot == [["seed", "test_acc"], ["1, 2, 3, 4, 5", cell]]
    assert [title for _, _, title in report.panels] == ["all jobs (n=5, 4 reached epoch 3)"]


@pytest.mark.parametrize("args,message", [
    (["--aggregate", "epochs"], "--aggregate (a swept parameter, or none): unknown value 'epochs'; "
                                "valid: optimizer.lr, seed"),
    (["--columns", "seed"], "--columns seed is the parameter averaged over"),
])
def test_bad_aggregate_is_a_one_line_error(swept, tmp_path, args, message):
    proc = nnlab("report", str(swept), "--out", "rep", *args, cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("nnlab: error: report: ") and message in proc.stderr, proc.stderr
    assert not (tmp_path / "rep").exists()


def test_curves_draw_the_mean_over_seeds_with_a_band(swept, tmp_path, pyplot_figures):
    """A cell per learning rate; the mean at each epoch is over the seeds that reached it (the
    early-stopped job has no epoch 3), the band is mean ± sample std."""
    report = write_report([swept], tmp_path)
    assert [title for _, _, title in report.panels] == ["optimizer.lr=0.01 (n=5, 4 reached epoch 3)",
                                                        "optimizer.lr=0.1 (n=4 of 5)"]
    fig = pyplot_figures[0]  # curves.png (distribution.png follows)
    loss, acc = fig.axes[0], fig.axes[2]  # the first column: lr 0.01, loss above accuracy
    assert loss.get_ylabel() == "loss" and acc.get_ylabel() == "accuracy"
    test = next(line for line in acc.lines if line.get_label() == "test")
    per_epoch = {e: [job_metrics(FINAL[("0.01", s)], 2 if ("0.01", s) == EARLY else 3)
                     .set_index("epoch").loc[e, "test_acc"] for s in SEEDS
                     if e <= (2 if ("0.01", s) == EARLY else 3)] for e in (1, 2, 3)}
    assert list(test.get_xdata()) == [1, 2, 3]
    assert list(test.get_ydata()) == pytest.approx([statistics.mean(per_epoch[e]) for e in (1, 2, 3)])
    band = acc.collections[-1].get_paths()[0].vertices  # fill_between: test's band, drawn last
    at_1 = sorted({round(y, 9) for x, y in band if x == 1})
    mean, spread = statistics.mean(per_epoch[1]), statistics.stdev(per_epoch[1])
    assert at_1 == pytest.approx([mean - spread, mean + spread])
    assert "± 1 std over seed" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_many_seeds_are_one_short_line_not_a_list_of_all():
    from nnlab.report.markdown import listed

    assert listed([str(s) for s in range(5)]) == "0, 1, 2, 3, 4"
    assert listed([str(s) for s in range(1000)]) == "0, 1, 2, ..., 998, 999 (1000 values)"
