"""`nnlab report` on runs that share a probe (src/nnlab/report/probes.py): probe_<name>.png with a
line per run, labelled by what differs between the runs, and the numbers in report.md."""

from __future__ import annotations

import csv
import statistics

import pandas as pd
import pytest

from conftest import nnlab, train
from nnlab.report.command import write_report
from test_report import md_table
from test_report_aggregate import FINAL, LRS, SEEDS, write_sweep


def read_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module", autouse=True)
def _data_root(fake_data):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNLAB_DATA", str(fake_data))
        yield


@pytest.fixture(scope="module")
def mlp_and_lenet(tmp_path_factory, _data_root):
    """seeds/003's comparison, tiny: an MLP and a LeNet run on the session's small MNIST files,
    each with the real shift probe (and grad_flow)."""
    tmp = tmp_path_factory.mktemp("runs")
    for model in ("mlp", "lenet"):
        train(tmp, "dataset=mnist", f"model={model}", "epochs=1", "dataset.val_size=50",
              "probe=[shift,grad_flow]", "probe.shift.max_shift=2", "plots=false", run_dir=model)
    return tmp


def test_shift_curves_of_an_mlp_and_a_lenet_run_in_one_figure(mlp_and_lenet, pyplot_figures):
    tmp = mlp_and_lenet
    proc = nnlab("report", "mlp", "lenet", "--out", "rep", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    assert "probe_shift.png" in proc.stdout and "probe_grad_flow.png" in proc.stdout
    assert (tmp / "rep" / "probe_shift.png").stat().st_size > 10_000
    assert not (tmp / "rep" / "probe_confusion.png").exists()  # neither run had it

    report = write_report([tmp / "mlp", tmp / "lenet"], tmp / "rep")
    assert [o.file for o in report.probes] == ["probe_shift.png", "probe_grad_flow.png"]
    shift_fig = pyplot_figures[1]  # curves.png is drawn first, then the probes in order
    assert [ax.get_title() for ax in shift_fig.axes] == ["shifted right", "shifted down", "shifted diagonal"]
    markdown = (tmp / "rep" / "report.md").read_text()
    for ax in shift_fig.axes:
        direction = ax.get_title().split()[-1]
        table = md_table(markdown, f"{ax.get_title()}:")
        assert table[0] == ["shift (pixels)", "model=lenet", "model=mlp"]  # what differs: the model
        for column, line in enumerate(ax.lines, start=1):
            assert line.get_label() == table[0][column]
            rows = [r for r in read_rows(tmp / line.get_label().split("=")[1] / "shift_invariance.csv")
                    if r["direction"] == direction]
            assert list(line.get_xdata()) == [0, 1, 2]
            assert list(line.get_ydata()) == pytest.approx([float(r["accuracy"]) for r in rows])
            assert [row[column] for row in table[1:]] == [f"{float(r['accuracy']):.4f}" for r in rows]

    grads = read_rows(tmp / "lenet" / "grad_flow.csv")  # epochs 0 and 1, five layers
    last = md_table(markdown, "max |grad|, last recorded epoch:")
    assert [row[1] for row in last[1:]] == [f"{float(r['max_abs_grad']):.3g}" for r in grads
                                            if r["epoch"] == "1"]
    assert last[3][2] != "-" and last[4][2] == "-"  # the MLP has 3 layers, LeNet 5


def test_one_run_with_a_probe_gets_no_overlay(mlp_and_lenet, tmp_path):
    (tmp_path / "probe_shift.png").write_bytes(b"left by an earlier report")
    report = write_report([mlp_and_lenet / "mlp"], tmp_path)
    assert report.probes == [] and not (tmp_path / "probe_shift.png").exists()
    assert "## Probe" not in (tmp_path / "report.md").read_text()


def shift_rows(acc: float) -> list[tuple[str, int, float]]:
    """A shift_invariance.csv whose accuracy falls by 0.1 per pixel from `acc`."""
    return [(direction, s, acc - 0.1 * s) for direction in ("right", "down") for s in range(3)]


def test_a_sweep_overlays_each_learning_rate_as_a_mean_over_seeds(tmp_path, pyplot_figures):
    sweep = write_sweep(tmp_path / "sweep")
    for num, (lr, seed) in enumerate((lr, seed) for lr in LRS for seed in SEEDS):
        acc = FINAL[(lr, seed)]
        if acc is not None:  # the diverged job wrote no probe files
            pd.DataFrame(shift_rows(acc), columns=["direction", "shift", "accuracy"]).to_csv(
                sweep / str(num) / "shift_invariance.csv", index=False)
    report = write_report([sweep], None)
    assert [o.name for o in report.probes] == ["shift"]
    table = md_table((sweep / "report.md").read_text(), "shifted down:")
    assert table[0] == ["shift (pixels)", "optimizer.lr=0.01 (n=5)", "optimizer.lr=0.1 (n=4 of 5)"]
    for column, lr in enumerate(("0.01", "0.1"), start=1):
        for s in range(3):
            values = [a - 0.1 * s for (r, _), a in FINAL.items() if r == lr and a is not None]
            assert table[1 + s][column] == f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"
    fig = pyplot_figures[1]
    right = fig.axes[0]
    assert [line.get_label() for line in right.lines] == table[0][1:]
    assert len(right.collections) == 2  # a band per learning rate


def test_grad_flow_and_confusion_tables_read_from_their_files(tmp_path):
    """grad_flow: max |grad| per layer at the first and the last recorded epoch; confusion: recall
    per class (the diagonal over the row sums)."""
    for name, first, last, counts in (("a", 1.0, 0.5, [[8, 2], [1, 9]]),
                                      ("b", 0.01, 0.002, [[5, 5], [0, 10]])):
        run = tmp_path / name
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "config.yaml").write_text("model:\n  depth: 1\n")  # the same in both
        (run / ".hydra" / "overrides.yaml").write_text(f"- model.depth={len(name)}\n")
        (run / "summary.json").write_text('{"status": "completed"}')
        (run / "metrics.csv").write_text("epoch,train_loss,train_acc\n1,0.5,0.8\n")
        rows = [(0, 1, "l1", first, first / 2), (0, 2, "l2", first * 10, first),
                (3, 1, "l1", last, last), (3, 2, "l2", last * 10, last)]
        pd.DataFrame(rows, columns=["epoch", "layer", "name", "max_abs_grad", "mean_abs_grad"]).to_csv(
            run / "grad_flow.csv", index=False)
        pd.DataFrame(counts, index=pd.Index(["cat", "dog"], name="true"), columns=["cat", "dog"]).to_csv(
            run / "confusion_matrix.csv")
    report = write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "rep", "train_acc")
    assert [o.name for o in report.probes] == ["grad_flow", "confusion"]
    markdown = (tmp_path / "rep" / "report.md").read_text()
    # nothing differs between their configs (what was typed does not count): the folders name the lines
    assert md_table(markdown, "max |grad|, first recorded epoch (0: untrained):") == [
        ["layer (1 = nearest the input)", "a", "b"], ["1", "1", "0.01"], ["2", "10", "0.1"]]
    assert md_table(markdown, "max |grad|, last recorded epoch:")[2] == ["2", "5", "0.02"]
    assert md_table(markdown, "recall per class:") == [["class", "a", "b"], ["cat", "0.8000", "0.5000"],
                                                       ["dog", "0.9000", "1.0000"]]


