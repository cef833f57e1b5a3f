"""StackedTrainer against the loop's SoloTrainer: M models trained as one follow, model by model,
what each does alone, for every optimizer nnlab offers; their checkpoints hold what a solo run's do."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nnlab.data.batcher import TensorBatcher
from nnlab.data.toys import make_toy
from nnlab.losses import mse_onehot
from nnlab.models import MLP
from nnlab.train.engine import Batches, Hooks, Learner, Member, Monitor, fit, train_models
from nnlab.train.stack import StackedTrainer
from nnlab.train.steps import TrainStep

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_thread")

# (seed, lr, weight decay, l1, gamma): every per-model setting differs between the three
SETTINGS = [(0, 0.02, 0.0, 0.0, 0.5), (1, 0.01, 1e-3, 1e-3, 0.9), (2, 0.005, 1e-2, 0.0, 0.7)]
OPTIMIZERS = {
    "sgd momentum": lambda p, lr, wd: torch.optim.SGD(p, lr=lr * 10, momentum=0.9, weight_decay=wd),
    "sgd nesterov": lambda p, lr, wd: torch.optim.SGD(p, lr=lr * 10, momentum=0.9, nesterov=True,
                                                      weight_decay=wd),
    "adam": lambda p, lr, wd: torch.optim.Adam(p, lr=lr, weight_decay=wd),
    "adamw": lambda p, lr, wd: torch.optim.AdamW(p, lr=lr, weight_decay=wd),
    "rmsprop": lambda p, lr, wd: torch.optim.RMSprop(p, lr=lr / 10, weight_decay=wd),
    "adadelta": lambda p, lr, wd: torch.optim.Adadelta(p, lr=lr * 50, weight_decay=wd),
    "adagrad": lambda p, lr, wd: torch.optim.Adagrad(p, lr=lr * 5, lr_decay=0.01, weight_decay=wd,
                                                     initial_accumulator_value=0.1),
}


def _job(seed, lr, wd, l1, gamma, make_optimizer, toy=None):
    toy = toy or make_toy("spiral", n_samples=160, noise=0.1, val_fraction=0.25, seed=seed)
    torch.manual_seed(seed)
    model = MLP(toy.input_shape, toy.num_classes, hidden=[12, 12], activation="tanh", dropout=0.0)
    optimizer = make_optimizer(model.parameters(), lr, wd)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma)
    batches = Batches(TensorBatcher(toy.train, 16, CPU, shuffle=True, seed=seed),
                      {n: TensorBatcher(s, 4096, CPU, shuffle=False) for n, s in toy.splits().items()
                       if n != "train"})
    return Learner(model, optimizer, scheduler), l1, batches


def _alone(settings, make_optimizer, epochs=3, loss=F.cross_entropy, **kw):
    runs = []
    for s in settings:
        learner, l1, batches = _job(*s, make_optimizer, **kw)
        rows = []
        fit(learner, TrainStep(loss, l1=l1), loss, batches, range(1, epochs + 1),
            Monitor("val_loss"), Hooks(lambda row, improved, rows=rows: rows.append(row)))
        runs.append(rows)
    return runs


def _together(settings, make_optimizer, epochs=3, loss=F.cross_entropy, **kw):
    jobs = [_job(*s, make_optimizer, **kw) for s in settings]
    trainer = StackedTrainer([j[0] for j in jobs], [j[1] for j in jobs], loss,
                             [j[2] for j in jobs], CPU)
    runs = [[] for _ in jobs]
    members = [Member(Monitor("val_loss"), j[0].model, lambda row, improved, rows=rows: rows.append(row))
               for j, rows in zip(jobs, runs, strict=True)]
    endings = train_models(trainer, members, range(1, epochs + 1))
    return runs, endings, trainer, jobs


def _assert_close(alone, together):
    for solo_rows, group_rows in zip(alone, together, strict=True):
        assert len(solo_rows) == len(group_rows)
        for a, b in zip(solo_rows, group_rows, strict=True):
            for key, value in a.items():
                if key.endswith("_loss"):
                    assert b[key] == pytest.approx(value, rel=1e-5), key
                elif key.endswith("_acc"):
                    assert abs(b[key] - value) <= 1 / 40 + 1e-9, key
                elif key == "lr":
                    assert b[key] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_model_of_a_stack_trains_as_it_does_alone(name):
    alone = _alone(SETTINGS, OPTIMIZERS[name])
    together, endings, _, _ = _together(SETTINGS, OPTIMIZERS[name])
    assert [e.status for e in endings] == ["completed"] * 3
    _assert_close(alone, together)


@pytest.mark.parametrize("name", ["sgd momentum", "adam", "adagrad"])
def test_a_stack_trained_on_mse_follows_each_model_alone(name):
    # loss=mse: squared error of the softmax outputs, vmapped per model as cross entropy is
    alone = _alone(SETTINGS, OPTIMIZERS[name], loss=mse_onehot)
    together, endings, _, _ = _together(SETTINGS, OPTIMIZERS[name], loss=mse_onehot)
    assert [e.status for e in endings] == ["completed"] * 3
    _assert_close(alone, together)


def test_models_of_a_stack_may_share_their_data():
    # one dataset object for every model (as the launcher shares it): read without copies
    toy = make_toy("spiral", n_samples=160, noise=0.1, val_fraction=0.25, seed=7)
    alone = _alone(SETTINGS, OPTIMIZERS["adam"], toy=toy)
    together, _, trainer, _ = _together(SETTINGS, OPTIMIZERS["adam"], toy=toy)
    assert trainer.train_split.shared and all(s.shared for s in trainer.eval_splits.values())
    _assert_close(alone, together)


def test_a_stacked_model_checkpoint_is_the_one_a_solo_run_saves():
    alone_jobs = [_job(*s, OPTIMIZERS["sgd momentum"]) for s in SETTINGS]
    for learner, l1, batches in alone_jobs:
        fit(learner, TrainStep(F.cross_entropy, l1=l1), F.cross_entropy, batches, range(1, 3),
            Monitor("val_loss"))
    _, _, trainer, _ = _together(SETTINGS, OPTIMIZERS["sgd momentum"], epochs=2)
    for index, (learner, _, _) in enumerate(alone_jobs):
        saved = trainer.saved_state(index)
        solo_model, solo_opt = learner.model.state_dict(), learner.optimizer.state_dict()
        assert saved["model"].keys() == solo_model.keys()
        for key, value in solo_model.items():
            assert saved["model"][key].shape == value.shape
            torch.testing.assert_close(saved["model"][key], value, rtol=1e-4, atol=1e-6)
            assert saved["model"][key].untyped_storage().nbytes() == value.nbytes  # not the stack
        assert saved["optimizer"]["param_groups"] == solo_opt["param_groups"]
        assert saved["optimizer"]["state"].keys() == solo_opt["state"].keys()
        for position, state in solo_opt["state"].items():
            torch.testing.assert_close(saved["optimizer"]["state"][position]["momentum_buffer"],
                                       state["momentum_buffer"], rtol=1e-4, atol=1e-6)


def test_a_retired_model_is_frozen_and_the_others_go_on():
    jobs = [_job(*s, OPTIMIZERS["adam"]) for s in SETTINGS]
    trainer = StackedTrainer([j[0] for j in jobs], [j[1] for j in jobs], F.cross_entropy,
                             [j[2] for j in jobs], CPU)
    trainer.retire(1)
    frozen = {k: v.clone() for k, v in jobs[1][0].model.state_dict().items()}
    trainer.train_epoch(1, __import__("contextlib").nullcontext, None)
    for key, value in jobs[1][0].model.state_dict().items():
        assert torch.equal(value, frozen[key])
    assert not torch.equal(jobs[0][0].model.state_dict()["1.weight"], frozen["1.weight"])
