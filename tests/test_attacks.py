"""Gradient attacks (nnlab.attacks): invariants for every attack, per-sample stopping, cross-checks
against torchattacks, hyperparameter errors. Small models trained for a moment on separable 8x8
images, so the attacks have something to break."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attack_models import CLASSES, SHAPE  # noqa: E402
from nnlab.attacks import (
    FGSM,
    IFGSM,
    PGD,
    AttackResult,
    TargetedSign,
    least_likely_targets,
    random_other_targets,
)
from nnlab.errors import UserError, as_user_error


def _predict(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


# name: (class, kwargs, targeted, norm); "unbounded" attacks have eps=None
SPECS = {
    "fgsm": (FGSM, dict(eps=0.1), False, "linf"),
    "fgsm_targeted": (FGSM, dict(eps=0.15, targeted=True), True, "linf"),
    "ifgsm": (IFGSM, dict(eps=0.1, alpha=0.02, steps=10), False, "linf"),
    "ifgsm_unbounded": (IFGSM, dict(eps=None, alpha=0.02, steps=10), False, "linf"),
    "targeted_sign": (TargetedSign, dict(alpha=0.02, steps=15, eps=0.15), True, "linf"),
    "targeted_sign_unbounded": (TargetedSign, dict(alpha=0.02, steps=15), True, "linf"),
    "pgd_linf": (PGD, dict(eps=0.1, alpha=0.02, steps=10), False, "linf"),
    "pgd_linf_targeted": (PGD, dict(eps=0.15, alpha=0.03, steps=10, targeted=True), True, "linf"),
    "pgd_linf_restarts": (PGD, dict(eps=0.1, alpha=0.02, steps=5, restarts=3), False, "linf"),
    "pgd_l2": (PGD, dict(eps=1.0, alpha=0.25, steps=10, norm="l2"), False, "l2"),
    "pgd_l2_targeted": (PGD, dict(eps=1.5, alpha=0.3, steps=10, norm="l2", targeted=True), True, "l2"),
}
WITH_EPS = [name for name, spec in SPECS.items() if spec[1].get("eps") is not None]
TARGETED = [name for name, spec in SPECS.items() if spec[2]]


def make(name: str, **override):
    cls, kwargs, _, _ = SPECS[name]
    return cls(**{**kwargs, **override})


def run(name: str, model, x, y, target, attack=None, **kw) -> AttackResult:
    attack = attack or make(name)
    return attack(model, x, y, target if SPECS[name][2] else None, **kw)


def _succeeded(name, model, adv, y, target):
    pred = _predict(model, adv)
    return pred == target if SPECS[name][2] else pred != y


# ------------------------------------------------------------------------------ invariants


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
@pytest.mark.parametrize("name", SPECS)
def test_attack_fools_the_model_and_reports_success_truthfully(models, batch, name, model_name):
    model, (x, y, target) = models[model_name], batch
    result = run(name, model, x, y, target)
    assert isinstance(result, AttackResult)
    assert result.adversarial.shape == x.shape and result.adversarial.dtype == x.dtype
    assert result.steps.dtype == torch.long and result.steps.shape == (len(x),)
    truth = _succeeded(name, model, result.adversarial, y, target)
    assert torch.equal(result.success, truth)
    assert truth.float().mean() >= 0.3, f"{name} fooled only {truth.float().mean():.0%}"


@pytest.mark.parametrize("name", WITH_EPS)
def test_eps_zero_leaves_inputs_unchanged(models, batch, name):
    x, y, target = batch
    for model in models.values():
        result = run(name, model, x, y, target, attack=make(name, eps=0.0))
        assert torch.equal(result.adversarial, x)


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
@pytest.mark.parametrize("name", SPECS)
def test_perturbation_inside_ball_and_pixels_in_range(models, batch, name, model_name):
    model, (x, y, target) = models[model_name], batch
    _, kwargs, _, norm = SPECS[name]
    adv = run(name, model, x, y, target).adversarial
    delta = (adv - x).flatten(1)
    assert adv.min() >= 0 and adv.max() <= 1
    assert (delta != 0).any()  # the attack did something
    eps = kwargs.get("eps")
    if eps is None:  # unbounded: only the step budget bounds it
        assert delta.abs().max() <= kwargs["alpha"] * kwargs["steps"] + 1e-6
    elif norm == "linf":
        assert delta.abs().max() <= eps + 1e-6
    else:
        assert delta.norm(dim=1).max() <= eps * (1 + 1e-5)
        assert delta.norm(dim=1).max() >= 0.5 * eps  # and the L2 budget is actually used


@pytest.mark.parametrize("name", SPECS)
def test_input_tensors_not_modified(models, batch, name):
    x, y, target = (t.clone() for t in batch)
    run(name, models["conv"], x, y, target)
    for before, after in zip(batch, (x, y, target), strict=True):
        assert torch.equal(before, after)


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
@pytest.mark.parametrize("name", SPECS)
def test_batch_equals_samples_one_by_one(models, batch, name, model_name):
    model, (x, y, target) = models[model_name], batch
    attack = make(name, random_start=False) if SPECS[name][0] is PGD else make(name)
    whole = run(name, model, x, y, target, attack=attack)
    for i in range(0, len(x), 3):
        one = run(name, model, x[i:i + 1], y[i:i + 1], target[i:i + 1], attack=attack)
        torch.testing.assert_close(one.adversarial[0], whole.adversarial[i], atol=1e-5, rtol=0)
        assert one.steps[0] == whole.steps[i] and one.success[0] == whole.success[i]


@pytest.mark.parametrize("name", SPECS)
def test_param_grads_buffers_and_modes_untouched(models, batch, name):
    model, (x, y, target) = models["conv"], batch
    params = list(model.parameters())
    for i, p in enumerate(params):
        p.grad = None if i % 2 else torch.full_like(p, 0.5)
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    model.net[5].eval()  # a submodule with its own mode: must come back as it was
    try:
        run(name, model, x, y, target)
        assert model.training and model.net[0].training and not model.net[5].training
        for i, p in enumerate(params):
            assert p.grad is None if i % 2 else torch.equal(p.grad, torch.full_like(p, 0.5))
        for k, v in model.state_dict().items():  # BatchNorm running stats: attack ran in eval mode
            assert torch.equal(v, buffers[k]), k
    finally:
        for p in params:
            p.grad = None
        model.eval()


def test_eval_mode_during_attack_and_mode_restored_after_errors(batch):
    x, y, _ = batch
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3 * 8 * 8, CLASSES)

        def forward(self, inp):
            seen.append(self.training)
            if len(seen) > 3:
                raise RuntimeError("boom")
            return self.lin(inp.flatten(1))

    spy = Spy().train()
    with pytest.raises(RuntimeError, match="boom"):
        IFGSM(eps=0.1, alpha=0.01, steps=10)(spy, x, y)
    assert seen and not any(seen)
    assert spy.training and spy.lin.training


BUDGETS = {  # budget key, increasing values
    "fgsm_targeted": ("eps", [0.0, 0.05, 0.1, 0.2, 0.3]),
    "targeted_sign": ("eps", [0.0, 0.03, 0.06, 0.1, 0.2]),
    "targeted_sign_unbounded": ("steps", [0, 2, 5, 10, 20]),
    "pgd_linf_targeted": ("eps", [0.0, 0.03, 0.06, 0.1, 0.2]),
    "pgd_l2_targeted": ("eps", [0.0, 0.3, 0.6, 1.2, 2.4]),
}


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
@pytest.mark.parametrize("name", TARGETED)
def test_targeted_success_rises_with_budget(models, batch, name, model_name):
    model, (x, y, target) = models[model_name], batch
    key, values = BUDGETS[name]
    rates = []
    for value in values:
        adv = run(name, model, x, y, target, attack=make(name, **{key: value})).adversarial
        rates.append((_predict(model, adv) == target).float().mean().item())
    assert all(a <= b for a, b in zip(rates, rates[1:], strict=False)), rates
    assert rates[0] < rates[-1], rates


# ------------------------------------------------------------------------------ per-sample stopping


def test_ifgsm_stops_per_sample(models, batch):
    model, (x, y, _) = models["mlp"], batch
    wrong = y.clone()
    wrong[:8] = (_predict(model, x[:8]) + 1) % CLASSES  # already "misclassified" w.r.t. these labels
    budget = 12
    result = IFGSM(eps=0.15, alpha=0.01, steps=budget)(model, x, wrong)
    assert (result.steps[:8] == 0).all() and torch.equal(result.adversarial[:8], x[:8])
    assert (result.steps <= budget).all()
    assert (result.steps[8:] > 0).all()
    assert len(set(result.steps[8:].tolist())) > 2  # samples stop at different steps
    fooled = _predict(model, result.adversarial) != wrong
    assert torch.equal(result.success, fooled) and fooled.float().mean() > 0.5
    assert (result.success | (result.steps == budget)).all()  # stopped early => fooled
    # "as soon as": one step less and those samples are not yet misclassified
    for k in sorted(set(result.steps[8:].tolist()) - {budget}):
        shorter = IFGSM(eps=0.15, alpha=0.01, steps=k - 1)(model, x, wrong)
        assert not shorter.success[result.steps == k].any()
        same = result.steps <= k - 1
        torch.testing.assert_close(shorter.adversarial[same], result.adversarial[same], atol=1e-6, rtol=0)


def test_targeted_sign_stops_when_target_reached(models, batch):
    model, (x, y, target) = models["conv"], batch
    target = target.clone()
    target[:5] = _predict(model, x[:5])  # target already predicted: nothing to do
    result = TargetedSign(alpha=0.02, steps=30)(model, x, y, target)
    assert (result.steps[:5] == 0).all() and torch.equal(result.adversarial[:5], x[:5])
    assert torch.equal(result.success, _predict(model, result.adversarial) == target)
    assert (result.success | (result.steps == 30)).all()
    assert result.success.float().mean() > 0.8 and (result.steps[5:] < 30).any()


def test_ifgsm_unbounded_goes_past_a_small_ball(models, batch):
    model, (x, y, _) = models["mlp"], batch
    bounded = IFGSM(eps=0.02, alpha=0.01, steps=40)(model, x, y)
    unbounded = IFGSM(eps=None, alpha=0.01, steps=40)(model, x, y)
    assert (bounded.adversarial - x).abs().max() <= 0.02 + 1e-6
    assert (unbounded.adversarial - x).abs().max() > 0.05
    assert unbounded.success.sum() > bounded.success.sum()


# ------------------------------------------------------------------------------ PGD specifics


def test_pgd_random_start_is_deterministic_given_generator_or_seed(models, batch):
    model, (x, y, _) = models["mlp"], batch
    attack = PGD(eps=0.1, alpha=0.02, steps=3)
    a = attack(model, x, y, generator=torch.Generator().manual_seed(5)).adversarial
    b = attack(model, x, y, generator=torch.Generator().manual_seed(5)).adversarial
    c = attack(model, x, y, generator=torch.Generator().manual_seed(6)).adversarial
    assert torch.equal(a, b) and not torch.equal(a, c)
    # without a generator: the attack's own stream, seeded with `seed`, carried on between calls
    first, second = (PGD(eps=0.1, alpha=0.02, steps=3, seed=7) for _ in range(2))
    calls = [first(model, x, y).adversarial, first(model, x, y).adversarial]
    assert not torch.equal(calls[0], calls[1])  # a new start for every batch (adversarial training)
    assert all(torch.equal(c, second(model, x, y).adversarial) for c in calls)  # same seed, same sequence
    other_seed = PGD(eps=0.1, alpha=0.02, steps=3, seed=8)
    assert not torch.equal(calls[0], other_seed(model, x, y).adversarial)


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.5)])
def test_pgd_random_start_uniform_in_ball(norm, eps):
    x = torch.full((2000, *SHAPE), 0.5)  # far from the [0, 1] walls: no clamping
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, CLASSES))
    start = PGD(eps=eps, alpha=0.01, steps=0, norm=norm)(model, x, torch.zeros(2000, dtype=torch.long))
    delta = (start.adversarial - x).flatten(1)
    assert (start.steps == 0).all()
    if norm == "linf":  # uniform per pixel in [-eps, eps]: mean |d| = eps / 2
        assert delta.abs().max() <= eps + 1e-6
        assert abs(delta.abs().mean().item() - eps / 2) < 0.01 * eps
    else:  # uniform in the volume: radius eps * u^(1/d), so E[r] = eps * d / (d + 1)
        radius = delta.norm(dim=1)
        d = delta.shape[1]
        assert radius.max() <= eps * (1 + 1e-5)
        assert abs(radius.mean().item() - eps * d / (d + 1)) < 0.002 * eps
        cos = (delta[:1000] * delta[1000:]).sum(1) / (radius[:1000] * radius[1000:])
        assert cos.abs().mean() < 0.1  # directions are spread out


@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_restarts_keep_the_best_run_per_sample(models, batch, targeted):
    model, (x, y, target) = models["conv"], batch
    kw = dict(eps=0.05, alpha=0.01, steps=4, targeted=targeted)
    tgt = target if targeted else None
    labels = target if targeted else y
    one = PGD(**kw, restarts=1)(model, x, y, tgt, generator=torch.Generator().manual_seed(0))
    five = PGD(**kw, restarts=5)(model, x, y, tgt, generator=torch.Generator().manual_seed(0))
    assert (five.steps == 20).all() and (one.steps == 4).all()
    assert (five.success >= one.success).all() and five.success.sum() > one.success.sum()
    loss = [nn.functional.cross_entropy(model(r.adversarial), labels, reduction="none").detach()
            for r in (one, five)]
    same = five.success == one.success
    better = loss[1] >= loss[0] - 1e-6 if not targeted else loss[1] <= loss[0] + 1e-6
    assert better[same].all()


# ------------------------------------------------------------------------------ torchattacks cross-checks

torchattacks = pytest.importorskip("torchattacks")


def _torchattacks_run(attack, x, y, target):
    if target is not None:
        attack.set_mode_targeted_by_label(quiet=True)
        return attack(x, target)
    return attack(x, y)


@pytest.mark.parametrize("model_name", ["mlp", "conv"])
@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("kind", ["fgsm", "pgd_linf", "pgd_l2"])
def test_matches_torchattacks(models, batch, model_name, targeted, kind):
    """Same images as torchattacks under matched settings (PGD without random start: random starts
    use a different generator, and our L2 start is uniform in the ball's volume)."""
    model, (x, y, target) = models[model_name], batch
    tgt = target if targeted else None
    if kind == "fgsm":
        ours = FGSM(eps=0.1, targeted=targeted)
        theirs = torchattacks.FGSM(model, eps=0.1)
    elif kind == "pgd_linf":
        ours = PGD(eps=0.1, alpha=0.02, steps=10, random_start=False, targeted=targeted)
        theirs = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=10, random_start=False)
    else:
        ours = PGD(eps=1.0, alpha=0.2, steps=10, norm="l2", random_start=False, targeted=targeted)
        # torchattacks averages the loss over the batch, so its gradients are len(x) times smaller
        # than ours (we sum) and its 1e-10 guard in g / (||g|| + 1e-10) weighs len(x) times more: for a
        # saturated sample (||g|| ~ 1e-9) its step shrinks. Matched setting: scale the guard.
        theirs = torchattacks.PGDL2(model, eps=1.0, alpha=0.2, steps=10, random_start=False,
                                    eps_for_division=1e-10 / len(x))
    mine = ours(model, x, y, tgt).adversarial
    reference = _torchattacks_run(theirs, x, y, tgt)
    diff = (mine - reference).abs().max().item()
    print(f"{kind} targeted={targeted} {model_name}: max |ours - torchattacks| = {diff:.3g}")
    assert (mine != x).any()
    assert diff <= (0.0 if kind != "pgd_l2" else 1e-5)


