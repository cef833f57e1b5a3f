"""`nnlab train --help`, `nnlab attack --help`: the config groups and keys that command uses, a
line each, as composed from the command line typed (`nnlab train model=lenet --help` lists
LeNet's keys, an experiment preset's values show).

What each line says comes from where it is written once: the comment after the key in the config
files (configs/train.yaml, configs/model/mlp.yaml, ...), else the key's declaration (`an integer
>= 1`); the groups a command uses are those in its primary config's defaults list. Hydra renders
the text through the `${nnlab_help:<command>}` resolver in the command's `hydra.help.template`.
"""

from __future__ import annotations

import re
from importlib import resources

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from nnlab.schema.commands import COMMANDS
from nnlab.schema.options import GROUPS
from nnlab.schema.types import Group, GroupList, Section, Target

# One line about each config group a command can choose an option of.
GROUP_HELP = {
    "model": "the network",
    "optimizer": "how the weights are updated",
    "scheduler": "the learning rate over the epochs (stepped once per epoch)",
    "dataset": "the data, its splits and augmentation",
    "probe": "analyses of the model, several at once: probe=[confusion,shift]",
    "logger": "where metrics go besides metrics.csv",
    "adversarial": "adversarial training: learn from attacked batches",
    "experiment": "a preset that states only what differs from the defaults",
    "hparams_search": "an Optuna study over a search space",
    "attack": "the attack: how adversarial examples are made",
}
KEY_COLUMN = 32  # where the description starts


def command_help(command: str, cfg: DictConfig) -> str:
    """The groups and keys of `command` (train, attack), with `cfg` the composed config."""
    from hydra.core.hydra_config import HydraConfig

    choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    groups = primary_groups(command)
    lines = ["== Config groups: group=option chooses an option (shown: the one chosen now) =="]
    for group in groups:
        lines.append(_line(f"{group}={_chosen(choices.get(group), cfg, group)}",
                           f"{GROUP_HELP.get(group, '')}; options: {', '.join(_options(group))}"))
    lines += ["", "== Keys of the chosen options: group.key=value =="]
    for group in groups:
        node = cfg.get(group) if group in cfg else None
        if isinstance(node, DictConfig) and len(node):
            comments = _option_comments(group, choices.get(group), node)
            if _users_class(group, node):  # model=custom: the class is the key to give
                path = f"{group}._target_"
                lines.append(_line(f"{path}={_typed(node._get_node('_target_'))}", comments.get(path)
                                   or "your class or function, as MODULE.NAME"))
            for path, value in _leaves(node, group):
                lines.append(_line(f"{path}={value}", comments.get(path)
                                   or _declared(command, path, cfg) or ""))
    lines += ["", f"== Keys of nnlab {command}: key=value =="]
    comments = _comments(f"{command}.yaml", "")
    for path, value in _leaves(cfg, "", skip={*groups, "hydra"}):
        lines.append(_line(f"{path}={value}", comments.get(path) or _declared(command, path, cfg) or ""))
    return "\n".join(lines)


def _users_class(group: str, node: DictConfig) -> bool:
    """Whether the node builds a class of the user's (not one nnlab declares), or still names none."""
    from nnlab.schema.options import GROUPS

    if "_target_" not in node.keys() or group not in GROUPS:  # (`in node`: False when it is ???)
        return False
    target = node._get_node("_target_")
    return target._is_missing() or str(target._value()) not in GROUPS[group]


def primary_groups(command: str) -> list[str]:
    """The config groups in the defaults list of the command's primary config, in its order."""
    node = yaml.safe_load(_config_text(f"{command}.yaml")) or {}
    groups = []
    for entry in node.get("defaults", []):
        if isinstance(entry, dict):
            (key,) = entry
            groups.append(key.removeprefix("optional ").removeprefix("override ").strip())
    return groups


def _chosen(choice, cfg, group: str) -> str:
    if group == "probe":  # a list of options
        return "[" + ",".join(cfg.get(group) or {}) + "]"
    return "null" if choice in (None, "null") else str(choice)


def _options(group: str) -> list[str]:
    from nnlab.schema.keys import group_options

    return group_options(group)


def _line(left: str, about: str) -> str:
    left = f"  {left}"
    return f"{left:<{KEY_COLUMN}} {about}".rstrip() if len(left) < KEY_COLUMN else f"{left}  {about}".rstrip()


