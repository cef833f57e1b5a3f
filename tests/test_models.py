"""Models and activations (MLP, DeepStack), on CPU with tiny inputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from conftest import nnlab, one_error_line, train
from nnlab.models import MLP, DeepStack
from nnlab.models.activations import ACTIVATIONS, LeCunTanh, make_activation
from nnlab.models.deep import INITS

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: threads only contend


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


# --- MLP: dropout and batchnorm per hidden layer (seeds/004's report MLP) ----------------------


def test_mlp_takes_dropout_and_batchnorm_per_layer():
    model = MLP((4,), 3, hidden=[8, 6, 5], activation="relu", dropout=[0.5, 0.0, 0.25],
                batchnorm=[False, True, False])
    kinds = [type(m) for m in model]
    assert kinds == [nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.BatchNorm1d, nn.ReLU,
                     nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert [m.p for m in model if isinstance(m, nn.Dropout)] == [0.5, 0.25]
    assert [m.num_features for m in model if isinstance(m, nn.BatchNorm1d)] == [6]


# --- a model of the user's own: model=custom (nnlab.models.custom) ------------------------------

USER_MODULE = '''
import math

from torch import nn

received = []  # the keyword arguments of every TinyNet made, for the test to read


class TinyNet(nn.Module):
    def __init__(self, input_shape, num_classes, width):
        super().__init__()
        received.append({"input_shape": input_shape, "num_classes": num_classes, "width": width})
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(),
                                 nn.Linear(width, num_classes))

    def forward(self, x):
        return self.net(x)


class Wide(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.out = nn.Linear(math.prod(input_shape), num_classes + 1)

    def forward(self, x):
        return self.out(x.flatten(1))


def not_a_module(input_shape, num_classes):
    return [input_shape, num_classes]
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """The name of a module of the user's own, written as NAME.py into tmp_path (the folder nnlab
    runs from), as a user of `model=custom` would; sys.path and sys.modules as before afterwards."""
    import sys

    name = f"mymodels_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.setattr(sys, "path", list(sys.path))  # model=custom puts tmp_path there
    yield name
    sys.modules.pop(name, None)


def test_a_custom_model_from_the_users_file_trains_with_only_the_keys_given(tmp_path, user_module):
    """A file in the folder nnlab runs from is importable (the console script's sys.path does not
    hold that folder), and the class gets input_shape, num_classes and the one key added."""
    import json
    import sys

    train(tmp_path, "model=custom", f"model._target_={user_module}.TinyNet", "+model.width=5", "epochs=2")
    assert sys.modules[user_module].received == [{"input_shape": [2], "num_classes": 2, "width": 5}]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["model"] == "TinyNet"
    assert summary["n_params"] == 2 * 5 + 5 + 5 * 2 + 2


def _refused(tmp_path, *overrides) -> str:
    """The one error line of a `nnlab train` that must fail before it writes anything."""
    proc = train(tmp_path, *overrides, check=False)
    assert proc.returncode == 2, proc.stderr
    assert not (tmp_path / "run").exists()  # the run folder Hydra made is gone again
    return one_error_line(proc)


def test_a_constructor_that_rejects_an_argument_is_one_line_and_no_folder(tmp_path, user_module):
    """The way that worked before model=custom (an mlp node with another _target_) hands the mlp's
    keys over: the line names the class and the argument, and says what model=custom passes."""
    line = _refused(tmp_path, f"model._target_={user_module}.TinyNet")
    assert line == (f"nnlab: error: model.hidden: {user_module}.TinyNet does not take 'hidden' (it takes: "
                    "input_shape, num_classes, width); leave model.hidden out (model=custom passes "
                    "only input_shape, num_classes and the model.* keys you add with +model.KEY=VALUE)")
    line = _refused(tmp_path, "model=custom", f"model._target_={user_module}.TinyNet")
    assert line == (f"nnlab: error: model: {user_module}.TinyNet needs 'width', which the config does not "
                    "give; add +model.width=VALUE (or give 'width' a default)")
    line = _refused(tmp_path, "model=custom", f"model._target_={user_module}.Wide", "+model.width=3")
    assert f"model.width: {user_module}.Wide does not take 'width' (it takes: input_shape, num_classes)" \
        in line


def test_a_target_that_does_not_import_is_one_line_and_no_folder(tmp_path, user_module):
    line = _refused(tmp_path, "model=custom", "model._target_=nosuchmodule.TinyNet")
    assert line == (f"nnlab: error: model._target_=nosuchmodule.TinyNet: no module 'nosuchmodule' in "
                    f"{tmp_path} or the installed packages; put nosuchmodule.py in the folder you run "
                    "nnlab from, or add its folder to PYTHONPATH")
    line = _refused(tmp_path, "model=custom", f"model._target_={user_module[:-1]}.TinyNet")
    assert line.endswith(f"no module '{user_module[:-1]}' in {tmp_path} or the installed packages; put "
                         f"{user_module[:-1]}.py in the folder you run nnlab from, or add its folder to "
                         f"PYTHONPATH (did you mean '{user_module}'?)")
    line = _refused(tmp_path, "model=custom", f"model._target_={user_module}.TinyNte")
    assert line.endswith(f"has no 'TinyNte' (did you mean '{user_module}.TinyNet'?)")


def test_what_a_custom_model_returns_is_checked(tmp_path, user_module):
    line = _refused(tmp_path, "model=custom", f"model._target_={user_module}.Wide")
    assert line == (f"nnlab: error: model: {user_module}.Wide returned shape [2, 3] for a batch of shape "
                    "[2, 2]; it must return logits of shape [batch, num_classes] = [2, 2]")
    line = _refused(tmp_path, "model=custom", f"model._target_={user_module}.not_a_module")
    assert line == (f"nnlab: error: model: {user_module}.not_a_module returned a value of type list, not "
                    "a torch.nn.Module")


def test_an_image_model_of_the_users_own_is_wrapped_to_take_pixels(tmp_path, user_module, monkeypatch):
    """As the README says: its input is normalised by the dataset's mean and std, and the model
    nnlab trains and attacks (Normalized) takes pixels in [0, 1]."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from nnlab.models import Normalized, build_model

    monkeypatch.chdir(tmp_path)
    data = SimpleNamespace(input_shape=(1, 2, 2), num_classes=3, is_image=True, mean=[0.5], std=[0.25])
    node = OmegaConf.create({"_target_": f"{user_module}.TinyNet", "width": 4})
    model = build_model(node, data)
    assert isinstance(model, Normalized) and type(model.net).__name__ == "TinyNet"
    seen = []
    model.net.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    assert model(torch.full((1, 1, 2, 2), 0.75)).shape == (1, 3)
    torch.testing.assert_close(seen[0], torch.full((1, 1, 2, 2), 1.0))  # (0.75 - 0.5) / 0.25


def test_a_run_of_a_custom_model_is_attacked_from_the_folder_it_ran_in(tmp_path, user_module, fake_data):
    """`nnlab attack` rebuilds the run's model from its config: the user's module is imported from
    the folder again (here in a process that has forgotten it)."""
    import sys

    train(tmp_path, "model=custom", f"model._target_={user_module}.TinyNet", "+model.width=8",
          "dataset=mnist", f"dataset.root={fake_data}", "dataset.val_size=50", "epochs=1", "plots=false")
    sys.modules.pop(user_module)
    sys.path.remove(str(tmp_path))
    proc = nnlab("attack", "run=run", "attack=fgsm", "n=20", "hydra.run.dir=att", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "att" / "attack.json").is_file() and user_module in sys.modules
