"""The fit loop on CPU with tiny data: Monitor, early stopping, divergence, the training step
(L1, adversarial mix), schedules."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nnlab.data.batcher import TensorBatcher
from nnlab.data.toys import make_toy
from nnlab.losses import l1_penalty, mse_onehot
from nnlab.models import MLP
from nnlab.train.engine import Batches, Diverged, Hooks, Learner, Monitor, evaluate, fit
from nnlab.train.steps import TrainStep

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: threads only contend


# --- Monitor -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "higher"),
    [("val_acc", True), ("train_acc", True), ("test_acc", True),
     ("val_loss", False), ("train_loss", False), ("test_loss", False)],
)
def test_monitor_direction(metric, higher):
    assert Monitor(metric).higher_is_better is higher


def test_monitor_tracks_the_lowest_loss():
    m = Monitor("val_loss")
    assert [m.update(e, v) for e, v in enumerate([1.0, 0.9, 0.95, 0.8, 0.8], start=1)] == [
        True, True, False, True, False]
    assert (m.best, m.best_epoch, m.bad_epochs) == (0.8, 4, 1)


def test_monitor_tracks_the_highest_accuracy():
    m = Monitor("val_acc")
    assert [m.update(e, v) for e, v in enumerate([0.5, 0.7, 0.6, 0.9], start=1)] == [
        True, True, False, True]
    assert (m.best, m.best_epoch) == (0.9, 4)


def test_monitor_min_delta():
    m = Monitor("train_loss", min_delta=0.1)
    assert m.update(1, 1.0)
    assert not m.update(2, 0.95)  # better, but by less than min_delta
    assert m.update(3, 0.85)
    assert (m.best, m.best_epoch) == (0.85, 3)


def test_monitor_patience():
    m = Monitor("val_acc", patience=2)
    m.update(1, 0.5)
    m.update(2, 0.4)
    assert not m.should_stop
    m.update(3, 0.6)  # an improvement resets the count
    m.update(4, 0.6)
    assert not m.should_stop
    m.update(5, 0.1)
    assert m.should_stop


def test_monitor_without_patience_never_stops():
    m = Monitor("val_loss")
    m.update(1, 1.0)
    for epoch in range(2, 50):
        m.update(epoch, 2.0)
    assert m.bad_epochs == 48 and not m.should_stop


# --- fit ---------------------------------------------------------------------------------------


@pytest.fixture
def toy():
    return make_toy("gauss", n_samples=160, noise=0.0, val_fraction=0.25, seed=0)


def _setup(toy, lr=0.05, optimizer=torch.optim.Adam, activation="tanh", shuffle=True):
    torch.manual_seed(0)
    model = MLP(toy.input_shape, toy.num_classes, hidden=[8], activation=activation)
    opt = optimizer(model.parameters(), lr=lr)
    train = TensorBatcher(toy.train, 16, CPU, shuffle=shuffle, seed=0)
    evals = {name: TensorBatcher(split, 1000, CPU, shuffle=False)
             for name, split in toy.splits().items() if name != "train"}
    return model, opt, train, evals


def _fit(model, opt, train, evals, epochs, monitor, rows, scheduler=None, loss_fn=F.cross_entropy,
         l1=0.0, start_epoch=1):
    return fit(Learner(model, opt, scheduler), TrainStep(loss_fn, l1=l1), loss_fn,
               Batches(train, evals), range(start_epoch, epochs + 1), monitor,
               Hooks(on_epoch_end=lambda row, improved: rows.append((row, improved))))


def test_fit_reduces_the_loss_and_reports_rows(toy):
    model, opt, train, evals = _setup(toy)
    rows = []
    status = _fit(model, opt, train, evals, 6, Monitor("val_loss"), rows)
    assert status == "completed"
    assert [r["epoch"] for r, _ in rows] == [1, 2, 3, 4, 5, 6]
    expected_keys = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss",
                     "test_acc", "lr", "seconds"}
    for row, improved in rows:
        assert set(row) == expected_keys
        assert isinstance(improved, bool)
        assert 0.0 <= row["train_acc"] <= 1.0 and row["seconds"] >= 0
        assert row["lr"] == 0.05
    first, last = rows[0][0], rows[-1][0]
    assert last["train_loss"] < 0.5 * first["train_loss"]
    assert last["val_loss"] < first["val_loss"]
    assert last["test_acc"] > 0.9
    # the reported test metrics are those of the final model
    loss, acc = evaluate(model, evals["test"], F.cross_entropy)
    assert (loss, acc) == pytest.approx((last["test_loss"], last["test_acc"]))


def test_fit_with_mse_loss_also_learns(toy):
    model, opt, train, evals = _setup(toy)
    rows = []
    _fit(model, opt, train, evals, 4, Monitor("train_loss"), rows, loss_fn=mse_onehot)
    assert rows[-1][0]["train_loss"] < rows[0][0]["train_loss"]


def test_fit_improved_flag_follows_the_monitor(toy):
    model, opt, train, evals = _setup(toy)
    rows = []
    monitor = Monitor("val_acc")
    _fit(model, opt, train, evals, 4, monitor, rows)
    best = max(r["val_acc"] for r, _ in rows)
    assert monitor.best == best
    assert rows[monitor.best_epoch - 1][0]["val_acc"] == best
    assert rows[0][1] is True
    running = -1.0
    for row, improved in rows:
        assert improved == (row["val_acc"] > running)
        running = max(running, row["val_acc"])


def test_fit_stops_early_when_nothing_improves(toy):
    # lr = 0: every epoch has the same losses, so only epoch 1 counts as an improvement
    model, opt, train, evals = _setup(toy, lr=0.0, optimizer=torch.optim.SGD)
    rows = []
    status = _fit(model, opt, train, evals, 20, Monitor("val_loss", patience=2), rows)
    assert status == "early_stopped"
    assert [r["epoch"] for r, _ in rows] == [1, 2, 3]
    assert [improved for _, improved in rows] == [True, False, False]


def test_fit_trains_in_training_mode_and_evaluates_in_eval_mode(toy):
    torch.manual_seed(0)
    model = MLP(toy.input_shape, 2, hidden=[4], batchnorm=True)
    bn = model[2]
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    train = TensorBatcher(toy.train, 16, CPU, shuffle=True)
    seen = []

    def after_epoch(row, improved):
        seen.append(bn.running_mean.clone())

    fit(Learner(model, opt), TrainStep(F.cross_entropy), F.cross_entropy,
        Batches(train, {"test": TensorBatcher(toy.test, 1000, CPU, shuffle=False)}), range(1, 3),
        Monitor("test_loss"), Hooks(after_epoch))
    # batchnorm updates its running statistics only in training mode, on training batches
    assert not torch.equal(seen[0], torch.zeros(4))
    assert not torch.equal(seen[1], seen[0])
    # evaluation must not touch them: one more evaluate() leaves them as they are
    evaluate(model, TensorBatcher(toy.test, 1000, CPU, shuffle=False), F.cross_entropy)
    assert torch.equal(bn.running_mean, seen[1])
    assert not model.training


def test_fit_without_patience_runs_every_epoch(toy):
    model, opt, train, evals = _setup(toy, lr=0.0, optimizer=torch.optim.SGD)
    rows = []
    status = _fit(model, opt, train, evals, 4, Monitor("val_loss"), rows)
    assert status == "completed" and len(rows) == 4


def test_fit_starts_at_start_epoch(toy):
    model, opt, train, evals = _setup(toy)
    rows = []
    status = _fit(model, opt, train, evals, 5, Monitor("val_loss"), rows, start_epoch=4)
    assert status == "completed"
    assert [r["epoch"] for r, _ in rows] == [4, 5]


def test_fit_records_the_lr_used_before_the_scheduler_steps(toy):
    model, opt, train, evals = _setup(toy, lr=0.1, optimizer=torch.optim.SGD)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    rows = []
    _fit(model, opt, train, evals, 3, Monitor("val_loss"), rows, scheduler=scheduler)
    assert [r["lr"] for r, _ in rows] == pytest.approx([0.1, 0.05, 0.025])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_fit_train_loss_leaves_out_the_l1_term(toy):
    model, opt, train, evals = _setup(toy, lr=0.0, optimizer=torch.optim.SGD)
    rows = []
    _fit(model, opt, train, evals, 1, Monitor("train_loss"), rows, l1=10.0)
    data_loss, _ = evaluate(model, TensorBatcher(toy.train, 1000, CPU, shuffle=False),
                            F.cross_entropy)
    assert rows[0][0]["train_loss"] == pytest.approx(data_loss, rel=1e-5)
    assert 10.0 * l1_penalty(model).item() > 1.0  # the penalty would have shown


def test_fit_l1_shrinks_the_weights(toy):
    norms = {}
    for l1 in (0.0, 0.2):
        model, opt, train, evals = _setup(toy, lr=0.05, optimizer=torch.optim.SGD)
        _fit(model, opt, train, evals, 3, Monitor("train_loss"), [], l1=l1)
        norms[l1] = l1_penalty(model).item()
    assert norms[0.2] < 0.8 * norms[0.0]


def test_fit_huge_lr_diverges(toy):
    # relu (unbounded, unlike tanh) lets the activations overflow float32 within a few steps
    model, opt, train, evals = _setup(toy, lr=1e30, optimizer=torch.optim.SGD, activation="relu")
    rows = []
    with pytest.raises(Diverged) as info:
        _fit(model, opt, train, evals, 5, Monitor("val_loss"), rows)
    ex = info.value
    assert ex.epoch == 1 and 1 <= ex.step <= len(train)
    assert not math.isfinite(ex.value)
    assert f"at epoch {ex.epoch}, step {ex.step}" in str(ex)
    assert rows == []  # the diverged epoch is not reported as a row


def test_fit_overflowing_l1_term_is_divergence(toy):
    # the data loss is finite, but l1 * penalty overflows float32: the step's total loss counts
    model, opt, train, evals = _setup(toy, lr=0.05, optimizer=torch.optim.SGD)
    with pytest.raises(Diverged) as info:
        _fit(model, opt, train, evals, 2, Monitor("train_loss"), [], l1=1e38)
    assert (info.value.epoch, info.value.step, info.value.value) == (1, 1, math.inf)


def test_fit_nan_input_names_the_epoch_and_step(toy):
    model, opt, train, evals = _setup(toy, shuffle=False)
    rows = []

    def poison_after_epoch_2(row, improved):
        rows.append(row)
        if row["epoch"] == 2:
            train.x[37, 0] = float("nan")  # batch size 16: in the 3rd batch

    with pytest.raises(Diverged, match=r"training loss became nan at epoch 3, step 3") as info:
        fit(Learner(model, opt), TrainStep(F.cross_entropy), F.cross_entropy, Batches(train, evals),
            range(1, 11), Monitor("val_loss"), Hooks(poison_after_epoch_2))
    assert (info.value.epoch, info.value.step) == (3, 3)
    assert math.isnan(info.value.value)
    assert [r["epoch"] for r in rows] == [1, 2]  # the epochs before it were recorded


def test_fit_infinite_loss_is_divergence_too(toy):
    model, opt, train, evals = _setup(toy, shuffle=False)

    def loss_fn(logits, y):
        loss = F.cross_entropy(logits, y)
        return loss * float("inf") if len(y) < 16 else loss  # only the last, partial batch

    assert len(toy.train) % 16 != 0
    with pytest.raises(Diverged) as info:
        fit(Learner(model, opt), TrainStep(loss_fn), loss_fn, Batches(train), range(1, 4),
            Monitor("train_loss"))
    assert (info.value.epoch, info.value.step) == (1, len(train))
    assert info.value.value == math.inf


def test_monitor_never_takes_nan_as_best():
    m = Monitor("val_loss")
    assert [m.update(e, v) for e, v in enumerate([float("nan"), 1.0, 0.5, float("nan")], 1)] == [
        False, True, True, False]
    assert m.best == 0.5 and m.best_epoch == 3




# --- the training step -------------------------------------------------------------------------


class _Shift:
    """A stand-in attack: adds 0.5 to every input, and records the generator it was handed."""

    def __init__(self):
        self.generators = []

    def __call__(self, model, x, y, generator=None):
        from nnlab.attacks.base import AttackResult

        self.generators.append(generator)
        return AttackResult(x + 0.5, torch.ones(len(x), dtype=torch.long))


def test_train_step_mixes_the_adversarial_and_the_clean_loss(toy):
    torch.manual_seed(0)
    model = MLP(toy.input_shape, toy.num_classes, hidden=[4])
    x, y = toy.train.x[:16], toy.train.y[:16]
    attack = _Shift()
    step = TrainStep(F.cross_entropy, adversary=attack, mix=0.25, seed=3)
    result = step(model, x, y)
    clean, attacked = F.cross_entropy(model(x), y), F.cross_entropy(model(x + 0.5), y)
    assert result.data_loss.item() == pytest.approx(0.25 * attacked.item() + 0.75 * clean.item())
    assert torch.equal(result.logits, model(x + 0.5))  # accuracy is that of the attacked batch
    assert result.loss is result.data_loss  # no L1 term asked for
    assert attack.generators == [step.generator]  # the attack draws from the step's generator


def test_train_step_adds_the_l1_term_to_the_optimised_loss_only(toy):
    model = MLP(toy.input_shape, toy.num_classes, hidden=[4])
    result = TrainStep(F.cross_entropy, l1=0.1)(model, toy.train.x, toy.train.y)
    assert result.loss.item() == pytest.approx(result.data_loss.item() + 0.1 * l1_penalty(model).item())


def test_train_step_state_restores_the_attack_draws():
    from nnlab.attacks import PGD

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x, y = torch.rand(8, 1, 4, 4), torch.arange(8) % 3
    pgd = PGD(eps=0.1, alpha=0.05, steps=0)  # no steps: the result is the random start
    step = TrainStep(F.cross_entropy, adversary=pgd, seed=7)
    step(model, x, y)
    saved = step.state_dict()
    later = step(model, x, y).logits
    again = TrainStep(F.cross_entropy, adversary=pgd, seed=7)
    again.load_state_dict(saved)
    assert torch.equal(again(model, x, y).logits, later)
    assert TrainStep(F.cross_entropy).state_dict() == {}  # nothing random without an attack
