"""Generator attack (seeds/001 exercise 2): a perturbation network trained with the classifier
frozen. Same small models as tests/test_attacks.py (separable 8x8 images, 4 classes)."""

from __future__ import annotations

import pytest
import torch

from attack_models import CLASSES, _data  # noqa: E402
from nnlab.attacks import GeneratorAttack
from nnlab.attacks.base import margin_loss
from nnlab.errors import UserError

FAST = dict(epochs=8, batch_size=64, lr=0.003, width=8, train_n=None)


@pytest.fixture(scope="module")
def train_set():
    return _data(400, seed=5)


@pytest.fixture(scope="module")
def fitted(models, train_set):
    """name -> (model, attack fitted for every target) at eps 0.3."""
    out = {}
    for name, model in models.items():
        attack = GeneratorAttack(eps=0.3, **FAST)
        attack.fit(model, *train_set, targets=range(CLASSES), progress=False)
        out[name] = (model, attack)
    return out


def _predict(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_targeted_generators_reach_their_targets_on_unseen_images(fitted, batch, name):
    model, attack = fitted[name]
    x, y, target = batch
    result = attack(model, x, y, target)
    pred = _predict(model, result.adversarial)
    assert torch.equal(result.success, pred == target)  # reported truthfully
    assert result.success.float().mean() >= 0.9
    assert set(attack.training_log) == set(range(CLASSES))
    assert all(log["train_success"] >= 0.9 for log in attack.training_log.values())
    assert result.steps.tolist() == [1] * len(x)


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_perturbation_inside_ball_pixels_in_range_input_untouched(fitted, batch, name):
    model, attack = fitted[name]
    x, y, target = batch
    before = x.clone()
    adv = attack(model, x, y, target).adversarial
    assert torch.equal(x, before)
    assert (adv - x).abs().max() <= 0.3 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_batch_equals_samples_one_by_one(fitted, batch, name):
    model, attack = fitted[name]
    x, y, target = batch
    whole = attack(model, x, y, target).adversarial
    single = torch.cat([attack(model, x[i:i + 1], y[i:i + 1], target[i:i + 1]).adversarial
                        for i in range(len(x))])
    torch.testing.assert_close(whole, single, atol=1e-5, rtol=0)


def test_eps_zero_leaves_inputs_unchanged(models, batch, train_set):
    model = models["conv"]
    x, y, target = batch
    attack = GeneratorAttack(eps=0.0, **{**FAST, "epochs": 1})
    attack.fit(model, *train_set, targets=target.unique().tolist(), progress=False)
    assert torch.equal(attack(model, x, y, target).adversarial, x)


def test_targeted_success_rises_with_budget(models, batch, train_set):
    model = models["mlp"]
    x, y, target = batch
    rates = []
    for eps in (0.02, 0.08, 0.3):
        attack = GeneratorAttack(eps=eps, **FAST)
        attack.fit(model, *train_set, targets=range(CLASSES), progress=False)
        rates.append(float(attack(model, x, y, target).success.float().mean()))
    assert rates[0] < rates[1] < rates[2] or (rates[0] < rates[2] and rates[1] <= rates[2])
    assert rates[0] < 0.5 < rates[2]


def test_untargeted_generator(models, batch, train_set):
    model = models["conv"]
    x, y, _ = batch
    attack = GeneratorAttack(eps=0.3, targeted=False, **{**FAST, "epochs": 30, "width": 16})
    log = attack.fit(model, *train_set, progress=False)
    assert list(log) == [-1]
    result = attack(model, x, y)
    assert torch.equal(result.success, _predict(model, result.adversarial) != y)
    # One network for every class is a harder job than one per target; it must still beat
    # random sign noise of the same size by far.
    noise = 0.3 * torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(0)) * 2 - 0.3
    noise_rate = (_predict(model, (x + noise).clamp(0, 1)) != y).float().mean()
    assert result.success.float().mean() >= noise_rate + 0.3


def test_penalty_instead_of_bound_trades_size_for_success(models, batch, train_set):
    model = models["mlp"]
    x, y, target = batch
    sizes = []
    for penalty in (0.01, 1.0):
        attack = GeneratorAttack(eps=None, penalty=penalty, kappa=1.0, **FAST)
        attack.fit(model, *train_set, targets=range(CLASSES), progress=False)
        adv = attack(model, x, y, target).adversarial
        sizes.append(float((adv - x).flatten(1).norm(dim=1).median()))
    assert sizes[1] < sizes[0]


def test_classifier_parameters_buffers_and_modes_untouched(models, train_set):
    model = models["conv"]
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    GeneratorAttack(eps=0.3, **{**FAST, "epochs": 1}).fit(model, *train_set, targets=[1], progress=False)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())  # BN stats too
    assert all(p.grad is None for p in model.parameters())
    assert all(m.training for m in model.modules())
    model.eval()


def test_same_seed_same_generator(models, batch, train_set):
    model = models["mlp"]
    x, y, target = batch
    advs = []
    for _ in range(2):
        attack = GeneratorAttack(eps=0.2, **{**FAST, "epochs": 2})
        attack.fit(model, *train_set, targets=range(CLASSES), progress=False)
        advs.append(attack(model, x, y, target).adversarial)
    assert torch.equal(advs[0], advs[1])


def test_margin_loss():
    logits = torch.tensor([[2.0, 1.0, -1.0], [0.0, 3.0, 1.0]])
    labels = torch.tensor([1, 1])
    torch.testing.assert_close(margin_loss(logits, labels, targeted=True, kappa=0.0),
                               torch.tensor([1.0, 0.0]))   # [2-1, floored at 0 (3 > 1)]
    torch.testing.assert_close(margin_loss(logits, labels, targeted=True, kappa=5.0),
                               torch.tensor([1.0, -2.0]))
    torch.testing.assert_close(margin_loss(logits, labels, targeted=False, kappa=0.0),
                               torch.tensor([0.0, 2.0]))


@pytest.mark.parametrize("kwargs, message", [
    (dict(eps=None, penalty=0.0), "unbounded"),
    (dict(eps=1.5), "attack.eps"),
    (dict(penalty=-1), "attack.penalty"),
    (dict(epochs=-1), "attack.epochs"),
    (dict(lr=0), "attack.lr"),
    (dict(width=0), "attack.width"),
    (dict(train_n=0), "attack.train_n"),
])
def test_bad_hyperparameters(kwargs, message):
    with pytest.raises(UserError, match=message):
        GeneratorAttack(**kwargs)


def test_bad_calls(models, batch, train_set, fitted):
    model = models["mlp"]
    x, y, target = batch
    with pytest.raises(UserError, match="fit"):
        GeneratorAttack(eps=0.3)(model, x, y, target)
    attack = GeneratorAttack(eps=0.3, **{**FAST, "epochs": 1})
    attack.fit(model, *train_set, targets=[0], progress=False)
    with pytest.raises(UserError, match=r"target\(s\) \[1"):
        attack(model, x, y, torch.ones_like(y))
    with pytest.raises(UserError, match="needs target classes"):
        attack.fit(model, *train_set, progress=False)
    with pytest.raises(UserError, match="attack target"):
        attack.fit(model, *train_set, targets=[CLASSES], progress=False)
    with pytest.raises(UserError, match="needs target labels"):
        fitted["mlp"][1](model, x, y)
