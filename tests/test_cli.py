"""The command line as a user types it: entry points, Hydra flags, sweeps, one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import Run, nnlab, nnlab_popen, nnlab_process, train


def test_console_script_and_module_agree_on_usage(tmp_path):
    """The two executables a user can type, as real processes."""
    exe = shutil.which("nnlab") or str(Path(os.sys.executable).parent / "nnlab")
    script = subprocess.run([exe], capture_output=True, text=True, cwd=tmp_path)
    module = nnlab_process(cwd=tmp_path)
    assert script.returncode == module.returncode == 0
    assert "usage: nnlab {train" in script.stdout
    assert script.stdout == module.stdout


def test_version_flag(tmp_path):
    from nnlab import __version__

    assert nnlab("--version", cwd=tmp_path).stdout.strip() == f"nnlab {__version__}"


def test_unknown_command_is_one_line(tmp_path):
    proc = nnlab("trian", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "nnlab: error: command: unknown value 'trian'; valid: train, attack, report (did you mean 'train'?)"
    ]


def test_cfg_job_prints_composed_config_without_running(tmp_path):
    proc = nnlab("train", "--cfg", "job", "model=deep", "model.depth=3", "epochs=7", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["epochs"] == 7
    assert cfg["model"]["_target_"] == "nnlab.models.DeepStack" and cfg["model"]["depth"] == 3
    assert not (tmp_path / "outputs").exists()


def help_lines(proc) -> dict[str, str]:
    """`key=value` (or `group=option`) -> the description on its line of --help."""
    lines = {}
    for line in proc.stdout.splitlines():
        if line.startswith("  ") and "=" in line.split()[0]:
            left, _, about = line.strip().partition(" ")
            lines[left] = about.strip()
    return lines


def test_help_lists_the_groups_and_keys_train_uses_a_line_each(tmp_path):
    proc = nnlab("train", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    lines = help_lines(proc)
    assert lines["model=mlp"] == ("the network; options: cifar_cnn, cnn, custom, deep, lenet, linear, mlp, "
                                  "playground")
    groups = {left.split("=")[0] for left in lines if "." not in left.split("=")[0]}
    assert {"model", "optimizer", "scheduler", "dataset", "probe", "experiment", "epochs"} <= groups
    assert "attack" not in groups and "run" not in groups  # `nnlab attack`'s, not train's
    assert lines["epochs=100"] == "passes over the training split"  # the config file's comment
    assert lines["model.hidden=[16,16]"].startswith("hidden layer widths")
    assert lines["optimizer.lr=0.01"] == "a number > 0"  # no comment: what its declaration says
    assert all(lines.values()), [k for k, v in lines.items() if not v]  # a line each, none bare
    examples = proc.stdout.split("Examples:")[1]  # the ways in a newcomer looks for
    for way in ("hydra/launcher=vectorized", "skip_completed=true", "nnlab report"):
        assert way in examples, way
    assert "Examples:" in proc.stdout


def test_help_follows_the_command_line_and_attack_lists_only_its_own(tmp_path):
    proc = nnlab("train", "experiment=fashion_lenet", "probe=[shift]", "--help", cwd=tmp_path)
    lines = help_lines(proc)
    assert lines["model.pooling=max"] == "max | avg" and lines["epochs=15"]
    assert lines["probe.shift.max_shift=6"] == "pixels; must be smaller than the image"
    assert lines["dataset.train_size=null"].startswith("keep only the first N images of the training split")
    proc = nnlab("attack", "attack=pgd", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = help_lines(proc)
    groups = {left.split("=")[0].split(".")[0] for left in lines}
    assert "attack" in groups and not {"model", "optimizer", "probe", "experiment"} & groups
    assert lines["run=???"] == "the training run folder whose model is attacked"
    assert lines["attack.norm=linf"] == "linf | l2" and all(lines.values())


def test_help_of_model_custom_names_the_class_to_give_and_the_keys_given(tmp_path):
    lines = help_lines(nnlab("train", "model=custom", "--help", cwd=tmp_path))
    assert lines["model._target_=???"].startswith("MODULE.NAME of your model class")
    (tmp_path / "mine.py").write_text("import torch\nNet = torch.nn.Linear\n")
    lines = help_lines(nnlab("train", "model=custom", "model._target_=mine.Net", "+model.width=8", "--help",
                             cwd=tmp_path))
    assert "model._target_=mine.Net" in lines and "model.width=8" in lines
    assert "model._target_=nnlab.models.MLP" not in help_lines(nnlab("train", "--help", cwd=tmp_path))


def test_runs_from_any_directory_with_default_output_folder(tmp_path):
    """The config tree ships as the package nnlab.configs: no configs/ needed in the cwd."""
    proc = nnlab("train", "epochs=2", "progress=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = list((tmp_path / "outputs" / "train").glob("*/*"))
    assert len(runs) == 1
    day, stamp = runs[0].parts[-2:]
    assert len(day) == 10 and len(stamp.split("-")) == 4  # HH-MM-SS-microseconds
    assert Run(runs[0]).summary["status"] == "completed"


def test_two_runs_in_the_same_second_get_two_folders(tmp_path):
    procs = [nnlab_popen("train", "epochs=1", "progress=false", "plots=false", cwd=tmp_path)
             for _ in range(2)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert len(list((tmp_path / "outputs" / "train").glob("*/*"))) == 2


def test_multirun_writes_one_job_folder_per_value(tmp_path):
    proc = nnlab("train", "-m", "optimizer.lr=0.1,0.01", "epochs=2", "progress=false",
                 "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sweep = tmp_path / "sweep"
    assert (sweep / "multirun.yaml").exists()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    lrs = [Run(job).metrics["lr"].iloc[0] for job in jobs]
    assert lrs == [0.1, 0.01]
    overrides = [yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) for job in jobs]
    assert overrides[0][0] == "optimizer.lr=0.1" and overrides[1][0] == "optimizer.lr=0.01"


def test_shell_completion_routes_to_the_command(tmp_path):
    env = {"COMP_LINE": "nnlab train mod", "COMP_POINT": "15"}
    proc = nnlab("-sc", "query=bash", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "model=" in proc.stdout.split()
    env = {"COMP_LINE": "nnlab train model=", "COMP_POINT": "18"}
    assert set(nnlab("-sc", "query=bash", cwd=tmp_path, env=env).stdout.split()) >= {
        "model=mlp", "model=deep", "model=linear"}
    env = {"COMP_LINE": "nnlab tr", "COMP_POINT": "8"}
    assert nnlab("-sc", "query=bash", cwd=tmp_path, env=env).stdout.split() == ["train"]
    install = nnlab("train", "-sc", "install=bash", cwd=tmp_path)
    assert "complete -o nospace -o default -F hydra_bash_completion" in install.stdout


BAD_INPUT = [
    # (overrides, fragments the single error line must contain)
    (["model=nope"], ["model=nope", "valid: cifar_cnn, cnn, custom, deep, lenet, linear, mlp, playground"]),
    (["epoch=3"], ["'epoch'", "did you mean 'epochs'"]),
    (["model.hiden=[4]"], ["'model.hiden'", "did you mean 'model.hidden'"]),
    (["optimizer.lr=-0.1"], ["optimizer.lr=-0.1", "> 0"]),
    (["epochs=-1"], ["epochs=-1", ">= 1"]),
    (["batch_size=-5"], ["batch_size=-5", ">= 1"]),
    (["batch_size=0"], ["batch_size=0", ">= 1"]),
    (["epochs=ten"], ["epochs", "integer", "'ten'"]),
    (["dataset.noise=0.8"], ["dataset.noise", "0.8", "[0.0, 0.5]"]),
    (["dataset.train_fraction=1.0"], ["dataset.train_fraction", "(0, 1)"]),
    (["dataset.features=[x1,x9]"], ["'x9'", "x1sq"]),
    (["model.activation=rleu"], ["model.activation", "'rleu'", "did you mean 'relu'"]),
    (["loss=hinge"], ["loss", "'hinge'", "cross_entropy, mse"]),
    (["device=tpu"], ["device", "'tpu'", "cuda:N"]),
    (["early_stopping.monitor=val_acc"], ["early_stopping.monitor", "val_acc", "test_acc"]),
    (["optimizer=sgd", "optimizer.nesterov=true"], ["nesterov", "momentum"]),
    (["probe=[boundary]", "model=deep", "dataset=nope"], ["dataset=nope", "spiral"]),
    (["epochs"], ["cannot parse override", "epochs"]),
]


@pytest.mark.parametrize("overrides,fragments", BAD_INPUT, ids=[" ".join(o) for o, _ in BAD_INPUT])
def test_bad_input_is_one_clear_line(tmp_path, overrides, fragments):
    proc = train(tmp_path, *overrides, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nnlab: error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_bad_input_leaves_no_empty_run_folder(tmp_path):
    proc = nnlab("train", "optimizer.lr=-1", cwd=tmp_path)
    assert proc.returncode == 2
    assert not list((tmp_path / "outputs" / "train").glob("*/*"))


def test_existing_run_folder_is_never_overwritten(tmp_path):
    train(tmp_path, "epochs=2")
    before = (tmp_path / "run" / "metrics.csv").read_bytes()
    proc = train(tmp_path, "epochs=3", check=False)
    assert proc.returncode == 2
    assert "already holds a run" in proc.stderr
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == before
