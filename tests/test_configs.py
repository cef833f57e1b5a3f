"""Every option of every config group composes and instantiates; every model trains a few steps;
the seed reports' presets build the reports' models."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from nnlab.data.batcher import TensorBatcher
from nnlab.data.dataset import Dataset
from nnlab.models import build_model

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Groups of `nnlab train`'s config; `attack` belongs to `nnlab attack`, `hydra` to Hydra.
GROUPS = sorted(p.name for p in CONFIGS.iterdir()
                if p.is_dir() and not p.name.startswith("_") and p.name not in ("attack", "hydra"))


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


IMAGE_MODELS = {"lenet", "cnn", "cifar_cnn"}


@pytest.fixture(scope="module", autouse=True)
def fake_image_data(fake_data):
    """The session's small files in torchvision's layouts under $NNLAB_DATA, so image configs
    instantiate offline."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNLAB_DATA", str(fake_data))
        yield fake_data


def compose_train(*overrides: str):
    with initialize_config_module("nnlab.configs", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def build(cfg):
    """Everything `nnlab train` builds from a config, minus the run folder."""
    if cfg.dataset.get("val_size"):
        cfg.dataset.val_size = 50  # the fake image files are small
    data = instantiate(cfg.dataset)
    model = build_model(cfg.model, data)
    optimizer = instantiate(cfg.optimizer)(model.parameters())
    scheduler = instantiate(cfg.scheduler)(optimizer) if cfg.scheduler.get("_target_") else None
    probes = [instantiate(node) for node in (cfg.get("probe") or {}).values()]
    return data, model, optimizer, scheduler, probes


def test_groups_are_the_documented_ones():
    assert set(GROUPS) >= {"model", "dataset", "optimizer", "scheduler", "experiment", "probe"}


CASES = [(g, o) for g in GROUPS for o in options(g)]


@pytest.mark.parametrize("group,option", CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_every_option_composes_and_instantiates(group, option):
    override = f"{group}=[{option}]" if group == "probe" else f"{group}={option}"
    needs_images = (option in IMAGE_MODELS or (group == "probe" and option != "boundary")
                    or group == "adversarial")
    cfg = compose_train(override, *(["dataset=mnist"] if needs_images else []), *own_model(option))
    data, model, optimizer, scheduler, probes = build(cfg)
    assert isinstance(data, Dataset) and isinstance(model, torch.nn.Module)
    assert isinstance(optimizer, torch.optim.Optimizer)
    if group == "scheduler":
        assert (scheduler is None) == (option == "none")
    if group == "probe":
        assert len(probes) == 1


def own_model(option: str) -> list[str]:
    """model=custom names no class (`_target_: ???`): a user's would; here one of nnlab's stands in
    (tests/test_models.py trains a class from a user's file)."""
    return ["model._target_=nnlab.models.MLP"] if option == "custom" else []


@pytest.mark.parametrize("model", options("model"))
def test_every_model_trains_a_few_steps(model):
    torch.manual_seed(0)
    cfg = compose_train(f"model={model}", "model.depth=3" if model == "deep" else "seed=0",
                        *(["dataset=mnist"] if model in IMAGE_MODELS else []), *own_model(model))
    data, net, optimizer, _, _ = build(cfg)
    before = [p.detach().clone() for p in net.parameters()]
    batches = TensorBatcher(data.train, 64, torch.device("cpu"), shuffle=True)
    losses = []
    for _ in range(3):
        for x, y in batches:
            loss = torch.nn.functional.cross_entropy(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(b, p) for b, p in zip(before, net.parameters(), strict=True))


def test_dataset_may_set_its_training_defaults_but_the_command_line_wins():
    assert compose_train("dataset=xor").optimizer.lr == 1.0  # full-batch gradient descent
    assert compose_train("dataset=xor").epochs == 1000
    cfg = compose_train("dataset=xor", "optimizer=adam", "epochs=5")
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 0.01
    assert cfg.epochs == 5


def test_experiment_presets_state_only_what_differs():
    cfg = compose_train("experiment=circle_linear")
    assert cfg.model.hidden == [] and list(cfg.dataset.features) == ["x1sq", "x2sq"]
    assert cfg.epochs == compose_train().epochs  # untouched keys keep the defaults
    cfg = compose_train("experiment=xor_tanh", "model.hidden=[3]")
    assert cfg.model.hidden == [3] and cfg.model.activation == "tanh"


def test_sweep_keys_are_short_top_level_names():
    cfg = compose_train()
    for key in ("epochs", "batch_size", "loss", "device", "seed", "deterministic", "progress",
                "early_stopping", "l1", "cpu_threads"):
        assert key in cfg, key


@pytest.mark.parametrize("option", options("attack"))
def test_every_attack_option_composes_and_instantiates(option):
    from nnlab.attacks import AttackResult

    with initialize_config_module("nnlab.configs", version_base="1.3"):
        cfg = compose(config_name="attack", overrides=[f"attack={option}", "run=somewhere"])
    attack = instantiate(cfg.attack)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    target = torch.tensor([1, 2, 0, 1]) if option in ("targeted_sign", "generator") else None
    if hasattr(attack, "fit"):  # learning attacks (the generator) train before they attack
        attack.fit(model, x, y, targets=target.tolist(), progress=False)
    result = attack(model, x, y, target=target)
    assert isinstance(result, AttackResult) and result.adversarial.shape == x.shape


# --- the seed reports' presets --------------------------------------------------------------------


def image_shape_data(shape=(1, 28, 28)) -> SimpleNamespace:
    """What `build_model` reads of an image dataset, without the images."""
    return SimpleNamespace(input_shape=shape, num_classes=10, is_image=True, mean=(0.5,) * shape[0],
                           std=(0.5,) * shape[0])


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
