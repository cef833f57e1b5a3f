"""Models, activations, losses, the TensorBatcher and the fit loop (Monitor, early stopping,
divergence), all on CPU with tiny data."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnlab.data.batcher import TensorBatcher
from nnlab.data.dataset import Split
from nnlab.data.toys import make_toy
from nnlab.engine import Diverged, Monitor, evaluate, fit
from nnlab.errors import UserError
from nnlab.losses import l1_penalty, make_loss, mse_onehot
from nnlab.models import MLP, DeepStack
from nnlab.models.activations import ACTIVATIONS, LeCunTanh, make_activation
from nnlab.models.deep import INITS

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def _few_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def kinds(model):
    return [type(m) for m in model]


def linears(model):
    return [m for m in model if isinstance(m, nn.Linear)]


# --- activations -------------------------------------------------------------------------------


X = torch.linspace(-4, 4, 33)

EXPECTED_ACTIVATIONS = {
    "relu": lambda x: x.clamp(min=0),
    "tanh": torch.tanh,
    "sigmoid": lambda x: 1 / (1 + torch.exp(-x)),
    "leaky_relu": lambda x: torch.where(x > 0, x, 0.01 * x),
    "linear": lambda x: x,
    "lecun_tanh": lambda x: 1.7159 * torch.tanh(2 * x / 3) + 0.01 * x,
    "elu": lambda x: torch.where(x > 0, x, torch.exp(x) - 1),
    "gelu": lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
}


def test_every_activation_is_tested():
    assert set(ACTIVATIONS) == set(EXPECTED_ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(EXPECTED_ACTIVATIONS))
def test_activation_values(name):
    act = make_activation(name)
    assert isinstance(act, nn.Module)
    torch.testing.assert_close(act(X), EXPECTED_ACTIVATIONS[name](X))


def test_make_activation_returns_fresh_modules():
    assert make_activation("relu") is not make_activation("relu")


def test_lecun_tanh_by_hand():
    f = LeCunTanh()
    for x in (-3.0, -1.0, 0.0, 0.5, 1.0, 10.0):
        expected = 1.7159 * math.tanh(2 * x / 3) + 0.01 * x
        assert f(torch.tensor([x])).item() == pytest.approx(expected, rel=1e-5, abs=1e-6)
    # f(+-1) ~ +-1: the point of LeCun's scaling
    assert f(torch.tensor([1.0])).item() == pytest.approx(1.0, abs=0.02)
    assert f(torch.tensor([-1.0])).item() == pytest.approx(-1.0, abs=0.02)


def test_lecun_tanh_keeps_a_gradient_where_tanh_saturates():
    x = torch.tensor([30.0, -30.0], requires_grad=True)
    LeCunTanh()(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.01, 0.01]), rtol=1e-3, atol=1e-6)


def test_unknown_activation_is_a_user_error():
    with pytest.raises(UserError, match=r"model\.activation.*did you mean 'relu'"):
        make_activation("rellu")


# --- MLP ---------------------------------------------------------------------------------------


def test_mlp_without_hidden_layers_is_one_linear_layer():
    torch.manual_seed(0)
    model = MLP((1, 2, 3), 4, hidden=[])
    assert kinds(model) == [nn.Flatten, nn.Linear]
    (layer,) = linears(model)
    assert (layer.in_features, layer.out_features) == (6, 4)
    x = torch.randn(5, 1, 2, 3)
    torch.testing.assert_close(model(x), x.reshape(5, 6) @ layer.weight.T + layer.bias)


def test_mlp_layers_without_batchnorm_or_dropout():
    model = MLP((2,), 3, hidden=[4, 5], activation="tanh")
    assert kinds(model) == [nn.Flatten, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert [(m.in_features, m.out_features) for m in linears(model)] == [(2, 4), (4, 5), (5, 3)]


def test_mlp_layers_with_batchnorm_and_dropout():
    model = MLP((2,), 3, hidden=[4, 5], activation="relu", dropout=0.25, batchnorm=True)
    block = [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout]
    assert kinds(model) == [nn.Flatten, *block, *block, nn.Linear]
    assert [m.num_features for m in model if isinstance(m, nn.BatchNorm1d)] == [4, 5]
    assert all(m.p == 0.25 for m in model if isinstance(m, nn.Dropout))
    assert model(torch.randn(8, 2)).shape == (8, 3)


def test_mlp_uses_the_chosen_activation():
    model = MLP((2,), 2, hidden=[3], activation="lecun_tanh")
    assert sum(isinstance(m, LeCunTanh) for m in model) == 1


def test_mlp_accepts_a_tuple_of_widths():
    assert len(linears(MLP((2,), 2, hidden=(3, 3, 3)))) == 4


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"hidden": 16}, "model.hidden"),
        ({"hidden": "16"}, "model.hidden"),
        ({"hidden": None}, "model.hidden"),
        ({"hidden": [0]}, "model.hidden"),
        ({"hidden": [8, -1]}, "model.hidden"),
        ({"hidden": [2.5]}, "model.hidden"),
        ({"hidden": [True]}, "model.hidden"),
        ({"dropout": 1.0}, "model.dropout"),
        ({"dropout": -0.1}, "model.dropout"),
        ({"activation": "relux"}, "model.activation"),
        ({"hidden": [], "activation": "nope"}, "model.activation"),  # checked without hidden too
    ],
)
def test_mlp_bad_arguments(kwargs, key):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        MLP((2,), 2, **kwargs)


# --- DeepStack ---------------------------------------------------------------------------------


def test_deep_stack_has_depth_hidden_layers_plus_output():
    model = DeepStack((1, 2, 2), 3, depth=4, width=8, activation="tanh")
    lin = linears(model)
    assert len(lin) == 5
    assert [(m.in_features, m.out_features) for m in lin] == [(4, 8)] + [(8, 8)] * 3 + [(8, 3)]
    assert sum(isinstance(m, nn.Tanh) for m in model) == 4
    assert isinstance(model[0], nn.Flatten) and isinstance(model[-1], nn.Linear)
    assert model(torch.randn(6, 1, 2, 2)).shape == (6, 3)


def test_deep_stack_default_activation_is_sigmoid():
    model = DeepStack((2,), 2, depth=2, width=4)
    assert sum(isinstance(m, nn.Sigmoid) for m in model) == 2


@pytest.mark.parametrize("init", sorted(INITS))
def test_deep_stack_init_options(init):
    torch.manual_seed(0)
    model = DeepStack((2,), 2, depth=3, width=16, activation="relu", init=init)
    out = model(torch.randn(4, 2))
    assert out.shape == (4, 2) and torch.isfinite(out).all()
    biases = torch.cat([m.bias for m in linears(model)])
    if init == "default":
        assert (biases != 0).all()
    else:
        assert (biases == 0).all()


# Standard deviation each init gives a fan_in x fan_out weight matrix.
INIT_STD = {
    "default": lambda fi, fo: 1 / math.sqrt(3 * fi),  # uniform(+-1/sqrt(fan_in))
    "xavier_uniform": lambda fi, fo: math.sqrt(2 / (fi + fo)),
    "xavier_normal": lambda fi, fo: math.sqrt(2 / (fi + fo)),
    "kaiming_uniform": lambda fi, fo: math.sqrt(2 / fi),
    "kaiming_normal": lambda fi, fo: math.sqrt(2 / fi),
    "lecun_normal": lambda fi, fo: 1 / math.sqrt(fi),
}


@pytest.mark.parametrize("init", sorted(INITS))
def test_deep_stack_init_scales_the_weights(init):
    assert set(INIT_STD) == set(INITS)
    torch.manual_seed(0)
    model = DeepStack((2,), 2, depth=2, width=200, init=init)
    w = linears(model)[1].weight  # the 200 x 200 hidden layer
    assert w.std().item() == pytest.approx(INIT_STD[init](200, 200), rel=0.05)
    assert abs(w.mean().item()) < 0.01


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"depth": 0}, "model.depth"),
        ({"depth": -2}, "model.depth"),
        ({"depth": 2.0}, "model.depth"),
        ({"depth": True}, "model.depth"),
        ({"width": 0}, "model.width"),
        ({"width": "64"}, "model.width"),
        ({"init": "xavier"}, "model.init"),
        ({"init": "he"}, "model.init"),
        ({"activation": "sigmoidd"}, "model.activation"),
    ],
)
def test_deep_stack_bad_arguments(kwargs, key):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        DeepStack((2,), 2, **{"depth": 2, "width": 4, **kwargs})


# --- losses ------------------------------------------------------------------------------------


LOGITS = [[1.0, 2.0, 0.0], [0.5, -1.0, 3.0]]
TARGET = [1, 2]


def _softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_mse_onehot_by_hand():
    per_row = []
    for row, t in zip(LOGITS, TARGET, strict=True):
        p = _softmax(row)
        per_row.append(sum((p[k] - (1.0 if k == t else 0.0)) ** 2 for k in range(3)))
    expected = sum(per_row) / len(per_row)  # summed over classes, averaged over the batch
    got = mse_onehot(torch.tensor(LOGITS), torch.tensor(TARGET))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert make_loss("mse") is mse_onehot


def test_mse_onehot_is_zero_for_confident_right_answers_and_two_for_wrong_ones():
    logits = torch.tensor([[100.0, 0.0], [0.0, 100.0]])
    assert mse_onehot(logits, torch.tensor([0, 1])).item() == pytest.approx(0.0, abs=1e-6)
    assert mse_onehot(logits, torch.tensor([1, 0])).item() == pytest.approx(2.0, abs=1e-6)


def test_cross_entropy_by_hand():
    pairs = zip(LOGITS, TARGET, strict=True)
    expected = sum(-math.log(_softmax(row)[t]) for row, t in pairs) / 2
    got = make_loss("cross_entropy")(torch.tensor(LOGITS), torch.tensor(TARGET))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_unknown_loss_is_a_user_error():
    with pytest.raises(UserError, match=r"^loss: .*'mse2'.*did you mean 'mse'"):
        make_loss("mse2")


def test_l1_penalty_counts_only_weight_matrices_and_kernels():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 1),
                          nn.Conv2d(1, 2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]]))  # |.| = 7.5
        model[0].bias.fill_(100.0)
        model[1].weight.fill_(50.0)
        model[1].bias.fill_(-50.0)
        model[3].weight.copy_(torch.tensor([[-0.25, 0.25, 1.0]]))  # |.| = 1.5
        model[3].bias.fill_(-100.0)
        model[4].weight.fill_(-0.5)  # 2*1*2*2 = 8 entries -> 4.0
        model[4].bias.fill_(9.0)
    penalty = l1_penalty(model)
    assert penalty.item() == pytest.approx(7.5 + 1.5 + 4.0)
    penalty.backward()
    assert model[0].weight.grad is not None and model[0].bias.grad is None
    torch.testing.assert_close(model[3].weight.grad, torch.tensor([[-1.0, 1.0, 1.0]]))


# --- TensorBatcher -----------------------------------------------------------------------------


def _split(n):
    return Split(torch.arange(n, dtype=torch.float32).unsqueeze(1) * 10, torch.arange(n))


def _epoch(batcher):
    return [(x.clone(), y.clone()) for x, y in batcher]


@pytest.mark.parametrize("shuffle", [True, False])
def test_batcher_covers_every_sample_once_and_keeps_the_last_partial_batch(shuffle):
    batcher = TensorBatcher(_split(10), 3, CPU, shuffle=shuffle, seed=0)
    assert len(batcher) == 4
    for _ in range(2):
        batches = _epoch(batcher)
        assert [len(y) for _, y in batches] == [3, 3, 3, 1]
        ys = torch.cat([y for _, y in batches])
        assert sorted(ys.tolist()) == list(range(10))
        for x, y in batches:  # inputs stay with their labels
            assert torch.equal(x[:, 0], y.float() * 10)


def test_batcher_without_shuffle_keeps_the_order():
    ys = torch.cat([y for _, y in TensorBatcher(_split(7), 2, CPU, shuffle=False)])
    assert ys.tolist() == list(range(7))


def test_batcher_shuffles_reproducibly():
    a = TensorBatcher(_split(20), 4, CPU, shuffle=True, seed=5)
    b = TensorBatcher(_split(20), 4, CPU, shuffle=True, seed=5)
    c = TensorBatcher(_split(20), 4, CPU, shuffle=True, seed=6)
    order = [torch.cat([y for _, y in _epoch(t)]).tolist() for t in (a, b, c)]
    assert order[0] == order[1]
    assert order[0] != order[2]
    assert order[0] != list(range(20))
    # the next epoch draws a new order, again the same for the same seed
    again = [torch.cat([y for _, y in _epoch(t)]).tolist() for t in (a, b)]
    assert again[0] == again[1] != order[0]


@pytest.mark.parametrize("batch_size", [10, 11, 1000])
def test_batcher_batch_at_least_n_is_full_batch(batch_size):
    batcher = TensorBatcher(_split(10), batch_size, CPU, shuffle=True)
    batches = _epoch(batcher)
    assert len(batcher) == 1 and len(batches) == 1
    assert sorted(batches[0][1].tolist()) == list(range(10))


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


def _fit(model, opt, train, evals, epochs, monitor, rows, **kwargs):
    return fit(model, opt, kwargs.pop("scheduler", None), kwargs.pop("loss_fn", F.cross_entropy),
               train, evals, epochs, monitor,
               lambda row, improved: rows.append((row, improved)), **kwargs)


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

    fit(model, opt, None, F.cross_entropy, train, {"test": TensorBatcher(toy.test, 1000, CPU,
        shuffle=False)}, 2, Monitor("test_loss"), after_epoch)
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
        fit(model, opt, None, F.cross_entropy, train, evals, 10, Monitor("val_loss"),
            poison_after_epoch_2)
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
        fit(model, opt, None, loss_fn, train, {}, 3, Monitor("train_loss"), lambda r, i: None)
    assert (info.value.epoch, info.value.step) == (1, len(train))
    assert info.value.value == math.inf


@pytest.mark.parametrize("dropout", ["abc", None, True])
def test_mlp_non_numeric_dropout_is_a_user_error(dropout):
    with pytest.raises(UserError, match="model.dropout"):
        MLP((2,), 2, hidden=[4], dropout=dropout)


def test_monitor_never_takes_nan_as_best():
    m = Monitor("val_loss")
    assert [m.update(e, v) for e, v in enumerate([float("nan"), 1.0, 0.5, float("nan")], 1)] == [
        False, True, True, False]
    assert m.best == 0.5 and m.best_epoch == 3


def test_non_resident_batcher_gives_the_same_batches():
    """The path for splits too big for GPU memory: uint8 kept on the host, converted per batch."""
    x = torch.randint(0, 256, (50, 1, 4, 4), dtype=torch.uint8)
    split = Split(x, torch.arange(50) % 3)
    kept = TensorBatcher(split, 16, torch.device("cpu"), shuffle=True, seed=4, resident=True)
    streamed = TensorBatcher(split, 16, torch.device("cpu"), shuffle=True, seed=4, resident=False)
    assert streamed.x.dtype == torch.uint8 and kept.x.dtype == torch.float32
    for (xa, ya), (xb, yb) in zip(kept, streamed, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert xb.dtype == torch.float32 and xb.max() <= 1
