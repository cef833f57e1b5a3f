"""Seed reproductions of issue 6, part b: shift (seeds/003), playground and fashion (seeds/004),
cifar-ablation (seeds/002). Each experiment runs its real `nnlab` commands at tiny settings (about
12 s each on 2 CPU cores; the playground's, about 25 s, is marked slow), and the unit tests cover
what they rely on: per-layer MLP options, the report presets, the generated CIFAR-10 stand-in."""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from experiments import cifar_data
from experiments.common import Context
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from torch import nn

from conftest import needs_fashion
from nnlab.data.formats import write_cifar_dataset
from nnlab.data.vision import make_vision
from nnlab.models import MLP, build_model

THREADS = ("cpu_threads=1",)  # tests share the CPU with other jobs


def experiment(name: str):
    return importlib.import_module(f"experiments.{name}")


def compose_train(*overrides: str):
    with initialize_config_module("nnlab.configs", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def image_shape_data(shape=(1, 28, 28)) -> SimpleNamespace:
    """What `build_model` reads of an image dataset, without the images."""
    return SimpleNamespace(input_shape=shape, num_classes=10, is_image=True, mean=(0.5,) * shape[0],
                           std=(0.5,) * shape[0])


# --- MLP: dropout and batchnorm per hidden layer ------------------------------------------------


def test_mlp_takes_dropout_and_batchnorm_per_layer():
    model = MLP((4,), 3, hidden=[8, 6, 5], activation="relu", dropout=[0.5, 0.0, 0.25],
                batchnorm=[False, True, False])
    kinds = [type(m) for m in model]
    assert kinds == [nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.BatchNorm1d, nn.ReLU,
                     nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert [m.p for m in model if isinstance(m, nn.Dropout)] == [0.5, 0.25]
    assert [m.num_features for m in model if isinstance(m, nn.BatchNorm1d)] == [6]


# --- presets -----------------------------------------------------------------------------------


def test_fashion_report_mlp_has_the_reports_parameter_count():
    cfg = compose_train("experiment=fashion_report_mlp")
    model = build_model(cfg.model, image_shape_data())
    # the report's Keras summary: 244,491 trainable parameters (its 100 non-trainable ones are
    # batchnorm's running statistics, buffers in PyTorch)
    assert sum(p.numel() for p in model.parameters()) == 244_491
    assert cfg.optimizer.nesterov is True and cfg.optimizer.momentum > 0
    assert cfg.early_stopping.monitor == "val_acc" and cfg.early_stopping.patience == 10


@pytest.mark.parametrize("preset", ["fashion_report_cnn", "cifar_ablation_softmax",
                                    "cifar_ablation_hidden", "playground_report"])
def test_report_presets_compose_to_a_model(preset):
    cfg = compose_train(f"experiment={preset}")
    shape = {"cifar10": (3, 32, 32), "fashion_mnist": (1, 28, 28)}.get(cfg.dataset.get("name"))
    data = image_shape_data(shape) if shape else instantiate(cfg.dataset)  # else a playground toy
    assert build_model(cfg.model, data)(torch.zeros(2, *data.input_shape)).shape[0] == 2


# --- the generated CIFAR-10 stand-in ------------------------------------------------------------


def test_generated_cifar_loads_through_the_real_loader(tmp_path):
    write_cifar_dataset(tmp_path / "cifar-10-batches-py", per_batch=40, n_test=30,
                        make_images=cifar_data.blocks_on_noise)
    data = make_vision("cifar10", root=str(tmp_path), download=False, val_size=20)
    assert (len(data.train), len(data.val), len(data.test)) == (180, 20, 30)
    assert data.train.x.dtype == torch.uint8 and data.train.x.shape[1:] == (3, 32, 32)
    # pixel statistics near CIFAR-10's, which the model's normalisation assumes
    mean = data.train.x.float().mean().item() / 255
    assert abs(mean - 0.47) < 0.05


def test_generated_cifar_classes_differ_only_by_a_jittered_block():
    images, labels = cifar_data.blocks_on_noise(2000, (3, 32, 32), 10, seed=0)
    assert set(np.unique(labels)) == set(range(10))
    class_means = np.stack([images[labels == k].mean(0) for k in range(10)])  # (10, 3, 32, 32)
    brighter = class_means - class_means.mean(0)
    for k in range(10):   # each class is brightest near its own block, not everywhere
        peak = np.unravel_index(brighter[k].mean(0).argmax(), (32, 32))
        row, col = 2 + (k // 5) * 14, 2 + (k % 5) * 5
        assert abs(peak[0] - (row + 2.5)) <= 5 and abs(peak[1] - (col + 2)) <= 5


def test_the_experiments_are_listed():
    reproduce = importlib.import_module("reproduce")
    found = reproduce.available()
    for name in ("shift", "playground", "fashion", "cifar-ablation"):
        assert found[name].SEED.startswith("seeds/00") and found[name].DESCRIPTION


# --- the experiments at tiny settings ------------------------------------------------------------


@needs_fashion
def test_shift_mlp_loses_accuracy_under_shift_faster_than_lenet(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLAB_DATA", str(tmp_path / "data"))  # not the real per-user data folder
    shift = experiment("shift")
    ctx = Context(out=tmp_path, title="shift", seed=shift.SEED)
    shift.run(ctx, shift.Settings(epochs=2, train_size=8000, test_size=1000, max_shift=3,
                                  extra=THREADS))
    ctx.finish(1.0)
    table = pd.read_csv(tmp_path / "shift_accuracy.csv").set_index("shift")

    def kept(model: str) -> float:
        """Accuracy kept after shifting 3 pixels, as a fraction of the unshifted accuracy."""
        cols = [c for c in table.columns if c.startswith(model + " ")]
        return float(table.loc[3, cols].mean() / table.loc[0, cols].mean())

    assert kept("MLP") < kept("LeNet-5") - 0.05
    assert (tmp_path / "shift_accuracy.png").stat().st_size > 10_000
    readme = (tmp_path / "README.md").read_text()
    assert "Fashion-MNIST" in readme and "shift_accuracy.png" in readme


@pytest.mark.slow
def test_playground_l1_keeps_the_circles_squared_features(tmp_path):
    playground = experiment("playground")
    ctx = Context(out=tmp_path, title="playground", seed=playground.SEED)
    playground.run(ctx, playground.Settings(datasets=("circle",), hand_epochs_scale=0.2,
                                            reg_epochs=(80, 80), act_epochs=10))
    ctx.finish(1.0)
    weights = pd.read_csv(tmp_path / "feature_weights.csv").set_index("regulariser")
    assert list(weights.index) == ["none", "L1", "L2"]
    l1 = weights.loc["L1", playground.ALL_FEATURES]
    others = l1.drop(["x1sq", "x2sq"])
    # x1^2 + x2^2 is the radius: L1 drives every other input's weights towards zero
    assert min(l1["x1sq"], l1["x2sq"]) > 20 * others.max()
    assert weights.loc["L1", "test acc"] > 0.95
    activations = pd.read_csv(tmp_path / "activations.csv")
    assert list(activations["model"]) == ["sigmoid [5, 5]", "tanh [5, 5]", "relu [5, 5]"]
    for png in ("feature_weights.png", "boundaries_features.png", "boundaries_activations.png"):
        assert (tmp_path / png).stat().st_size > 10_000


@needs_fashion
def test_fashion_reports_the_best_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLAB_DATA", str(tmp_path / "data"))  # not the real per-user data folder
    fashion = experiment("fashion")
    tiny = ["dataset.train_size=3000", "dataset.val_size=500", "dataset.test_size=500"]
    ctx = Context(out=tmp_path, title="fashion", seed=fashion.SEED)
    fashion.run(ctx, fashion.Settings(
        mlp_epochs=4, cnn_epochs=1, mlp_scale=tiny,
        cnn_scale=[*tiny, "model.channels=[8,16,16]", "model.hidden=32"], extra=THREADS))
    ctx.finish(1.0)
    table = pd.read_csv(tmp_path / "fashion.csv").set_index("model")
    metrics = pd.read_csv(tmp_path / "runs" / "mlp" / "metrics.csv")
    best = metrics.loc[metrics["val_acc"].idxmax()]   # early stopping monitors val_acc
    assert table.loc["MLP", "best epoch"] == best["epoch"]
    assert math.isclose(table.loc["MLP", "test acc (best)"], best["test_acc"], rel_tol=1e-6)
    assert table.loc["MLP", "parameters"] == 244_491
    assert (tmp_path / "runs" / "mlp" / "plots" / "first_layer_weights.png").exists()


def test_cifar_ablation_on_generated_data_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLAB_DATA", str(tmp_path / "no-data"))   # no real CIFAR-10 here
    monkeypatch.delenv("NNLAB_ONLINE", raising=False)
    cifar = experiment("cifar_ablation")
    ctx = Context(out=tmp_path / "out", title="cifar", seed=cifar.SEED)
    cifar.run(ctx, cifar.Settings(epochs=2, train_size=1500, test_size=300,
                                  ablations=("batch size",), extra=THREADS))
    ctx.finish(1.0)
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "GENERATED, NOT CIFAR-10" in readme
    for preset in ("cifar_ablation_softmax", "cifar_ablation_hidden"):
        table = pd.read_csv(tmp_path / "out" / f"{preset}.csv")
        assert list(table["value"].astype(str)) == ["128", "256", "512", "1024"]
        assert (table["status"] == "completed").all()
        assert table["test acc"].between(0, 1).all()
    # the temporary data root is gone once the experiment returns
    root = next(a.split("=", 1)[1] for line in ctx.commands for a in line.split()
                if a.startswith("dataset.root="))
    assert not Path(root).exists()
