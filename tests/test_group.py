"""The vectorized launcher's grouping rule: which composed configs may train as one stacked model."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from nnlab.train.group import compatibility, plan

BASE = {"seed": 0, "epochs": 3, "batch_size": 32, "l1": 0.0, "plots": True, "checkpoint": True,
        "progress": "auto", "resume": None, "adversarial": None,
        "dataset": {"_target_": "nnlab.data.toys.make_toy", "name": "spiral", "seed": "${seed}"},
        "model": {"_target_": "nnlab.models.MLP", "hidden": [16], "init": "default"},
        "optimizer": {"_target_": "torch.optim.SGD", "lr": 0.1, "momentum": 0.0, "weight_decay": 0.0},
        "scheduler": {"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 30, "gamma": 0.1},
        "early_stopping": {"patience": None, "monitor": "auto", "min_delta": 0.0},
        "logger": {"_target_": None}, "hydra": {"job": {"num": 0}}}


def config(**changes):
    cfg = OmegaConf.create(BASE)
    for key, value in changes.items():
        OmegaConf.update(cfg, key.replace("__", "."), value, merge=False)
    return cfg


@pytest.mark.parametrize("change", [
    {"seed": 5}, {"optimizer__lr": 0.01}, {"optimizer__weight_decay": 1e-4}, {"l1": 1e-3},
    {"model__init": "xavier_uniform"}, {"scheduler__gamma": 0.5}, {"scheduler__step_size": 2},
    {"early_stopping__patience": 3}, {"early_stopping__min_delta": 0.1}, {"plots": False},
    {"checkpoint": False}, {"progress": False}, {"hydra__job__num": 7}, {"dataset__seed": 4},
], ids=lambda c: next(iter(c)).replace("__", "."))
def test_what_each_model_carries_does_not_split_a_group(change):
    assert compatibility(config(**change))[0] == compatibility(config())[0]


@pytest.mark.parametrize("change", [
    {"optimizer__momentum": 0.9}, {"optimizer___target_": "torch.optim.Adam"},
    {"model__hidden": [32]}, {"batch_size": 16}, {"epochs": 4}, {"dataset__name": "circle"},
    {"scheduler___target_": "torch.optim.lr_scheduler.ExponentialLR"},
    {"early_stopping__monitor": "val_acc"},
], ids=lambda c: next(iter(c)).replace("__", "."))
def test_anything_else_that_differs_makes_another_group(change):
    key, reason = compatibility(config(**change))
    assert reason is None and key != compatibility(config())[0]


@pytest.mark.parametrize(("change", "why"), [
    ({"resume": "outputs/run"}, "resume="), ({"adversarial": {"mix": 1.0}}, "adversarial training"),
    ({"optimizer___target_": "nnlab.models.playground.PlaygroundSGD"}, "not known to step linearly"),
    # they move momentum or betas too, which a stack never reads from a job's scheduler
    ({"scheduler": {"_target_": "torch.optim.lr_scheduler.OneCycleLR", "_partial_": True,
                    "max_lr": 0.1, "total_steps": 30}}, "OneCycleLR) is not one a stack follows"),
    ({"scheduler": {"_target_": "torch.optim.lr_scheduler.CyclicLR", "_partial_": True,
                    "base_lr": 0.01, "max_lr": 0.1}}, "CyclicLR) is not one a stack follows"),
])
def test_some_jobs_always_run_alone(change, why):
    key, reason = compatibility(config(**change))
    assert key is None and why in reason


def test_plan_groups_in_job_order_and_names_the_loners():
    configs = [config(seed=0), config(batch_size=16), config(seed=1), config(resume="x"), config(seed=2)]
    result = plan(configs)
    assert result.groups == [[0, 2, 4]]
    assert set(result.alone) == {1, 3}
    assert "no other job of the sweep shares its settings" in result.alone[1]
    assert [first for first, _ in result.order()] == [0, 1, 3]


@pytest.mark.parametrize("scheduler", [
    {}, {"_target_": None}, {"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 2},
    {"_target_": "torch.optim.lr_scheduler.ExponentialLR", "gamma": 0.9},
    {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "T_max": 3},
], ids=["none", "null", "step", "exponential", "cosine"])
def test_nnlabs_own_schedulers_group(scheduler):
    key, reason = compatibility(config(scheduler=scheduler))
    assert reason is None and key
