"""`nnlab report`: a sweep (or any run folders) as report.csv, report.md and curves.png."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import Run, nnlab, train
from nnlab.report.command import write_report

SWEEP = ("dataset=spiral", "optimizer.lr=0.1,0.03,0.01", "batch_size=10,32")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The issue's sweep, 3 epochs: six jobs, lr (typed first) x batch size (typed last)."""
    tmp = tmp_path_factory.mktemp("sweep")
    proc = nnlab("train", "-m", *SWEEP, "epochs=3", "progress=false", "hydra.sweep.dir=sweep",
                 cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "sweep"


def md_table(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the first table after the line holding `heading` (header row first)."""
    rows = []
    for line in markdown.split(heading, 1)[1].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return [row for row in rows if set(row) != {"---"}]


def job_values(sweep_dir, key):
    """{(lr, batch size): summary[key]} over the sweep's job folders, read independently."""
    values = {}
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        overrides = dict(o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml")
                                                                 .read_text()))
        values[(overrides["optimizer.lr"], overrides["batch_size"])] = Run(job).summary[key]
    return values


def test_sweep_report_pivots_final_test_acc_over_the_swept_values(sweep, tmp_path):
    proc = nnlab("report", str(sweep), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    finals = {k: v["test_acc"] for k, v in job_values(sweep, "final").items()}
    assert len(finals) == 6

    pivot = md_table((sweep / "report.md").read_text(), "## test_acc, final epoch")
    assert pivot[0] == ["optimizer.lr \\ batch_size", "10", "32"]
    assert [row[0] for row in pivot[1:]] == ["0.01", "0.03", "0.1"]
    for row in pivot[1:]:
        for bs, cell in zip(("10", "32"), row[1:], strict=True):
            assert cell.strip("*") == f"{finals[(row[0], bs)]:.4f}", (row[0], bs)
    best = max(finals.values())
    assert sum(c.startswith("**") for row in pivot[1:] for c in row[1:]) >= 1
    assert all(c.strip("*") == f"{best:.4f}" for row in pivot[1:] for c in row[1:] if c.startswith("**"))
    assert pivot == md_table(proc.stdout, "6 jobs: 6 completed")  # the same table on the terminal

    table = pd.read_csv(sweep / "report.csv")
    assert list(table["job"]) == [0, 1, 2, 3, 4, 5] and set(table["status"]) == {"completed"}
    assert {"optimizer.lr", "batch_size"} <= set(table.columns)
    assert not {"dataset", "epochs", "progress", "hydra.sweep.dir"} & set(table.columns)
    for _, row in table.iterrows():
        assert row["final_test_acc"] == pytest.approx(finals[(str(row["optimizer.lr"]),
                                                              str(row["batch_size"]))])

    image = np.asarray(Image.open(sweep / "curves.png").convert("L"), dtype=float)
    assert image.shape[0] > 400 and image.shape[1] > 400
    assert image.std() > 10 and (image < 100).mean() > 0.005  # drawn on, not a blank canvas


def test_curves_grid_has_a_panel_per_job_laid_out_by_the_swept_values(sweep, tmp_path):
    report = write_report([sweep], tmp_path, "test_loss")
    assert report.swept == ["optimizer.lr", "batch_size"]
    positions = {(r, c): title for r, c, title in report.panels}
    assert len(report.panels) == 6 and set(positions) == {(r, c) for r in range(3) for c in range(2)}
    assert positions[(0, 0)] == "optimizer.lr=0.01, batch_size=10"
    assert positions[(2, 1)] == "optimizer.lr=0.1, batch_size=32"

    # --columns puts another parameter across; the cells follow the metric chosen
    report = write_report([sweep], tmp_path, "test_loss", columns="optimizer.lr")
    assert {(r, c) for r, c, _ in report.panels} == {(r, c) for r in range(2) for c in range(3)}
    pivot = md_table((tmp_path / "report.md").read_text(), "## test_loss, final epoch")
    losses = {k: v["test_loss"] for k, v in job_values(sweep, "final").items()}
    assert pivot[0] == ["batch_size \\ optimizer.lr", "0.01", "0.03", "0.1"]
    assert pivot[1][1].strip("*") == f"{losses[('0.01', '10')]:.4f}"
    best = md_table((tmp_path / "report.md").read_text(), "## test_loss at the best epoch")
    best_losses = {k: v["test_loss"] for k, v in job_values(sweep, "best").items()}
    assert best[2][3].strip("*") == f"{best_losses[('0.1', '32')]:.4f}"


def test_curves_title_says_which_sweep_it_is(sweep, tmp_path, pyplot_figures):
    """The panels say what differs; the figure's title, the dataset, model and shared settings."""
    write_report([sweep], tmp_path, "test_acc")
    (fig,) = pyplot_figures
    assert fig._suptitle.get_text() == "loss and accuracy per epoch: spiral / MLP\ndataset=spiral epochs=3"


def test_curves_show_loss_over_accuracy_and_no_empty_panel(sweep, tmp_path, pyplot_figures):
    """Each job's cell is a loss panel over an accuracy panel, whatever --metric says; a job with no
    epochs says so in its cell instead of leaving empty frames."""
    broken = tmp_path / "sweep"
    shutil.copytree(sweep, broken)
    shutil.rmtree(broken / "5")  # planned in multirun.yaml, never started: no metrics
    report = write_report([broken], tmp_path / "rep", "test_loss")
    (fig,) = pyplot_figures
    assert len(fig.axes) == 12  # 3 x 2 cells of two panels
    drawn = [ax for ax in fig.axes if ax.axison]
    assert len(drawn) == 10 and all(ax.lines for ax in drawn)  # every framed panel has curves
    first_column = [ax for ax in drawn if ax.get_subplotspec().colspan.start == 0]
    assert {ax.get_ylabel() for ax in first_column} == {"loss", "accuracy"}
    assert all(ax.get_ylim() == (-0.02, 1.02) for ax in drawn if ax.get_subplotspec().rowspan.start % 2)
    not_run = [ax for ax in fig.axes if not ax.axison]
    assert len(not_run) == 2 and "not run\nno epochs" in [t.get_text() for ax in not_run for t in ax.texts]
    assert dict(((r, c), t) for r, c, t in report.panels)[(0, 1)].endswith("[not run]")
    job = Run(sweep / "0").metrics  # lr 0.1, batch 10: the last row of cells, the first column
    loss_panel, acc_panel = fig.axes[8], fig.axes[10]  # row-major: figure rows 4 and 5, column 0
    lines = {line.get_label(): list(line.get_ydata()) for line in loss_panel.lines}
    assert lines["test"] == pytest.approx(list(job["test_loss"]))
    assert [list(line.get_ydata()) for line in acc_panel.lines if line.get_label() == "train"][0] == \
        pytest.approx(list(job["train_acc"]))


def test_jobs_that_did_not_complete_are_listed_with_their_status(sweep, tmp_path):
    broken = tmp_path / "sweep"
    shutil.copytree(sweep, broken)
    summary = json.loads((broken / "1" / "summary.json").read_text())
    first = json.loads((broken / "0" / "summary.json").read_text())
    first["best"]["test_acc"] = 0.1234  # tells the best-epoch table from the final one
    (broken / "0" / "summary.json").write_text(json.dumps(first))
    (broken / "1" / "summary.json").write_text(json.dumps({**summary, "status": "diverged",
                                                           "error": "loss became nan"}))
    (broken / "2" / "summary.json").unlink()
    (broken / "3" / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    (broken / "4" / "metrics.csv").unlink()
    shutil.rmtree(broken / "5")  # e.g. the sweep was stopped before its last job
    report = write_report([broken], None)

    statuses = {"0": "completed", "1": "diverged", "2": "no summary", "3": "running",
                "4": "no metrics", "5": "not run"}
    table = pd.read_csv(broken / "report.csv", dtype=str)
    assert dict(zip(table["job"], table["status"], strict=True)) == statuses
    assert table.set_index("job").loc["5", "optimizer.lr"] == "0.01"  # planned in multirun.yaml
    markdown = (broken / "report.md").read_text()
    pivot = md_table(markdown, "## test_acc, final epoch")
    # rows lr 0.01, 0.03, 0.1; jobs 0..5 are (0.1, 10) (0.1, 32) (0.03, 10) ... (0.01, 32)
    assert [row[1:] for row in pivot[1:]] == [["no metrics", "not run"], ["no summary", "running"],
                                               [pivot[3][1], "diverged"]]
    assert float(pivot[3][1].strip("*")) == pytest.approx(Run(sweep / "0").summary["final"]["test_acc"],
                                                           abs=1e-4)
    best = md_table(markdown, "## test_acc at the best epoch")
    assert best[3][1] == "**0.1234**" and [row[2] for row in best[1:]] == ["not run", "running", "diverged"]
    jobs = md_table(markdown, "## Jobs (final metrics)")
    assert [row[:2] for row in jobs[1:]] == [[k, v] for k, v in statuses.items()]
    assert "loss became nan" in jobs[2][-1] and "no summary.json" in jobs[3][-1]
    assert len(report.panels) == 6 and "[not run]" in dict(((r, c), t) for r, c, t in
                                                           report.panels)[(0, 1)]


def test_a_real_diverged_job_in_a_sweep(tmp_path):
    nnlab("train", "-m", "optimizer=sgd", "optimizer.lr=1e30,0.1", "epochs=2", "progress=false",
          "plots=false", "hydra.sweep.dir=sweep", cwd=tmp_path)  # exits non-zero: a job failed
    proc = nnlab("report", "sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 diverged" in proc.stdout and "1 completed" in proc.stdout
    table = pd.read_csv(tmp_path / "sweep" / "report.csv")
    assert list(table["status"]) == ["diverged", "completed"]
    pivot = md_table((tmp_path / "sweep" / "report.md").read_text(), "## test_acc, final epoch")
    assert pivot[0] == ["optimizer.lr", "test_acc"] and pivot[2] == ["1e+30", "diverged"]


def test_report_on_individual_run_folders(sweep, tmp_path):
    """Run folders from anywhere: a key one run did not override is read from its config."""
    train(tmp_path, "epochs=3", "batch_size=10", run_dir="default_lr")  # adam's lr: 0.01
    proc = nnlab("report", str(sweep / "0"), "default_lr", "--out", "rep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "rep" / "report.csv", dtype=str)
    folders = table["job"].map(lambda job: job.split("/")[-1])
    assert dict(zip(folders, table["optimizer.lr"], strict=True)) == {"0": "0.1", "default_lr": "0.01"}
    assert "batch_size" not in table and "dataset" not in table  # the same in both
    pivot = md_table((tmp_path / "rep" / "report.md").read_text(), "## test_acc, final epoch")
    assert pivot[0] == ["optimizer.lr", "test_acc"]
    assert [row[0] for row in pivot[1:]] == ["0.01", "0.1"]
    assert pivot[1][1].strip("*") == f"{Run(tmp_path / 'default_lr').summary['final']['test_acc']:.4f}"

    # one run folder: the report goes into it, a row per job
    assert nnlab("report", "default_lr", cwd=tmp_path).returncode == 0
    pivot = md_table((tmp_path / "default_lr" / "report.md").read_text(), "## test_acc, final epoch")
    assert pivot[0] == ["job", "test_acc"] and pivot[1][0] == "default_lr"
    assert (tmp_path / "default_lr" / "curves.png").stat().st_size > 5000


@pytest.mark.parametrize("args,message", [
    (["nope"], "nope: no such folder"),
    (["empty"], "empty: no run folders there"),
    (["file.txt"], "file.txt is not a folder"),
    (["empty", "nope"], "nope: no such folder"),
    ([], "the following arguments are required: PATH"),
])
def test_bad_paths_are_one_line_errors(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    proc = nnlab("report", *args, "--out", "rep", cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"nnlab: error: report: {message}")
    assert not (tmp_path / "rep").exists() and list((tmp_path / "empty").iterdir()) == []


def test_bad_options_are_one_line_errors(sweep, tmp_path):
    job = str(sweep / "1")
    for args, message in [([job, "--metric", "test_accuracy"], "did you mean 'test_acc'?"),
                          ([job, "--metric", "val_acc"], "no job recorded val_acc"),
                          ([str(sweep), "--out", ".", "--columns", "epochs"],
                           "valid: optimizer.lr, batch_size"),
                          ([job, "--columns", "batch_size"], "no parameter differs"),
                          ([job, str(sweep / "0")], "several PATHs given")]:
        proc = nnlab("report", *args, cwd=tmp_path)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("nnlab: error: report: ") and message in proc.stderr
    assert list(tmp_path.iterdir()) == [] and not (sweep / "1" / "report.md").exists()


def test_usage_lists_report(capsys):
    from nnlab.cli import main

    main([])
    assert "report   tabulate and plot" in capsys.readouterr().out


def test_curves_of_many_jobs_share_a_panel_per_split(tmp_path, pyplot_figures):
    """Past MAX_PANELS jobs, one panel per split holds every job's line and their median."""
    import pandas as pd

    from nnlab.report.figure import MAX_PANELS, curves
    from nnlab.report.jobs import Job

    jobs = [Job(str(i), tmp_path / str(i), "completed", params={"seed": str(i)},
                metrics=pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.5 + i / 1000, 0.2],
                                      "test_loss": [1.1, 0.6, 0.3]})) for i in range(MAX_PANELS + 2)]
    panels = curves(jobs, ["seed"], {"seed": [str(i) for i in range(MAX_PANELS + 2)]},
                    tmp_path / "curves.png")
    assert [title for _, _, title in panels] == [f"train loss: {MAX_PANELS + 2} jobs, one line each",
                                                 f"test loss: {MAX_PANELS + 2} jobs, one line each"]
    (fig,) = pyplot_figures
    median = [line for line in fig.axes[1].lines if line.get_label() == "median"]
    assert list(median[0].get_ydata()) == [1.1, 0.6, 0.3]
    assert (tmp_path / "curves.png").is_file()


@pytest.mark.parametrize("text", ["seed=12", "seed=-3", "seed=0", "a.b_c=007", "x=1e-2", "x=10", "+x=3",
                                  "optimizer.lr=0.01", "model.hidden=[8,8]", "x=1_000"])
def test_an_override_reads_as_hydra_parses_it(text):
    from nnlab.report.jobs import _parse_override, _parser, _text

    parsed = _parser().parse_override(text)
    assert _parse_override(text) == (parsed.key_or_group, _text(parsed.value()))
