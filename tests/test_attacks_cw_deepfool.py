"""Carlini & Wagner L2 (with its binary search over c) and DeepFool: success with small L2
perturbations, the search beating a single large c, per-sample stopping, batch independence,
model modes, a cross-check of DeepFool against torchattacks, hyperparameter errors. Same small
models as tests/test_attacks.py (trained for a moment on separable 8x8 images)."""

from __future__ import annotations

import pytest
import torch

from attack_models import CLASSES  # noqa: E402
from nnlab.attacks import FGSM, CarliniWagnerL2, DeepFool
from nnlab.errors import UserError


def _predict(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def _l2(adv, x):
    return (adv - x).flatten(1).norm(dim=1)


# ------------------------------------------------------------------------------ Carlini & Wagner


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
def test_cw_fools_most_samples_with_small_l2(models, batch, model_name):
    model, (x, y, _) = models[model_name], batch
    x_before = x.clone()
    result = CarliniWagnerL2(c=1.0, steps=100, lr=0.05, binary_search_steps=5)(model, x, y)
    adv = result.adversarial
    assert torch.equal(x, x_before)
    assert adv.shape == x.shape and adv.dtype == x.dtype and adv.min() >= 0 and adv.max() <= 1
    truth = _predict(model, adv) != y
    assert torch.equal(result.success, truth)
    assert truth.float().mean() >= 0.9
    assert torch.equal(adv[~truth], x[~truth])  # unsuccessful samples come back unchanged
    assert (result.steps == 100 * 5).all() and result.steps.dtype == torch.long
    fgsm = FGSM(eps=0.3)(model, x, y)
    cw_l2 = _l2(adv, x)[truth].mean()
    fgsm_l2 = _l2(fgsm.adversarial, x)[fgsm.success].mean()
    print(f"{model_name}: CW mean L2 {cw_l2:.3f} vs FGSM(0.3) {fgsm_l2:.3f}")
    assert cw_l2 < 0.5 * fgsm_l2


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
def test_cw_binary_search_beats_a_single_large_c(models, batch, model_name):
    model, (x, y, _) = models[model_name], batch
    fixed = CarliniWagnerL2(c=100.0, steps=100, lr=0.05, binary_search_steps=1)(model, x, y)
    search = CarliniWagnerL2(c=1.0, steps=100, lr=0.05, binary_search_steps=6)(model, x, y)
    both = fixed.success & search.success
    assert both.float().mean() >= 0.8
    l2_fixed, l2_search = _l2(fixed.adversarial, x)[both].mean(), _l2(search.adversarial, x)[both].mean()
    print(f"{model_name}: mean L2 fixed c=100 {l2_fixed:.3f}, with search {l2_search:.3f}")
    assert l2_search < l2_fixed
    assert search.success.sum() >= fixed.success.sum() - 1


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
def test_cw_targeted_reaches_targets(models, batch, model_name):
    model, (x, y, target) = models[model_name], batch
    result = CarliniWagnerL2(c=1.0, steps=100, lr=0.05, binary_search_steps=5, targeted=True)(
        model, x, y, target)
    truth = _predict(model, result.adversarial) == target
    assert torch.equal(result.success, truth)
    assert truth.float().mean() >= 0.9
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1


def test_cw_kappa_gives_a_confident_margin(models, batch):
    model, (x, y, _) = models["mlp"], batch
    result = CarliniWagnerL2(c=1.0, kappa=2.0, steps=100, lr=0.05, binary_search_steps=5)(model, x, y)
    with torch.no_grad():
        logits = model(result.adversarial[result.success])
    labels = y[result.success]
    own = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    assert result.success.float().mean() >= 0.8
    assert (others - own >= 2.0 - 1e-4).all()


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
def test_cw_batch_equals_samples_one_by_one(models, batch, model_name):
    model, (x, y, _) = models[model_name], batch
    attack = CarliniWagnerL2(c=1.0, steps=30, lr=0.05, binary_search_steps=1)
    whole = attack(model, x, y)
    for i in range(0, len(x), 4):
        one = attack(model, x[i:i + 1], y[i:i + 1])
        torch.testing.assert_close(one.adversarial[0], whole.adversarial[i], atol=1e-4, rtol=0)
        assert one.steps[0] == whole.steps[i] and one.success[0] == whole.success[i]


# ------------------------------------------------------------------------------ DeepFool


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
def test_deepfool_flips_most_samples_with_per_sample_steps(models, batch, model_name):
    model, (x, y, _) = models[model_name], batch
    x_before, y_before = x.clone(), y.clone()
    result = DeepFool(steps=50, overshoot=0.02)(model, x, y)
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    adv = result.adversarial
    assert adv.shape == x.shape and adv.min() >= 0 and adv.max() <= 1
    truth = _predict(model, adv) != y
    assert torch.equal(result.success, truth)
    assert truth.float().mean() >= 0.9
    assert result.steps.dtype == torch.long and (result.steps <= 50).all()
    assert (result.steps[truth] >= 1).all()  # all were correctly classified at first
    assert result.steps.float().mean() < 10  # stops per sample, long before the budget
    few = DeepFool(steps=1)(model, x, y)
    assert (few.steps <= 1).all()
    zero = DeepFool(steps=0)(model, x, y)
    assert torch.equal(zero.adversarial, x) and (zero.steps == 0).all()


def test_deepfool_skips_samples_already_misclassified(models, batch):
    model, (x, y, _) = models["mlp"], batch
    wrong = (y + 1) % CLASSES  # labels the model does not predict
    result = DeepFool()(model, x, wrong)
    assert torch.equal(result.adversarial, x) and (result.steps == 0).all() and result.success.all()


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
def test_deepfool_batch_equals_samples_one_by_one(models, batch, model_name):
    model, (x, y, _) = models[model_name], batch
    attack = DeepFool(steps=50, overshoot=0.02)
    whole = attack(model, x, y)
    for i in range(0, len(x), 3):
        one = attack(model, x[i:i + 1], y[i:i + 1])
        torch.testing.assert_close(one.adversarial[0], whole.adversarial[i], atol=1e-5, rtol=0)
        assert one.steps[0] == whole.steps[i] and one.success[0] == whole.success[i]


@pytest.mark.parametrize("build", [lambda: DeepFool(steps=5),
                                   lambda: CarliniWagnerL2(steps=5, binary_search_steps=2)])
def test_eval_mode_and_modes_restored_and_params_untouched(models, batch, build):
    model, (x, y, _) = models["conv"], batch
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    model.net[5].eval()
    try:
        build()(model, x, y)
        assert model.training and model.net[0].training and not model.net[5].training
        assert all(p.grad is None for p in model.parameters())
        for k, v in model.state_dict().items():  # BatchNorm running stats: attack ran in eval mode
            assert torch.equal(v, buffers[k]), k
    finally:
        model.eval()


def test_deepfool_comparable_to_torchattacks(models, batch):
    torchattacks = pytest.importorskip("torchattacks")
    for model_name, model in models.items():
        x, y, _ = batch
        ours = DeepFool(steps=50, overshoot=0.02)(model, x, y)
        theirs = torchattacks.DeepFool(model, steps=50, overshoot=0.02)(x, y)
        for p in model.parameters():  # torchattacks backpropagates into the parameters
            p.grad = None
        their_success = _predict(model, theirs) != y
        ours_l2 = _l2(ours.adversarial, x)[ours.success].median()
        theirs_l2 = _l2(theirs, x)[their_success].median()
        print(f"{model_name}: success ours {ours.success.float().mean():.0%} theirs "
              f"{their_success.float().mean():.0%}; median L2 ours {ours_l2:.3f} theirs {theirs_l2:.3f}")
        assert ours.success.float().mean() >= 0.9 and their_success.float().mean() >= 0.9
        assert 0.5 * theirs_l2 <= ours_l2 <= 2 * theirs_l2


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("build,key", [
    (lambda: CarliniWagnerL2(c=0), "attack.c"),
    (lambda: CarliniWagnerL2(c=-1.0), "attack.c"),
    (lambda: CarliniWagnerL2(c="x"), "attack.c"),
    (lambda: CarliniWagnerL2(kappa=-0.5), "attack.kappa"),
    (lambda: CarliniWagnerL2(steps=-1), "attack.steps"),
    (lambda: CarliniWagnerL2(steps=2.5), "attack.steps"),
    (lambda: CarliniWagnerL2(lr=0), "attack.lr"),
    (lambda: CarliniWagnerL2(binary_search_steps=0), "attack.binary_search_steps"),
    (lambda: CarliniWagnerL2(targeted="no"), "attack.targeted"),
    (lambda: DeepFool(steps=-1), "attack.steps"),
    (lambda: DeepFool(steps=True), "attack.steps"),
    (lambda: DeepFool(overshoot=-0.1), "attack.overshoot"),
    (lambda: DeepFool(overshoot=float("nan")), "attack.overshoot"),
])
def test_bad_hyperparameters_raise_user_error(build, key):
    with pytest.raises(UserError) as info:
        build()
    assert str(info.value).startswith(key)


def test_bad_call_arguments_raise_user_error(models, batch):
    model, (x, y, target) = models["mlp"], batch
    cases = [
        (lambda: DeepFool()(model, x, y, target), "attack.targeted"),
        (lambda: CarliniWagnerL2()(model, x, y, target), "attack.targeted"),
        (lambda: CarliniWagnerL2(targeted=True)(model, x, y), "attack.targeted"),
        (lambda: DeepFool()(model, x * 255, y), "attack input"),
        (lambda: CarliniWagnerL2()(model, x, y + CLASSES), "attack labels (y)"),
    ]
    for call, key in cases:
        with pytest.raises(UserError) as info:
            call()
        assert str(info.value).startswith(key), str(info.value)


def test_hydra_instantiates_both():
    from hydra.utils import instantiate

    cw = instantiate({"_target_": "nnlab.attacks.CarliniWagnerL2", "c": 0.5, "binary_search_steps": 3})
    assert isinstance(cw, CarliniWagnerL2) and cw.c == 0.5 and cw.binary_search_steps == 3
    df = instantiate({"_target_": "nnlab.attacks.DeepFool", "steps": 10})
    assert isinstance(df, DeepFool) and df.steps == 10 and df.overshoot == 0.02
