"""Continuing a sweep (train/continuation.py, and the sweeper that calls it): a continuation is the
same sweep or it is refused with nothing written; completed jobs stay as they were; interrupted
jobs go on from their last checkpoint, to the numbers of a sweep that never stopped; a stopped
sweep prints the command that continues it, and that command works as printed."""

from __future__ import annotations

import hashlib
import shlex
import signal
from pathlib import Path

import pandas as pd
import pytest

from conftest import nnlab
from test_vectorized_launcher import jobs, metrics, summary
from train_helpers import interrupt_after

TOY = ("dataset.n_samples=200", "plots=false", "progress=false", "cpu_threads=1")


def sweep(tmp_path: Path, name: str, *overrides: str, code: int = 0):
    proc = nnlab("train", "-m", f"hydra.sweep.dir={name}", *TOY, *overrides, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr[-3000:]
    return proc


def checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("launcher", ["basic", "vectorized"])
def test_a_continuation_with_a_changed_value_is_refused_and_nothing_is_written(tmp_path, launcher):
    sweep(tmp_path, "s", f"hydra/launcher={launcher}", "optimizer.lr=0.1,0.01", "epochs=3")
    before = checksums(tmp_path / "s")
    proc = sweep(tmp_path, "s", f"hydra/launcher={launcher}", "optimizer.lr=0.1,0.01", "epochs=2",
                 "skip_completed=true", code=2)
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1, proc.stderr
    assert line.startswith("nnlab: error: skip_completed: job 0 in s ran with epochs=3, this command "
                           "gives epochs=2;"), line
    assert "hydra.sweep.dir" in line  # what to do: a new folder for another sweep
    assert checksums(tmp_path / "s") == before  # .hydra/, multirun.yaml, reports: all as they were


def test_a_key_no_command_line_named_differs_too(tmp_path):
    """The configs are compared, not the command lines: a preset changes values unnamed."""
    sweep(tmp_path, "s", "seed=0,1", "epochs=2")
    proc = sweep(tmp_path, "s", "seed=0,1", "epochs=2", "experiment=circle_linear", "skip_completed=true",
                 code=2)
    assert "skip_completed: job 0 in s ran with" in proc.stderr and "(and " in proc.stderr


def test_without_skip_completed_a_used_sweep_folder_is_refused_before_any_job(tmp_path):
    sweep(tmp_path, "s", "optimizer.lr=0.1", "epochs=1")
    before = checksums(tmp_path / "s")
    proc = sweep(tmp_path, "s", "optimizer.lr=0.1", "epochs=1", code=2)
    assert "already holds this sweep's job 0 (completed); continue the sweep with skip_completed=true" \
        in proc.stderr
    assert checksums(tmp_path / "s") == before


def test_per_invocation_keys_may_change_and_completed_jobs_are_not_touched(tmp_path):
    sweep(tmp_path, "s", "optimizer.lr=0.1,0.01", "epochs=2")
    jobs_before = {job: checksums(tmp_path / "s" / job) for job in ("0", "1")}
    proc = nnlab("train", "-m", "hydra.sweep.dir=s", "dataset.n_samples=200", "plots=false",
                 "optimizer.lr=0.1,0.01", "epochs=2", "skip_completed=true", "progress=true",
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 jobs, 2 completed (not run again)" in proc.stdout + proc.stderr
    # cpu_threads and progress are the continuation's own; nothing of the completed jobs changes,
    # their .hydra/ records and train.log included
    assert {job: checksums(tmp_path / "s" / job) for job in ("0", "1")} == jobs_before


@pytest.mark.parametrize("launcher", ["basic", "vectorized"])
def test_an_interrupted_sweep_continues_from_its_checkpoints_as_if_never_stopped(tmp_path, monkeypatch,
                                                                                 launcher):
    grid = (f"hydra/launcher={launcher}", "seed=0,1", "optimizer.lr=0.01,0.03", "epochs=5")
    sweep(tmp_path, "whole", *grid)
    interrupt_after(monkeypatch, 2)  # a real SIGINT while epoch 2's records are written
    stopped = sweep(tmp_path, "cut", *grid, code=128 + signal.SIGINT)
    monkeypatch.undo()
    printed = stopped.stderr.strip().splitlines()[-1].strip()
    assert printed.startswith("nnlab train -m ") and "skip_completed=true" in printed, stopped.stderr
    started = jobs(tmp_path / "cut")
    assert {summary(job)["status"] for job in started.values()} == {"interrupted"}

    words = shlex.split(printed)
    proc = nnlab(*words[1:], cwd=tmp_path)  # the command as printed
    assert proc.returncode == 0, proc.stderr[-3000:]
    whole, cut = jobs(tmp_path / "whole"), per_job(jobs(tmp_path / "cut"))
    assert whole.keys() == cut.keys() and len(cut) == 4
    for key, job in cut.items():
        assert summary(job)["status"] == "completed"
        assert summary(job).get("resumed_at_epochs") == ([2] if key in started else None)
        pd.testing.assert_frame_equal(metrics(job), metrics(whole[key]), rtol=1e-6)
    if launcher == "vectorized":  # the continued jobs trained as one stacked model again
        assert {summary(job)["vectorized"]["size"] for job in cut.values()} == {4}


def per_job(found: dict) -> dict:
    """Jobs by their overrides, without the continuation's own skip_completed=True."""
    return {tuple(o for o in key if not o.startswith("skip_completed=")): job for key, job in found.items()}


def test_a_job_stopped_before_its_first_checkpoint_starts_afresh(tmp_path, monkeypatch):
    interrupt_after(monkeypatch, 1)
    sweep(tmp_path, "s", "seed=0", "epochs=3", "checkpoint=false", code=128 + signal.SIGINT)
    monkeypatch.undo()
    proc = sweep(tmp_path, "s", "seed=0", "epochs=3", "checkpoint=false", "skip_completed=true")
    assert "1 start afresh" in proc.stdout + proc.stderr
    job = tmp_path / "s" / "0"
    assert summary(job)["status"] == "completed" and list(metrics(job)["epoch"]) == [1, 2, 3]
    assert summary(job / "attempts" / "1")["status"] == "interrupted"


def test_resume_of_a_sweep_folder_is_refused_and_leaves_nothing(tmp_path):
    sweep(tmp_path, "s", "seed=0,1", "epochs=1")
    before = checksums(tmp_path / "s")
    proc = nnlab("train", "resume=s", cwd=tmp_path)
    assert proc.returncode == 2
    assert "a sweep's folder" in proc.stderr and "skip_completed=true" in proc.stderr, proc.stderr
    assert checksums(tmp_path / "s") == before


def test_differences_leave_out_the_per_invocation_keys():
    from nnlab.train.continuation import differences

    recorded = {"epochs": 300, "progress": "auto", "dataset": {"name": "spiral", "root": "/a"}}
    new = {"epochs": 30, "progress": False, "dataset": {"name": "spiral", "root": "/b"}, "l1": 0.0}
    assert [key for key, _, _ in differences(recorded, new)] == ["epochs", "l1"]


def test_the_continue_command_keeps_the_overrides_and_quotes_them():
    from nnlab.train.continuation import continue_command

    line = continue_command("train", Path("/x/s"), ["hydra/launcher=vectorized", "hydra.sweep.dir=s"],
                            ["seed=range(3)", "skip_completed=false", "epochs=2"])
    assert line == ("nnlab train -m 'seed=range(3)' epochs=2 hydra/launcher=vectorized "
                    "hydra.sweep.dir=/x/s skip_completed=true")


def test_jobs_continuing_from_different_epochs_train_as_a_stack_per_epoch(tmp_path, monkeypatch):
    """A kill -9 leaves each job its own last.pt; here job 2 lost its checkpoints (it starts afresh)
    and job 3 never started: jobs 0-1 go on from epoch 3, jobs 2-3 from epoch 1, two stacks."""
    import shutil

    grid = ("hydra/launcher=vectorized", "seed=0,1", "optimizer.lr=0.01,0.03", "epochs=5")
    sweep(tmp_path, "whole", *grid)
    interrupt_after(monkeypatch, 2)
    sweep(tmp_path, "cut", *grid, code=128 + signal.SIGINT)
    monkeypatch.undo()
    shutil.rmtree(tmp_path / "cut" / "2" / "checkpoints")
    shutil.rmtree(tmp_path / "cut" / "3")
    proc = sweep(tmp_path, "cut", *grid, "skip_completed=true")
    assert "a stack for each (2 from epoch 3, 2 from epoch 1)" in proc.stdout + proc.stderr
    whole, cut = jobs(tmp_path / "whole"), per_job(jobs(tmp_path / "cut"))
    assert whole.keys() == cut.keys()
    for key, job in cut.items():
        assert summary(job)["status"] == "completed" and summary(job)["vectorized"]["size"] == 2
        pd.testing.assert_frame_equal(metrics(job), metrics(whole[key]), rtol=1e-6)
