"""scripts/reproduce.py: every seed experiment is listed, with its seed report and description."""

from __future__ import annotations

import importlib

import pandas as pd
import reproduce  # scripts/ is on sys.path (tests/conftest.py)
from experiments import adversarial


def test_the_three_experiments_are_listed():
    found = reproduce.available()
    for name in ("surfaces", "vanishing", "lr-batch"):
        assert name in found and found[name].SEED.startswith("seeds/00") and callable(found[name].run)


def test_the_experiments_are_listed():
    reproduce = importlib.import_module("reproduce")
    found = reproduce.available()
    for name in ("shift", "playground", "fashion", "cifar-ablation"):
        assert found[name].SEED.startswith("seeds/00") and found[name].DESCRIPTION


def test_the_experiment_is_listed():
    reproduce = importlib.import_module("reproduce")
    found = reproduce.available()
    assert found["adversarial"] is adversarial
    assert adversarial.SEED.startswith("seeds/000") and adversarial.DESCRIPTION


def test_all_runs_every_experiment_even_after_a_failure_then_writes_the_document(tmp_path, capsys):
    ran = []

    def module(name, fail=False):
        def run(ctx):
            ran.append(name)
            if fail:
                raise RuntimeError("boom")
            ctx.note("**Data:** made up for the test")

        return type("Module", (), {"SEED": "seeds/004", "DESCRIPTION": name, "run": staticmethod(run)})

    experiments = {"first": module("first", fail=True), "second": module("second")}
    doc = tmp_path / "docs" / "REPRODUCTION.md"
    assert reproduce.run_all(experiments, tmp_path / "out", False, doc, False) == 1
    assert ran == ["first", "second"]
    record = (tmp_path / "out" / "all.json").read_text()
    assert '"failed"' in record and "boom" in record and '"done"' in record
    text = doc.read_text()
    assert "| `make reproduce-first` |" in text and "RuntimeError: boom" in text
    assert "failed: first" in capsys.readouterr().out
    doc.unlink()  # --doc-only writes it again from the folders, running nothing
    assert reproduce.run_all(experiments, tmp_path / "out", False, doc, True) == 1
    assert ran == ["first", "second"] and "RuntimeError: boom" in doc.read_text()
    # --resume runs again only what did not complete (a completed one has its README.md)
    assert reproduce.run_all(experiments, tmp_path / "out", False, doc, False, resume=True) == 1
    assert ran == ["first", "second", "first"]


def test_the_document_puts_the_playground_tables_next_to_the_report(tmp_path):
    from experiments import side_by_side

    folder = tmp_path / "playground"
    folder.mkdir()
    pd.DataFrame([{"dataset": "circle", "features": "x1sq x2sq", "epochs": 306,
                   "train loss": "0.001 ± 0.000 (0.000-0.001)", "report train loss": "0",
                   "train loss: verdict": "matched", "test loss": "0.002 ± 0.001 (0.001-0.003)",
                   "report test loss": "0", "test loss: verdict": "differs: nnlab higher",
                   "test acc": "1.000 ± 0.000 (1.000-1.000)"}]).to_csv(folder / "hand_crafted.csv")
    pd.DataFrame(columns=["dataset", "regulariser", "train loss", "report train loss",
                          "train loss: verdict", "test loss", "report test loss", "test loss: verdict"]
                 ).to_csv(folder / "regularised.csv")
    pd.DataFrame([{"dataset": "circle", "regulariser": "L1", "inputs that mattered": "x1sq, x2sq",
                   "report: inputs that mattered": "x1sq, x2sq"}]).to_csv(folder / "feature_weights.csv")
    (folder / "README.md").write_text("Commands\n\n    nnlab train -m experiment=playground_report\n")
    doc = tmp_path / "REPRODUCTION.md"
    side_by_side.write(doc, tmp_path, {"experiments": {"playground": {"status": "done", "seconds": 60}}})
    text = doc.read_text()
    assert ("| table 1: circle (x1sq x2sq, 306 epochs), train loss | 0 | 0.001 ± 0.000 (0.000-0.001) "
            "| matched (within the 5 seeds' range) | playground |") in text
    assert "| table 2: circle L1, inputs that mattered | x1sq, x2sq | x1sq, x2sq | matched |" in text
    assert "    nnlab train -m experiment=playground_report" not in text  # stripped, in a code block
    assert "nnlab train -m experiment=playground_report" in text
    assert "- `xor`: its tables could not be read" in text  # what did not run is named


def test_the_document_says_which_model_held_up_under_shifts(tmp_path):
    """seeds/003's point (LeNet keeps a shifted 8, the MLP does not), on the whole shifted test
    split: matched when LeNet's mean accuracy over the shifts is the higher."""
    from experiments import side_by_side

    folder = tmp_path / "shift"
    folder.mkdir()
    pd.DataFrame([{"model": "MLP 784-300-50-10", "epochs": 5, "test acc (unshifted)": 0.87,
                   "report (MNIST)": 0.9308}]).to_csv(folder / "accuracy.csv", index=False)
    curves = pd.DataFrame({"shift": [0, 1, 2], "MLP right": [0.87, 0.80, 0.57],
                           "MLP down": [0.87, 0.82, 0.75],
                           "LeNet-5 right": [0.88, 0.86, 0.78], "LeNet-5 down": [0.88, 0.88, 0.83]})
    curves.to_csv(folder / "shift_accuracy.csv", index=False)
    row = side_by_side.shift(tmp_path)[-1]
    assert row.verdict == "matched" and "2 directions: LeNet 0.838, MLP 0.735" in row.ours
    assert "2 pixels right: LeNet 0.780, MLP 0.570" in row.ours
    curves[["MLP right", "MLP down", "LeNet-5 right", "LeNet-5 down"]] = curves[
        ["LeNet-5 right", "LeNet-5 down", "MLP right", "MLP down"]].to_numpy()
    curves.to_csv(folder / "shift_accuracy.csv", index=False)
    assert side_by_side.shift(tmp_path)[-1].verdict.startswith("differs")


def test_the_adversarial_rows_read_the_generator_and_the_reports_l2_radius(tmp_path):
    from experiments import side_by_side

    cifar = pd.DataFrame({"model": ["net", "net", "cnn"], "test acc": [0.68, 0.68, 0.77],
                          "L2 eps": [0.1, 0.357, 0.357], "success rate": [0.08, 0.36, 0.15],
                          "adv acc": [0.64, 0.46, 0.63]})
    assert side_by_side._at_report_radius(cifar) == (
        "net: success 0.36 at L2 0.357 (test acc 0.680 -> 0.460); "
        "cnn: success 0.15 at L2 0.357 (test acc 0.770 -> 0.630)")
    reached = pd.DataFrame({"class": ["0 T-shirt", "1 Trouser"], "targets reached": [1.0, 0.75]})
    assert side_by_side._success(reached) == 0.875
