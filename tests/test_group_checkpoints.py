"""A group's checkpoints (train/group_checkpoints.py) hold what each job's run alone writes: its
best epoch's weights and state in best.pt, its last epoch's in last.pt, also for a job that
stopped early while the rest of its group trained on."""

from __future__ import annotations

import torch

from nnlab.runs import load_checkpoint
from test_vectorized_launcher import TOY, jobs, metrics, summary, sweep


def _checkpoint(job, name):
    return load_checkpoint(job / "checkpoints" / name)


def test_best_and_last_hold_each_job_s_own_epochs_and_weights(tmp_path):
    # patience 1 with min_delta 10 stops after epoch 2 (nothing improves by 10); 100 never stops
    overrides = (*TOY, "epochs=4", "seed=0,1", "early_stopping.patience=1,100",
                 "early_stopping.min_delta=0,10")
    sweep(tmp_path, "basic", "basic", *overrides)
    sweep(tmp_path, "vec", "vectorized", *overrides)
    solo = jobs(tmp_path / "basic")
    statuses = []
    for key, job in jobs(tmp_path / "vec").items():
        alone = solo[key]
        assert summary(job)["status"] == summary(alone)["status"]
        statuses.append(summary(job)["status"])
        for name in ("best.pt", "last.pt"):
            ours, theirs = _checkpoint(job, name), _checkpoint(alone, name)
            assert ours.keys() == theirs.keys(), name
            assert ours["epoch"] == theirs["epoch"], (key, name)
            assert ours["metrics"]["epoch"] == ours["epoch"]
            assert ours["monitor"]["best_epoch"] == theirs["monitor"]["best_epoch"], (key, name)
            assert ours["monitor"]["bad_epochs"] == theirs["monitor"]["bad_epochs"], (key, name)
            for k, weights in theirs["model"].items():
                torch.testing.assert_close(ours["model"][k], weights, rtol=1e-4, atol=1e-5)
            assert ours["optimizer"]["param_groups"][0]["lr"] == theirs["optimizer"]["param_groups"][0]["lr"]
            for position, state in theirs["optimizer"]["state"].items():
                for k, v in state.items():
                    mine = ours["optimizer"]["state"][position][k]
                    torch.testing.assert_close(mine, v, rtol=1e-4, atol=1e-6)
        # metrics.csv holds at least the epochs of its last checkpoint
        assert metrics(job)["epoch"].max() >= _checkpoint(job, "last.pt")["epoch"]
    assert {"early_stopped", "completed"} <= set(statuses)  # some stopped while the rest trained on


def test_a_job_without_checkpoints_in_a_group_that_has_them_writes_none(tmp_path):
    sweep(tmp_path, "vec", "vectorized", *TOY, "seed=0", "checkpoint=true,false")
    found = {key: (job / "checkpoints").exists() for key, job in jobs(tmp_path / "vec").items()}
    assert sorted(found.values()) == [False, True]