def test_a_legend_of_long_labels_is_never_cut(tmp_path, pyplot_figures):
    """Runs that differ in several long-named keys: each label is wrapped and the legend has as
    many columns as fit, all of it inside the figure (the issue's legend lost both ends)."""
    from test_report_differences import write_run

    for k, name in enumerate(("first", "second")):
        config = {"model": {"a_rather_long_parameter_name": k, "another_long_parameter_name": f"value_{k}"},
                  "dataset": {"name": f"a_dataset_with_a_long_name_{k}"}}
        run = write_run(tmp_path, name, config, [])
        pd.DataFrame([[8, 2], [1, 9]], index=pd.Index(["cat", "dog"], name="true"),
                     columns=["cat", "dog"]).to_csv(run / "confusion_matrix.csv")
    report = write_report([tmp_path / "first", tmp_path / "second"], tmp_path / "rep")
    assert [o.name for o in report.probes] == ["confusion"]
    fig = pyplot_figures[-1]
    fig.canvas.draw()
    (legend,) = fig.legends
    box, frame = legend.get_window_extent(), fig.bbox
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
    texts = [t.get_text().replace("\n", " ") for t in legend.get_texts()]
    assert texts == [", ".join(f"{k}={v}" for k, v in (
        ("model.a_rather_long_parameter_name", k), ("model.another_long_parameter_name", f"value_{k}"),
        ("dataset.name", f"a_dataset_with_a_long_name_{k}"))) for k in (0, 1)]
