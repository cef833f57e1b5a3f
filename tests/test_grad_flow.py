"""The grad_flow probe: per-layer gradient statistics, its files, its config errors, and that it
shows the vanishing gradient of deep sigmoid stacks (seeds/001 exercise 1)."""

from __future__ import annotations

import matplotlib.image as mpimg
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import nnlab, train
from nnlab.data.dataset import Dataset, Split
from nnlab.errors import UserError
from nnlab.models import DeepStack
from nnlab.probes import ProbeContext
from nnlab.probes.grad_flow import GradFlow, gradient_stats


def toy_data(n: int = 128, features: int = 20, classes: int = 3) -> Dataset:
    g = torch.Generator().manual_seed(0)
    split = Split(torch.randn(n, features, generator=g), torch.randint(0, classes, (n,), generator=g))
    return Dataset(name="toy", train=split, test=split, num_classes=classes, input_shape=(features,))


def stack(activation: str, depth: int = 10) -> DeepStack:
    torch.manual_seed(0)
    # Glorot init, as in experiment=vanishing_deep: with it relu and tanh keep their gradient
    # through depth and only sigmoid (derivative <= 1/4, outputs not centred) loses it.
    return DeepStack((20,), 3, depth=depth, width=32, activation=activation, init="xavier_uniform")


def run_probe(probe: GradFlow, model: nn.Module, tmp_path, epochs: int = 3, start_epoch: int = 1,
              steps: int = 2) -> GradFlow:
    """Drive the probe as `nnlab train` does, with a few SGD steps per epoch in between."""
    data = toy_data()
    probe.start(ProbeContext(data, epochs, start_epoch, torch.device("cpu"), tmp_path, model))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(start_epoch, epochs + 1):
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(model(data.train.x), data.train.y).backward()
            optimizer.step()
        probe.after_epoch(epoch, model)
    probe.finish()
    return probe


def last_over_first(activation: str) -> float:
    stats = gradient_stats(stack(activation), toy_data().train.x, toy_data().train.y, F.cross_entropy)
    return stats[-1][1] / stats[0][1]


def test_deep_sigmoid_stack_starves_its_first_layer():
    assert last_over_first("sigmoid") >= 1e4  # measured: about 1e6 for 10 layers


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_relu_and_tanh_stacks_keep_their_gradient(activation):
    assert last_over_first(activation) < 10  # measured: 1.7 (relu), 1.7 (tanh)


def test_gradients_match_autograd_and_leave_grad_untouched():
    model = stack("tanh", depth=3)
    data = toy_data()
    stats = gradient_stats(model, data.train.x, data.train.y, F.cross_entropy)
    assert [name for name, _, _ in stats] == ["1", "3", "5", "7"]  # Sequential names, input first
    assert all(p.grad is None for p in model.parameters())  # the optimizer's .grad is not touched
    F.cross_entropy(model(data.train.x), data.train.y).backward()
    first = model[1].weight.grad.abs()
    assert stats[0][1] == pytest.approx(float(first.max()), rel=1e-6)
    assert stats[0][2] == pytest.approx(float(first.mean()), rel=1e-6)


def test_writes_csv_for_the_untrained_model_and_each_epoch_and_a_plot(tmp_path):
    run_probe(GradFlow(samples=64), stack("sigmoid", depth=4), tmp_path, epochs=3)
    table = pd.read_csv(tmp_path / "grad_flow.csv")
    assert list(table.columns) == ["epoch", "layer", "name", "max_abs_grad", "mean_abs_grad"]
    assert sorted(set(table["epoch"])) == [0, 1, 2, 3]
    assert list(table[table["epoch"] == 0]["layer"]) == [1, 2, 3, 4, 5]  # 4 hidden + output layer
    assert (table["max_abs_grad"] >= table["mean_abs_grad"]).all()
    image = mpimg.imread(tmp_path / "plots" / "grad_flow.png")
    assert image.shape[0] > 400 and image.shape[1] > 600


def test_every_k_epochs_keeps_the_last_and_a_resumed_run_keeps_earlier_epochs(tmp_path):
    model = stack("relu", depth=2)
    run_probe(GradFlow(every=2), model, tmp_path, epochs=5)
    assert sorted(set(pd.read_csv(tmp_path / "grad_flow.csv")["epoch"])) == [0, 2, 4, 5]
    run_probe(GradFlow(every=2), model, tmp_path, epochs=7, start_epoch=6)  # resumed after 5
    assert sorted(set(pd.read_csv(tmp_path / "grad_flow.csv")["epoch"])) == [0, 2, 4, 5, 6, 7]


def test_a_model_without_linear_layers_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="Linear or Conv"):
        run_probe(GradFlow(), nn.Sequential(nn.Flatten()), tmp_path)


def test_bad_value_on_the_command_line_is_one_line(tmp_path):
    proc = nnlab("train", "probe=[grad_flow]", "probe.grad_flow.every=0", "epochs=1", "cpu_threads=1",
                 "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "nnlab: error: probe.grad_flow.every=0 is out of range; it must be >= 1"
    assert not (tmp_path / "run").exists()


def test_nnlab_train_writes_the_probe_files_without_changing_training(tmp_path):
    args = ["model=deep", "model.depth=6", "model.width=8", "model.activation=sigmoid", "epochs=2",
            "cpu_threads=1"]
    train(tmp_path, *args, "probe=[grad_flow]", run_dir="probed")
    train(tmp_path, *args, run_dir="plain")
    table = pd.read_csv(tmp_path / "probed" / "grad_flow.csv")
    assert sorted(set(table["epoch"])) == [0, 1, 2] and table["layer"].max() == 7
    assert (tmp_path / "probed" / "plots" / "grad_flow.png").stat().st_size > 10_000
    # The probe batch is drawn with its own generator: the training RNG, and so every number of
    # the run, is what it would be without the probe.
    probed, plain = (pd.read_csv(tmp_path / d / "metrics.csv").drop(columns="seconds")
                     for d in ("probed", "plain"))
    pd.testing.assert_frame_equal(probed, plain)
