"""nnlab.schema: every key a user can type is declared once, and a bad value is one clear line.

- Every declared key, in every config option that has it, refuses a wrong type, an out-of-range
  value and null (where null is not valid), in one line naming the key: each option is composed
  once, then each key is changed in the composed values and validated (no subprocess per key).
- Declarations and the config tree agree both ways (no key forgotten, none stale), and every
  declared key is an argument of its `_target_`.
- The attack classes refuse the same values from Python, through the same declarations.
- Bad input through the real CLI (in-process): one line on stderr, exit 2, nothing written.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_method
from omegaconf import OmegaConf

from nnlab.errors import UserError
from nnlab.schema import validate
from nnlab.schema.commands import COMMANDS
from nnlab.schema.keys import closest_key, options_by_target
from nnlab.schema.options import ATTACKS, GROUPS
from nnlab.schema.types import (
    Bool,
    Choice,
    Float,
    Group,
    GroupList,
    Int,
    ListOf,
    OneOf,
    Optional,
    PerLayer,
    Section,
    Str,
    TrackingUri,
    close_match,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


@functools.cache
def composed(command: str, *overrides: str) -> dict:
    """The resolved config of `command` with `overrides`, as plain values (composed once)."""
    GlobalHydra.instance().clear()
    with initialize_config_module("nnlab.configs", version_base="1.3"):
        cfg = compose(config_name=command, overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


# Options whose _target_ the user names (model=custom ships `???`): composed with one given.
USERS_OWN = {("model", "custom"): "model._target_=torch.nn.Identity"}


def option_overrides(group: str, option: str) -> tuple[str, tuple[str, ...]]:
    """(command, overrides) that select `option` of `group`."""
    if group == "attack":
        return "attack", ("run=somewhere", f"attack={option}")
    own = (USERS_OWN[group, option],) if (group, option) in USERS_OWN else ()
    return "train", (f"probe=[{option}]" if group == "probe" else f"{group}={option}", *own)


GROUP_DIRS = sorted(p.name for p in CONFIGS.iterdir()
                    if p.is_dir() and p.name not in ("hydra", "__pycache__"))
CASES = [(g, o) for g in GROUP_DIRS for o in options(g)]
IDS = [f"{g}={o}" for g, o in CASES]


GROUP_KEYS = {key for spec in COMMANDS.values() for key, sub in spec.keys.items()
              if isinstance(sub, (Group, GroupList))}


def check(values: dict, command: str) -> None:
    validate(values, command)


# --- what each declared type must refuse -----------------------------------------------------------


def refused(spec, current=None) -> list:
    """Values `spec` must refuse: wrong types, values out of its range, and null unless Optional."""
    if isinstance(spec, Optional):
        return [v for v in refused(spec.inner, current) if v is not None]
    return [None, *_wrong(spec, current)]


def _wrong(spec, current) -> list:
    if isinstance(spec, Bool):
        return ["yes", 1, "true"]
    if isinstance(spec, Int):
        return ["ten", 2.5, True, *_outside(spec)]
    if isinstance(spec, Float):
        return ["abc", True, math.nan, math.inf, *_outside(spec)]
    if isinstance(spec, (Choice, OneOf)):
        return ["no_such_value", 3.5, [1]]
    if isinstance(spec, TrackingUri):
        return [5, "", ["a"], "htp://localhost:5000", "outputs/mlflow.db"]
    if isinstance(spec, Str):  # and Path
        return [5, "", ["a"]]
    if isinstance(spec, ListOf):
        items = [[bad] for bad in refused(spec.item)]
        short = [[]] if spec.min_len or spec.length else []
        twice = [[current[0], current[0]]] if spec.unique and current else []
        return ["abc", 7, *items, *short, *twice]
    if isinstance(spec, PerLayer):
        return ["abc", *_wrong(spec.item, None), *[[bad] for bad in refused(spec.item)]]
    raise AssertionError(f"no bad values known for {spec!r}")


def _outside(spec) -> list:
    out = []
    if spec.min is not None:
        out.append(spec.min if spec.min_open else spec.min - 1)
    if spec.max is not None:
        out.append(spec.max if spec.max_open else spec.max + 1)
    return out


# --- walking the declarations alongside a composed config -------------------------------------------


def leaves(value, spec, key: str = ""):
    """(key, type, value) of every declared leaf key present in `value`."""
    if isinstance(spec, Section):
        for name, sub in spec.keys.items():
            if isinstance(value, dict) and name in value:
                yield from leaves(value[name], sub, f"{key}.{name}" if key else name)
    elif isinstance(spec, Group):
        declared = GROUPS[spec.name].get((value or {}).get("_target_"))
        if declared is not None:
            yield from leaves(value, Section(declared.keys), key)
    elif isinstance(spec, GroupList):
        for name, node in (value or {}).items():
            yield from leaves(node, Group(spec.name), f"{key}.{name}")
    else:
        yield key, spec, value


def replaced(values: dict, key: str, new) -> dict:
    out = copy.deepcopy(values)
    *path, last = key.split(".")
    node = out
    for part in path:
        node = node[part]
    node[last] = new
    return out


# --- every key, every option ------------------------------------------------------------------------


@pytest.mark.parametrize("group,option", CASES, ids=IDS)
def test_every_option_as_shipped_is_valid(group, option):
    command, overrides = option_overrides(group, option)
    check(composed(command, *overrides), command)


# The options of each group (their nodes' keys), and once each the commands' own keys.
WALKED = [(g, o) for g, o in CASES if g not in ("experiment", "hparams_search")] + [("train", ""),
                                                                                    ("attack", "")]


@pytest.mark.parametrize("group,option", WALKED, ids=[f"{g}={o}" if o else g for g, o in WALKED])
def test_every_declared_key_refuses_bad_values_in_one_line(group, option):
    if option:
        command, overrides = option_overrides(group, option)
        within = group  # the option's own keys: model.*, probe.shift.*, adversarial.*
    else:
        command, overrides, within = group, ("run=x",) if group == "attack" else (), ""
    values = composed(command, *overrides)
    for key, spec, current in leaves(values, COMMANDS[command]):
        if within and not key.startswith(within + "."):
            continue
        if not within and key.split(".")[0] in GROUP_KEYS:
            continue
        for bad in refused(spec, current):
            with pytest.raises(UserError) as info:
                check(replaced(values, key, bad), command)
            message = str(info.value)
            assert key in message and "\n" not in message, (key, bad, message)


def test_the_walk_reaches_every_kind_of_key():
    """The top-level keys (train and attack) and the nested ones are all in the walk above."""
    keys = {key for key, _, _ in leaves(composed("train", "dataset=mnist", "adversarial=pgd",
                                                 "probe=[shift]", "scheduler=step"),
                                        COMMANDS["train"])}
    assert {"epochs", "early_stopping.patience", "dataset.augment.translate", "adversarial.mix",
            "adversarial.attack.eps", "probe.shift.directions", "scheduler.step_size",
            "optimizer.betas", "progress", "device", "figures.format", "figures.dpi"} <= keys
    keys = {key for key, _, _ in leaves(composed("attack", "run=x"), COMMANDS["attack"])}
    assert {"run", "checkpoint", "split", "n", "indices", "classes", "per_class", "target",
            "transfer", "batch_size", "device", "seed", "gallery", "attack.eps"} <= keys


# --- declarations and the config tree agree ---------------------------------------------------------


def _nodes(value, spec, group_of=None):
    """(group name, node) of every group node in a composed config."""
    if isinstance(spec, Section):
        for name, sub in spec.keys.items():
            if isinstance(value, dict) and value.get(name):
                yield from _nodes(value[name], sub)
    elif isinstance(spec, Group):
        yield spec.name, value
    elif isinstance(spec, GroupList):
        for node in value.values():
            yield spec.name, node


def _section_keys(spec, key=""):
    """Declared keys of a command outside its groups (top level, early_stopping, adversarial)."""
    for name, sub in spec.keys.items():
        full = f"{key}.{name}" if key else name
        yield full
        if isinstance(sub, Section):
            yield from _section_keys(sub, full)


def test_declarations_and_config_files_agree_both_ways():
    seen_keys, seen_targets, seen_top = set(), set(), {"train": set(), "attack": set()}
    for group, option in CASES:
        command, overrides = option_overrides(group, option)
        values = composed(command, *overrides)
        seen_top[command] |= set(_section_keys(Section(_plain(values)), ""))
        for name, node in _nodes(values, COMMANDS[command]):
            target = node.get("_target_")
            if target is None or ((group, option) in USERS_OWN and name == group):
                continue
            assert target in GROUPS[name], f"{group}={option}: {name} target {target} is not declared"
            seen_targets.add(target)
            for key, sub in node.items():
                if not key.startswith("_"):
                    seen_keys.add((target, key))
                    if isinstance(sub, dict):
                        seen_keys |= {(target, f"{key}.{k}") for k in sub}
    for group in GROUPS.values():
        for target, declared in group.items():
            assert target in seen_targets, f"{target} is declared but no config uses it"
            for key, spec in declared.keys.items():
                assert (target, key) in seen_keys, f"{target}.{key} is declared but in no config"
                if isinstance(spec, Section):
                    assert {(target, f"{key}.{k}") for k in spec.keys} <= seen_keys
    for command, spec in COMMANDS.items():
        missing = set(_section_keys(spec)) - seen_top[command]
        assert not missing, f"declared for {command} but in no config: {missing}"


def _plain(values: dict) -> dict:
    """A composed config's keys as a Section-like tree (groups' insides left out)."""
    return {k: Section(_plain(v)) if isinstance(v, dict) and "_target_" not in v and k != "probe"
            else None for k, v in values.items()}


def test_every_declared_key_is_an_argument_of_its_target():
    for group in GROUPS.values():
        for target, declared in group.items():
            parameters = inspect.signature(get_method(target)).parameters
            for key in declared.keys:
                assert key in parameters, f"{target} takes no argument {key!r}"


# --- the attack classes, from Python ----------------------------------------------------------------


@pytest.mark.parametrize("target", sorted(ATTACKS))
def test_attack_classes_refuse_what_the_command_line_refuses(target):
    option = next(o for o in options("attack")
                  if composed("attack", "run=x", f"attack={o}")["attack"]["_target_"] == target)
    good = {k: v for k, v in composed("attack", "run=x", f"attack={option}")["attack"].items()
            if not k.startswith("_")}
    cls = get_method(target)
    cls(**good)
    for key, spec in ATTACKS[target].keys.items():
        for bad in refused(spec, good[key]):
            with pytest.raises(UserError) as info:
                cls(**{**good, key: bad})
            assert str(info.value).startswith(f"attack.{key}"), (key, bad, str(info.value))


def test_attack_classes_take_fractions_and_normalise_numbers():
    from nnlab.attacks import FGSM, PGD, GeneratorAttack

    assert FGSM(eps="8/255").eps == pytest.approx(8 / 255)  # as written in YAML
    assert isinstance(PGD(eps=1, alpha=1, steps=0, norm="l2").eps, float)
    assert PGD(eps=2.0, alpha=0.5, steps=5, norm="l2").eps == 2.0  # L2 radii may exceed 1
    assert GeneratorAttack(eps=None, penalty=1.0).eps is None


# --- messages ---------------------------------------------------------------------------------------


def refusal(command: str, *overrides: str, change: dict | None = None) -> str:
    values = composed(command, *overrides)
    for key, new in (change or {}).items():
        values = replaced(values, key, new)
    with pytest.raises(UserError) as info:
        check(values, command)
    return str(info.value)


@pytest.mark.parametrize("overrides,change,expected", [
    ((), {"model.activation": "Relu"}, "model.activation: unknown value 'Relu'; valid: relu, tanh"),
    ((), {"model.activation": "Relu"}, "(did you mean 'relu'?)"),
    ((), {"dataset.noise": 0.8}, "dataset.noise=0.8 is out of range; it must be in [0.0, 0.5]"),
    ((), {"dataset.train_fraction": 1.0}, "it must be in (0, 1)"),
    ((), {"dataset.name": "spirals"}, "did you mean 'spiral'"),
    ((), {"dataset.features": ["x1", "x9"]}, "dataset.features[1]: unknown value 'x9'; valid: x1, x2, x1sq"),
    ((), {"dataset.features": ["x1sq", "x1^2"]}, "dataset.features: lists 'x1sq' twice"),
    ((), {"model.hidden": 16}, "model.hidden: expected a list such as [16,16], each an integer >= 1"),
    ((), {"model.dropout": [0.1]}, "model.dropout: a list needs one value per hidden layer (2 in"),
    ((), {"model.batchnorm": [True, "no"]}, "model.batchnorm[1]: expected true or false, got 'no'"),
    (("model=mlp", "model.hidden=[8,6,5]"), {"model.batchnorm": [True]},
     "model.batchnorm: a list needs one value per hidden layer (3 in model.hidden), got 1"),
    (("model=linear",), {"model.dropout": 1.5}, "model.dropout=1.5 is out of range; it must be in [0, 1)"),
    ((), {"epochs": "ten"}, "epochs: expected an integer >= 1, got 'ten'"),
    ((), {"optimizer.lr": -0.1}, "optimizer.lr=-0.1 is out of range; it must be > 0"),
    ((), {"optimizer.betas": [0.9, 1.5]}, "optimizer.betas[1]=1.5 is out of range; it must be in [0, 1)"),
    ((), {"optimizer.betas": [0.9]}, "optimizer.betas: expected a list of 2 such as [0.9,0.999]"),
    ((), {"device": "tpu"}, "device: unknown value 'tpu'; valid: auto, cpu, cuda, cuda:N"),
    ((), {"progress": "yes"}, "progress: unknown value 'yes'; valid: auto, true, false"),
    (("optimizer=sgd",), {"optimizer.nesterov": True}, "optimizer.nesterov=true needs optimizer.momentum"),
    (("scheduler=step",), {"scheduler.step_size": 0}, "scheduler.step_size=0 is out of range; it must be >="),
    (("scheduler=cosine",), {"scheduler.T_max": 0}, "scheduler.T_max=0 is out of range"),
    (("dataset=fashion_mnist",), {"dataset.val_size": -1}, "dataset.val_size=-1 is out of range"),
    (("probe=[shift]",), {"probe.shift.directions": ["rigth"]}, "did you mean 'right'"),
    (("adversarial=pgd",), {"adversarial.mix": 0}, "adversarial.mix=0 is out of range; it must be in (0, 1]"),
    (("adversarial=pgd",), {"adversarial.attack.eps": 2},
     "adversarial.attack.eps=2 is out of range; it must be in [0, 1] (pixel units)"),
])
def test_train_messages(overrides, change, expected):
    assert expected in refusal("train", *overrides, change=change)


@pytest.mark.parametrize("overrides,expected", [
    (("n=0",), "n=0 is out of range; it must be >= 1"),
    (("target=rand",), "target: expected one of random, least_likely, all or an integer >= 0, got 'rand' "
                       "(did you mean 'random'?)"),
    (("target=-2",), "target=-2 is out of range"),
    (("checkpoint=latest",), "did you mean 'last'"),
    (("attack=fgsm", "attack.eps=[0,0.1,1.5]"), "attack.eps[2]=1.5 is out of range; it must be in [0, 1]"),
    (("attack=pgd", "attack.eps=[0,0.1,1.5]"), "attack.eps=1.5 is out of range; it must be in [0, 1] "
                                              "(pixel units) for attack.norm=linf"),
    (("attack=fgsm", "attack.eps=[]"), "attack.eps: expected a value or a non-empty list"),
    (("attack=generator", "attack.eps=null"), "attack.eps=null and attack.penalty=0 leave the"),
    (("attack=deepfool", "+attack.eps=0.1"), "attack.eps is not a key of attack; its keys: overshoot, steps"),
])
def test_attack_messages(overrides, expected):
    assert expected in refusal("attack", "run=x", *overrides)


def test_valid_spellings_pass():
    check(composed("attack", "run=x", "attack=pgd", "attack.norm=l2", "attack.eps=[0,2.5]"), "attack")
    check(composed("attack", "run=x", "attack.eps=8/255", "target=3", "device=cuda:1"), "attack")
    check(composed("train", "dataset.features=[x1sq,x2sq]", "model.dropout=[0.1,0]"), "train")
    check(replaced(composed("train"), "dataset.features", ["x1^2", "sin(x2)"]), "train")


def test_an_option_that_does_not_fit_names_the_key_and_the_options_that_take_it():
    line = refusal("train", "experiment=cifar_ablation_hidden", "model=lenet")
    assert line.startswith("model.hidden is not a key of model; its keys: activation, padding, pooling")
    assert "model=cifar_cnn, cnn, linear, mlp, playground take it" in line
    assert "\n" not in line


def test_undeclared_keys_are_refused_with_the_declared_ones():
    assert "model.foo is not a key of model; its keys: activation, batchnorm, dropout, hidden" in \
        refusal("train", "+model.foo=1")
    assert "(did you mean 'model.hidden'?)" in refusal("train", "+model.hiden=1")
    assert "scheduler.gamma is not a key of scheduler; it takes no keys" in \
        refusal("train", "+scheduler.gamma=0.5")
    line = refusal("train", "+lr=0.1")
    assert "unknown config key 'lr'" in line and "(did you mean 'optimizer.lr'?)" in line


def test_keys_of_an_option_that_is_not_chosen_and_a_missing_group():
    assert refusal("train", "+probe.boundary.snapshots=3") == (
        "probe.boundary: no probe 'boundary' is chosen, so its keys do not apply; choose it with "
        "probe=[boundary]")
    assert refusal("train", "~model") == "model: no model chosen; choose one with model=OPTION"


def test_a_node_of_the_users_own_is_left_to_its_callable():
    """Any keys (its arguments are checked against its signature when it is built: test_models)."""
    values = replaced(composed("train"), "model", {"_target_": "torch.nn.Identity", "width": "any"})
    check(values, "train")
    check(composed("train", "model=custom", "model._target_=torch.nn.Identity", "+model.width=64",
                   "+model.blocks=[1,2]"), "train")


@pytest.mark.parametrize("target,expected", [
    ("???", "model._target_: not given; name your class with model._target_=MODULE.NAME"),
    ("Net", "model._target_=Net: expected MODULE.NAME, e.g. mymodels.TinyNet"),
    ("my.own.Net", "model._target_=my.own.Net: no module 'my' in "),
    ("torch.nn.Identiti", "'torch.nn' ("),
    ("torch.nn.Identiti", "has no 'Identiti' (did you mean 'torch.nn.Identity'?)"),
    ("torch.nn", "model._target_=torch.nn is a module, not a class or function to call"),
    ("math.pi", "model._target_=math.pi is a float, not a class or function to call"),
])
def test_a_users_target_must_import_and_be_callable(target, expected):
    line = refusal("train", "model=custom", change={"model._target_": target})
    assert expected in line and "\n" not in line


def test_model_custom_as_shipped_asks_for_the_class():
    assert refusal("train", "model=custom").startswith("model._target_: not given")


@pytest.mark.parametrize("typed,meant", [
    ("optimizer.learning_rate", "optimizer.lr"),
    ("lr", "optimizer.lr"),
    ("epoch", "epochs"),
    ("model.hiden", "model.hidden"),
    ("early_stopping.patiance", "early_stopping.patience"),
    ("probe.shift.maxshift", "probe.shift.max_shift"),
    ("batchsize", "batch_size"),
    ("zzz", None),
])
def test_closest_key(typed, meant):
    assert closest_key(typed, "train") == meant


def test_close_match_ignores_case_first():
    assert close_match("Relu", ["relu", "elu"]) == "relu"
    assert close_match("MLP", ["mlp", "deep"]) == "mlp"
    assert close_match("qqq", ["relu"]) is None


# --- the real command line, in-process --------------------------------------------------------------


def run_cli(tmp_path, monkeypatch, capsys, *argv: str) -> tuple[int, list[str]]:
    from nnlab.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # model=custom puts the folder there
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    return info.value.code, capsys.readouterr().err.strip().splitlines()


BAD_COMMAND_LINES = [
    (["train", "dataset=fashion_mnist", "dataset.val_size=abc"], "dataset.val_size: expected an integer"),
    (["train", "dataset=fashion_mnist", "dataset.train_size=null", "dataset.val_size=-5"],
     "dataset.val_size=-5 is out of range"),
    (["train", "scheduler=step", "scheduler.step_size=0"], "scheduler.step_size=0 is out of range"),
    (["train", "optimizer=sgd", "optimizer.nesterov=yes"], "optimizer.nesterov: expected true or false, got"),
    (["train", "optimizer.nesterov=true"], "optimizer=gd, sgd take it"),
    (["train", "model.activation=Relu"], "did you mean 'relu'"),
    (["train", "probe=[boundry]"], "probe=[boundry]: no such option; valid: boundary, confusion"),
    (["train", "experiment=cifar_ablation_hidden", "model=lenet"],
     "model.hidden is not a key of model=lenet; its keys: activation, padding, pooling"),
    (["train", "optimizer=adam", "optimizer.betas=[0.9,1.5]"], "optimizer.betas[1]=1.5 is out of range"),
    (["train", "experiment=nope"], "experiment=nope: no such option; valid: cifar10_cnn"),
    (["train", "optimizer.learning_rate=0.1"], "did you mean 'optimizer.lr'?"),
    (["train", "lr=0.1"], "did you mean 'optimizer.lr'?"),
    (["train", "+model.foo=1"], "model.foo is not a key of model=mlp"),
    (["train", "+experiment=xor_tanh"], "choose it with experiment=xor_tanh"),
    (["train", "model=custom", "+model.width=64"], "model._target_: not given"),
    (["train", "model=custom", "model._target_=nosuch.Net"], "no module 'nosuch' in "),
    (["train", "plots.format=pdf"], "unknown config key 'plots.format' (did you mean 'figures.format'?)"),
    (["train", "figures.format=jpg"], "figures.format: unknown value 'jpg'; valid: png, pdf, svg"),
    (["train", "figures.dpi=5"], "figures.dpi=5 is out of range; it must be in [10, 1200]"),
    (["attack", "run=X", "n=0"], "n=0 is out of range; it must be >= 1"),
    (["attack", "run=X", "attack.eps=[0.1,2]"], "attack.eps[1]=2 is out of range"),
    (["attack", "run=X", "attack.targeted=yes"], "attack.targeted: expected true or false"),
]


@pytest.mark.parametrize("argv,fragment", BAD_COMMAND_LINES, ids=[" ".join(a) for a, _ in BAD_COMMAND_LINES])
def test_bad_command_lines_are_one_line_exit_2_and_write_nothing(tmp_path, monkeypatch, capsys, argv,
                                                                  fragment):
    code, lines = run_cli(tmp_path, monkeypatch, capsys, *argv)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("nnlab: error: "), lines
    assert fragment in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []


def test_an_experiment_of_the_users_own_search_path_counts_as_an_option(tmp_path_factory, monkeypatch,
                                                                       capsys):
    """experiment=nope is refused (Hydra would skip an `optional` group's missing option without
    a word), but an experiment found through hydra.searchpath is the user's own, and is used."""
    mine = tmp_path_factory.mktemp("configs")
    (mine / "experiment").mkdir()
    (mine / "experiment" / "mine.yaml").write_text("# @package _global_\nepochs: 0\n")
    code, lines = run_cli(tmp_path_factory.mktemp("cwd"), monkeypatch, capsys, "train",
                          f"hydra.searchpath=[file://{mine}]", "experiment=mine")
    assert code == 2 and lines == ["nnlab: error: epochs=0 is out of range; it must be >= 1"]


@pytest.mark.parametrize("group", ["model", "dataset", "optimizer", "scheduler", "attack"])
def test_every_option_is_known_by_the_target_it_builds(group):
    """Hints such as `model.hidden ... model=cifar_cnn, cnn, linear, mlp, playground take it` come from this
    map; option files that extend a base (configs/_toy_dataset.yaml) must be in it too."""
    options = sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))
    mapped = sorted(o for opts in options_by_target(group).values() for o in opts)
    assert mapped == [o for o in options if not (group == "scheduler" and o == "none")]
