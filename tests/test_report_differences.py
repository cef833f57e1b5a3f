"""`nnlab report` says what differs between runs from their resolved configs
(src/nnlab/report/differences.py), not from the overrides typed."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from conftest import nnlab, train
from nnlab.report.command import write_report
from test_report import md_table


def write_run(root, name, config: dict, overrides: list[str], choices: dict | None = None,
              acc: float = 0.9, metrics: pd.DataFrame | None = None):
    """A completed run folder as `nnlab train` writes it: .hydra/config.yaml (the resolved config),
    overrides.yaml (what was typed), hydra.yaml's runtime.choices (the config groups' choices),
    summary.json and metrics.csv (`metrics`, or two epochs ending at test accuracy `acc`)."""
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if choices is not None:
        (run / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(
            {"hydra": {"run": {"dir": str(run)}, "runtime": {"version": "1.3", "choices": choices},
                       "verbose": False}}, sort_keys=False))
    if metrics is None:
        metrics = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "train_acc": [0.5, acc],
                                "test_loss": [1.1, 0.6], "test_acc": [0.4, acc]})
    metrics.to_csv(run / "metrics.csv", index=False)
    (run / "summary.json").write_text(json.dumps({"status": "completed",
                                                  "final": metrics.iloc[-1].to_dict()}))
    return run


BASE = {"epochs": 2, "batch_size": 32, "seed": 0, "progress": False, "skip_completed": False,
        "cpu_threads": None, "resume": None, "objective": None,
        "optimizer": {"_target_": "torch.optim.Adam", "lr": 0.01},
        "model": {"_target_": "nnlab.models.MLP", "hidden": [16, 16]},
        "dataset": {"name": "spiral", "seed": "${seed}"}}
CHOICES = {"experiment": None, "model": "mlp", "optimizer": "adam", "dataset": "spiral",
           "hydra/launcher": "basic"}


def config(**changes) -> dict:
    """BASE with dotted keys changed: config(**{"optimizer.lr": 0.1})."""
    found = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = found
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return found


def test_a_key_that_no_command_named_differs_and_typed_keys_that_agree_do_not(tmp_path):
    """The continued sweep of the issue: both runs' overrides say epochs=30, their configs say 300
    and 30. The report compares the configs: epochs differs, and it is not 'the same in every job'."""
    typed = ["dataset=spiral", "epochs=30", "skip_completed=true"]
    write_run(tmp_path, "a", config(epochs=300), typed, CHOICES, acc=0.9)
    write_run(tmp_path, "b", config(epochs=30, skip_completed=True, progress=True), typed, CHOICES, acc=0.7)
    report = write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "rep")
    assert report.swept == ["epochs"]
    assert report.constant == {"dataset": "spiral"}  # epochs=30 was typed in both: not the same
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert "`epochs` (30, 300)" in markdown and "skip_completed" not in markdown
    assert md_table(markdown, "## test_acc, final epoch") == [["epochs", "test_acc"], ["30", "0.7000"],
                                                              ["300", "**0.9000**"]]
    table = pd.read_csv(tmp_path / "rep" / "report.csv")
    assert dict(zip(table["job"], table["epochs"], strict=True)) == {"a": 300, "b": 30}
    assert not {"skip_completed", "progress"} & set(table.columns)


def test_presets_and_per_invocation_keys_never_count_as_differing(tmp_path):
    same = config()
    write_run(tmp_path, "a", same, ["experiment=mine"], {**CHOICES, "experiment": "mine"})
    write_run(tmp_path, "b", config(progress=True, skip_completed=True, cpu_threads=1,
                                    resume="/x", objective="final.test_acc"),
              ["progress=true"], CHOICES)
    report = write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "rep")
    assert report.swept == [] and report.differences.keys == []


def test_a_group_choice_is_one_key_and_its_leaves_fold_into_it(tmp_path):
    """optimizer=sgd,adam x optimizer.lr=0.1,0.01: the choice is a key (not _target_, momentum,
    betas, which follow from it); the lr varies within a choice, so it is a key of its own."""
    sgd = {"_target_": "torch.optim.SGD", "momentum": 0.9}
    adam = {"_target_": "torch.optim.Adam", "betas": [0.9, 0.999]}
    for num, (name, node) in enumerate((("sgd", sgd), ("adam", adam))):
        for k, lr in enumerate((0.1, 0.01)):
            write_run(tmp_path / "sweep", str(2 * num + k), config(optimizer={**node, "lr": lr}),
                      [f"optimizer={name}", f"optimizer.lr={lr}"], {**CHOICES, "optimizer": name})
    report = write_report([tmp_path / "sweep"], None)
    assert report.differences.keys == report.swept == ["optimizer", "optimizer.lr"]
    table = pd.read_csv(tmp_path / "sweep" / "report.csv", dtype=str)
    assert list(table["optimizer"]) == ["sgd", "sgd", "adam", "adam"]
    assert not any(c.startswith(("optimizer._target_", "optimizer.momentum", "optimizer.betas"))
                   for c in table.columns)


def test_keys_that_vary_together_are_one_axis(tmp_path):
    """Two runs that differ in the model (a preset's MLP) and in the lr: one axis, two cells, the
    lr stated with the model; --columns names the key the axis goes by."""
    write_run(tmp_path, "mlp", config(**{"optimizer.lr": 0.001, "model.hidden": [300, 50]}),
              ["experiment=mnist_mlp_300_50"], {**CHOICES, "experiment": "mnist_mlp_300_50"}, acc=0.97)
    write_run(tmp_path, "lenet", config(model={"_target_": "nnlab.models.LeNet"}),
              ["model=lenet"], {**CHOICES, "model": "lenet"}, acc=0.98)
    report = write_report([tmp_path / "mlp", tmp_path / "lenet"], tmp_path / "rep")
    assert report.differences.keys == ["model", "optimizer.lr"] and report.swept == ["model"]
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert md_table(markdown, "## test_acc, final epoch") == [
        ["model", "test_acc"], ["lenet (optimizer.lr=0.01)", "**0.9800**"],
        ["mlp (optimizer.lr=0.001)", "0.9700"]]
    assert "`model` (lenet, mlp), and with it `optimizer.lr` (0.001, 0.01)" in markdown
    assert "experiment" not in markdown.split("## Jobs")[0]
    assert [title for _, _, title in report.panels] == ["model=lenet, optimizer.lr=0.01",
                                                        "model=mlp, optimizer.lr=0.001"]

    report = write_report([tmp_path / "mlp", tmp_path / "lenet"], tmp_path / "rep", columns="optimizer.lr")
    assert report.swept == ["optimizer.lr"]
    assert md_table((tmp_path / "rep" / "report.md").read_text(), "## test_acc, final epoch")[1] == \
        ["0.001 (model=mlp)", "0.9700"]


def test_a_job_never_started_is_compared_by_what_it_typed(tmp_path):
    """Planned in multirun.yaml but never started: its typed lr counts as a value of the lr."""
    write_run(tmp_path / "sweep", "0", config(**{"optimizer.lr": 0.1}), ["optimizer.lr=0.1"], CHOICES)
    (tmp_path / "sweep" / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {
        "sweep": {"dir": str(tmp_path / "sweep"), "subdir": "${hydra.job.num}"},
        "sweeper": {"_target_": "hydra_plugins.nnlab_launcher.sweeper.NnlabSweeper", "params": None},
        "overrides": {"task": ["optimizer.lr=0.1,0.01"]}}}))
    report = write_report([tmp_path / "sweep"], None)
    assert report.swept == ["optimizer.lr"]
    assert list(report.table["status"]) == ["completed", "not run"]


@pytest.fixture(scope="module")
def preset_and_lenet(tmp_path_factory, fake_data):
    """The issue's runs, tiny: an MLP from experiment=mnist_mlp_300_50 (its preset sets the lr to
    0.001) and a LeNet without a preset (Adam's 0.01), both with the confusion probe."""
    tmp = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNLAB_DATA", str(fake_data))
        common = ["epochs=1", "dataset.val_size=50", "probe=[confusion]", "plots=false", "checkpoint=false"]
        train(tmp, "experiment=mnist_mlp_300_50", *common, run_dir="mlp")
        train(tmp, "dataset=mnist", "model=lenet", *common, run_dir="lenet")
    return tmp


def test_preset_mlp_against_lenet_names_the_model_and_the_lr(preset_and_lenet, pyplot_figures):
    tmp = preset_and_lenet
    proc = nnlab("report", "mlp", "lenet", "--out", "rep", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    assert md_table(proc.stdout, "2 jobs: 2 completed")[0] == ["model", "test_acc"]
    assert [row[0] for row in md_table(proc.stdout, "2 jobs: 2 completed")[1:]] == [
        "lenet (optimizer.lr=0.01)", "mlp (optimizer.lr=0.001)"]
    table = pd.read_csv(tmp / "rep" / "report.csv", dtype=str)
    assert dict(zip(table["job"], zip(table["model"], table["optimizer.lr"], strict=True), strict=True)) \
        == {"mlp": ("mlp", "0.001"), "lenet": ("lenet", "0.01")}
    assert not any(c.startswith(("model.", "experiment")) for c in table.columns)

    report = write_report([tmp / "mlp", tmp / "lenet"], tmp / "rep")
    curves, confusion = pyplot_figures[-2:]
    assert len(report.panels) == 2 and all(ax.axison and ax.lines for ax in curves.axes)  # no empty panel
    assert [t.get_text() for t in confusion.legends[0].get_texts()] == [
        "model=lenet, optimizer.lr=0.01", "model=mlp, optimizer.lr=0.001"]


def test_a_key_under_a_per_invocation_key_never_counts(tmp_path):
    """dataset.root (the same files found elsewhere) and figures.* (how plots are drawn) differ
    between these runs; neither is a difference in what they computed."""
    from nnlab.invocation import PER_INVOCATION

    assert {"dataset.root", "figures"} <= set(PER_INVOCATION)
    write_run(tmp_path, "a", config(**{"dataset.root": "/data", "figures.dpi": 300}), [], CHOICES)
    write_run(tmp_path, "b", config(**{"dataset.root": "/mnt/data", "figures.dpi": None}), [], CHOICES)
    report = write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "rep")
    assert report.differences.keys == []


def test_the_list_groups_are_the_schemas_and_a_report_imports_no_torch():
    import subprocess
    import sys

    from nnlab.report.differences import LIST_GROUPS
    from nnlab.schema.commands import TRAIN
    from nnlab.schema.types import GroupList

    assert LIST_GROUPS == tuple(name for name, kind in TRAIN.keys.items() if isinstance(kind, GroupList))
    # a fresh interpreter: this one has imported torch long ago
    code = "import sys, nnlab.report.command, nnlab.report.differences; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