def _leaves(node, prefix: str, skip=()):
    """(dotted path, value as typed) of every key below `node`, Hydra's `_..._` keys and `skip`
    left out."""
    for key in node:
        if str(key).startswith("_") and str(key).endswith("_") or key in skip:
            continue
        path = f"{prefix}.{key}" if prefix else str(key)
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none() and len(child):
            yield from _leaves(child, path)
        else:
            yield path, _typed(child)


def _typed(node) -> str:
    """A config value as one would type it: null, true, [16,16], ${seed} kept as written."""
    if node._is_missing():
        return "???"
    if node._is_interpolation():
        return str(node._value())
    value = OmegaConf.to_container(node) if isinstance(node, (DictConfig, ListConfig)) else node._value()

    def text(v):
        if v is None:
            return "null"
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, (list, tuple)):
            return "[" + ",".join(text(i) for i in v) + "]"
        if isinstance(v, dict):
            return "{" + ",".join(f"{k}:{text(i)}" for k, i in v.items()) + "}"
        return str(v)

    return text(value)


# ------------------------------------------------------------------------ comments in the files


def _config_text(name: str) -> str:
    return (resources.files("nnlab.configs") / name).read_text()


_KEY = re.compile(r"^(\s*)([A-Za-z_][\w.]*):(.*)$")
_COMMENT = re.compile(r"^(\s*)#\s?(.*)$")


def _comments(name: str, prefix: str) -> dict[str, str]:
    """path -> the comment after the key in the config file `name` (with its continuation lines:
    comment-only lines indented past the key), paths under `prefix`; {} if the file is not there."""
    try:
        text = _config_text(name)
    except (FileNotFoundError, OSError):
        return {}
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings above this line
    last: tuple[int, str] | None = None  # (column of its comment, path) of the last commented key
    for line in text.splitlines():
        comment = _COMMENT.match(line)
        if comment:
            if last and len(comment.group(1)) >= last[0] > 0:
                found[last[1]] += " " + comment.group(2).strip()
            continue
        key = _KEY.match(line)
        if not key or line.lstrip().startswith("-"):
            last = None
            continue
        indent, name_, rest = len(key.group(1)), key.group(2), key.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(k for _, k in stack), name_])
        stack.append((indent, name_))
        value, hash_, about = _split_comment(rest)
        last = None
        if hash_ and about.strip():
            full = f"{prefix}.{path}" if prefix else path
            found[full] = about.strip()
            last = (line.index("#"), full)
    return found


def _split_comment(rest: str) -> tuple[str, bool, str]:
    """`value   # about` -> (value, True, about); a # inside quotes is part of the value."""
    quote = None
    for i, ch in enumerate(rest):
        if ch in "'\"" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or rest[i - 1].isspace()):
            return rest[:i], True, rest[i + 1:]
    return rest, False, ""


def _option_comments(group: str, option, node) -> dict[str, str]:
    """The comments of the chosen option's file and the base files it extends, by full path:
    a file in the group's package gets `group.` in front, a global one (`# @package _global_`)
    is read as it stands."""
    found: dict[str, str] = {}
    names = [f"{group}/{o}" for o in (list(node) if group == "probe" else [option]) if o]
    for name in names:
        try:
            text = _config_text(f"{name}.yaml")
        except (FileNotFoundError, OSError):
            continue
        is_global = "@package _global_" in text.split("\n", 3)[0] + text.split("\n", 3)[1]
        for base in (yaml.safe_load(text) or {}).get("defaults", []):
            if isinstance(base, str) and base.startswith("/"):
                file, _, package = base[1:].partition("@")
                found.update(_comments(f"{file}.yaml", group if package == "_here_" else ""))
        found.update(_comments(f"{name}.yaml", "" if is_global else group))
    return found


def _declared(command: str, path: str, cfg) -> str | None:
    """What the declaration of the key says is valid (`an integer >= 1`), where it has one."""
    spec, node, parts, i = COMMANDS[command], cfg, path.split("."), 0
    while True:
        if isinstance(spec, GroupList):  # probe.<name>.key: the name picks the node
            if i == len(parts):
                return None
            spec, node, i = Group(spec.name), _child(node, parts[i]), i + 1
        elif isinstance(spec, Group):
            declared = GROUPS[spec.name].get(node.get("_target_") if isinstance(node, DictConfig) else None)
            if declared is None:
                return None
            spec = Section(declared.keys)
        elif isinstance(spec, (Section, Target)):
            if i == len(parts):
                return None
            spec, node, i = spec.keys.get(parts[i]), _child(node, parts[i]), i + 1
            if spec is None:
                return None
        else:
            return spec.describe() if i == len(parts) else None


def _child(node, key: str):
    return node.get(key) if isinstance(node, DictConfig) else None