# ------------------------------------------------------------------------------ targets helpers


def test_least_likely_targets(models, batch):
    model, (x, _, _) = models["conv"], batch
    model.train()
    try:
        t = least_likely_targets(model, x)
        assert model.training
    finally:
        model.eval()
    assert torch.equal(t, model(x).argmin(1))


def test_random_other_targets():
    y = torch.arange(CLASSES).repeat(250)
    t = random_other_targets(y, CLASSES, torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and (t != y).all() and t.min() >= 0 and t.max() < CLASSES
    for c in range(CLASSES):  # each of the other classes comes up
        assert set(t[y == c].tolist()) == set(range(CLASSES)) - {c}
    again = random_other_targets(y, CLASSES, torch.Generator().manual_seed(0))
    assert torch.equal(t, again)
    with pytest.raises(UserError, match="num_classes"):
        random_other_targets(y, 1)
    with pytest.raises(UserError, match="labels must be in"):
        random_other_targets(y, 3)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("build,key", [
    (lambda: FGSM(eps=1.5), "attack.eps=1.5 is out of range; it must be in [0, 1]"),
    (lambda: FGSM(eps=-0.1), "attack.eps"),
    (lambda: FGSM(eps="abc"), "attack.eps"),
    (lambda: FGSM(eps=True), "attack.eps"),
    (lambda: FGSM(eps=0.1, targeted="yes"), "attack.targeted"),
    (lambda: IFGSM(eps=0.1, alpha=0, steps=5), "attack.alpha"),
    (lambda: IFGSM(eps=0.1, alpha=0.01, steps=-1), "attack.steps"),
    (lambda: IFGSM(eps=0.1, alpha=0.01, steps=2.5), "attack.steps"),
    (lambda: TargetedSign(alpha=-1, steps=5), "attack.alpha"),
    (lambda: TargetedSign(alpha=0.1, steps=5, eps=2.0), "attack.eps"),
    (lambda: PGD(eps=1.5, alpha=0.1, steps=5), "attack.eps"),
    (lambda: PGD(eps=-1.0, alpha=0.1, steps=5, norm="l2"), "attack.eps"),
    (lambda: PGD(eps=float("nan"), alpha=0.1, steps=5), "attack.eps"),
    (lambda: PGD(eps=0.1, alpha=0.1, steps=5, norm="l3"), "attack.norm"),
    (lambda: PGD(eps=0.1, alpha=0.1, steps=5, restarts=0), "attack.restarts"),
    (lambda: PGD(eps=0.1, alpha=0.1, steps=5, random_start=1), "attack.random_start"),
    (lambda: PGD(eps=0.1, alpha=0.1, steps=5, seed=-1), "attack.seed"),
])
def test_bad_hyperparameters_raise_user_error(build, key):
    with pytest.raises(UserError) as info:
        build()
    assert str(info.value).startswith(key)


def test_good_hyperparameter_forms():
    assert PGD(eps=2.0, alpha=0.5, steps=5, norm="l2").eps == 2.0  # L2 radii may exceed 1
    assert FGSM(eps="8/255").eps == pytest.approx(8 / 255)  # as written in YAML
    assert PGD(eps=0.03, alpha=0.01, steps=0).steps == 0


def test_bad_call_arguments_raise_user_error(models, batch):
    model, (x, y, target) = models["mlp"], batch
    cases = [
        (lambda: FGSM(0.1)(model, x, y, target), "attack.targeted"),
        (lambda: FGSM(0.1, targeted=True)(model, x, y), "attack.targeted"),
        (lambda: IFGSM(0.1, 0.01, 5)(model, x, y, target), "attack.targeted"),
        (lambda: TargetedSign(0.01, 5)(model, x, y), "attack.targeted"),
        (lambda: FGSM(0.1)(model, x * 255, y), "attack input"),
        (lambda: FGSM(0.1)(model, (x * 255).to(torch.uint8), y), "attack input"),
        (lambda: FGSM(0.1)(model, x, y[:-1]), "attack labels (y)"),
        (lambda: FGSM(0.1)(model, x, y.float()), "attack labels (y)"),
        (lambda: FGSM(0.1)(model, x, y + CLASSES), "attack labels (y)"),
        (lambda: PGD(0.1, 0.01, 2, targeted=True)(model, x, y, target + CLASSES), "attack target"),
    ]
    for call, key in cases:
        with pytest.raises(UserError) as info:
            call()
        assert str(info.value).startswith(key), str(info.value)


def test_hydra_instantiates_attacks_and_reports_bad_keys():
    from hydra.utils import instantiate

    attack = instantiate({"_target_": "nnlab.attacks.PGD", "eps": 0.03, "alpha": 0.01, "steps": 5,
                          "norm": "l2", "restarts": 2})
    assert isinstance(attack, PGD) and attack.norm == "l2" and attack.restarts == 2
    with pytest.raises(Exception) as info:
        instantiate({"_target_": "nnlab.attacks.FGSM", "eps": 2})
    assert str(as_user_error(info.value)).startswith("attack.eps=2 is out of range")


def test_success_costs_a_forward_pass_only_when_read(models, batch):
    """FGSM is one forward/backward; the success flags' forward pass runs on first access only
    (so `nnlab attack` and adversarial training, which never read them, do not pay for it)."""
    model, (x, y, _) = models["conv"], batch
    batches = []
    handle = model.register_forward_hook(lambda module, args, out: batches.append(len(args[0])))
    try:
        result = FGSM(eps=0.1)(model, x, y)
        assert batches == [1, len(x)]  # the 1-sample label-range probe, then the gradient pass
        assert torch.equal(result.success, _predict(model, result.adversarial) != y)
        assert batches[2:] == [len(x), len(x)]  # success (once), then _predict above
        again = result.success
        assert len(batches) == 4 and again is result.success  # computed once, then kept
    finally:
        handle.remove()


def test_every_attack_follows_the_one_protocol():
    """Every attack, the generator included, is an `Attack`: one call protocol, one base."""
    import nnlab.attacks as attacks

    for name in ("FGSM", "IFGSM", "PGD", "TargetedSign", "CarliniWagnerL2", "DeepFool", "GeneratorAttack"):
        assert issubclass(getattr(attacks, name), attacks.Attack), name


def test_margin_is_positive_where_the_goal_is_met():
    from nnlab.attacks import margin

    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0]])
    labels = torch.tensor([0, 1])
    # untargeted (true classes): sample 0 still right (margin 1 - 3), sample 1 fooled (5 - 2)
    torch.testing.assert_close(margin(logits, labels, targeted=False), torch.tensor([-2.0, 3.0]))
    # targeted (targets): sample 0 reached its target by 2, sample 1 missed it by 3
    torch.testing.assert_close(margin(logits, labels, targeted=True), torch.tensor([2.0, -3.0]))
