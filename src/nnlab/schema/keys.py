"""What the declarations know about key names, for messages: every declared key of a command,
the closest one to a misspelt key, and which options of a group take a key.

`optimizer.learning_rate` -> `optimizer.lr` (an abbreviation), `lr=0.1` -> `optimizer.lr` (the
same name elsewhere), `epoch` -> `epochs` (a near spelling under the same parent).
"""

from __future__ import annotations

import difflib
import functools
from importlib import resources
from pathlib import Path as PathLib

import yaml

from nnlab.schema.commands import COMMANDS
from nnlab.schema.options import GROUPS
from nnlab.schema.types import Group, GroupList, Section

ANY = "*"  # stands for a name the user picks (probe=[shift] puts its keys under probe.shift)


def _paths(spec, prefix: str):
    if isinstance(spec, Section):
        for key, sub in spec.keys.items():
            yield _join(prefix, key)
            yield from _paths(sub, _join(prefix, key))
    elif isinstance(spec, (Group, GroupList)):
        inner = prefix if isinstance(spec, Group) else _join(prefix, ANY)
        for target in GROUPS[spec.name].values():
            yield from _paths(Section(target.keys), inner)


@functools.cache
def declared_keys(command: str) -> tuple[str, ...]:
    """Every key of the command's config, in declaration order; `*` marks a name of the user's."""
    return tuple(dict.fromkeys(_paths(COMMANDS[command], "")))


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _fill(pattern: str, typed: str) -> str:
    """`probe.*.count` read against `probe.shift.cuont` -> `probe.shift.count`."""
    typed_parts = typed.split(".")
    parts = pattern.split(".")
    return ".".join(typed_parts[i] if p == ANY and i < len(typed_parts) else p
                    for i, p in enumerate(parts))


def keys_under(parent: str, command: str) -> list[str]:
    """The declared keys directly under `parent` ('' for the top level), sorted."""
    found = set()
    for path in declared_keys(command):
        head, _, leaf = _fill(path, parent + ".x").rpartition(".")
        if head == parent:
            found.add(leaf)
    return sorted(found)


def _initials(name: str) -> str:
    return "".join(part[0] for part in name.split("_") if part)


def _likeness(typed: str, declared: str) -> float:
    """1 for the same name (any case), 0.95 for an abbreviation (lr ~ learning_rate), else
    difflib's ratio."""
    typed, declared = typed.lower(), declared.lower()
    if typed == declared:
        return 1.0
    longer = typed if len(typed) > len(declared) else declared
    if "_" in longer and _initials(longer) in (typed, declared):
        return 0.95
    return difflib.SequenceMatcher(None, typed, declared).ratio()


def closest_key(typed: str, command: str) -> str | None:
    """The declared key a person most likely meant by `typed`: a near name under the same parent,
    else the same (or nearly the same) name anywhere in the config; None if nothing is close."""
    parent, _, leaf = typed.rpartition(".")
    best, best_score = None, 0.0
    for pattern in declared_keys(command):
        path = _fill(pattern, typed)
        if ANY in path.split(".") or path == typed:
            continue
        head, _, name = path.rpartition(".")
        likeness = _likeness(leaf, name)
        same_parent = head == parent
        if likeness < (0.6 if same_parent else 0.8):
            continue
        score = likeness + (0.1 if same_parent else 0.0)
        if score > best_score:
            best, best_score = path, score
    return best


def unknown_key_line(full_key: str, command: str) -> str:
    """`epoch=5` -> unknown config key 'epoch'; keys at the top level: ... (did you mean 'epochs'?)"""
    parent, _, name = full_key.rpartition(".")
    in_group = isinstance(COMMANDS[command].keys.get(parent), Group)
    others = options_taking(parent, name) if in_group else []
    if others:  # optimizer.nesterov=true while optimizer=adam: name the options that have it
        verb = "takes" if len(others) == 1 else "take"
        return (f"unknown config key '{full_key}' for the chosen {parent}; {parent}={', '.join(others)} "
                f"{verb} it: choose one of those ({parent}={others[0]} {full_key}=...)")
    valid = keys_under(parent, command)
    where = (f"under '{parent}' (any {parent} option)" if in_group else
             f"under '{parent}'" if parent else "at the top level")
    line = f"unknown config key '{full_key}'" + (f"; keys {where}: {', '.join(valid)}" if valid else "")
    hint = closest_key(full_key, command)
    if hint:
        return line + f" (did you mean '{hint}'?)"
    # Undeclared keys are refused wherever nnlab declares keys; +key=value still adds keys for
    # Hydra itself and for a _target_ of your own.
    return line + ("" if valid else "; add a new key with +key=value")


# --------------------------------------------------------------------------------- config files


def group_options(group: str) -> list[str]:
    """The options of a config group: while a command runs, those in every folder of Hydra's
    search path (so a hydra.searchpath of the user's counts too); else the tree nnlab ships."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return _shipped_options(group)
    sources = tuple((s.schema, s.path) for s in HydraConfig.get().runtime.config_sources)
    return list(_options_in(sources, group))


@functools.lru_cache(maxsize=256)  # a sweep validates every job: list each folder once
def _options_in(sources: tuple, group: str) -> tuple[str, ...]:
    found = set()
    for schema, path in sources:
        if schema == "file":
            folder = PathLib(path) / group
            found |= {p.stem for p in folder.glob("*.yaml")} if folder.is_dir() else set()
        elif schema == "pkg":
            try:
                folder = resources.files(path) / group
            except ModuleNotFoundError:
                continue
            if folder.is_dir():
                found |= {p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")}
    return tuple(sorted(found))


def _shipped_options(group: str) -> list[str]:
    folder = resources.files("nnlab.configs") / group
    if not folder.is_dir():
        return []
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def option_configs(group: str) -> dict[str, dict]:
    """option -> its config as Hydra composes it (over the bases it extends), for every option of
    `group` that nnlab ships."""
    return {option: _with_bases(f"{group}/{option}") for option in _shipped_options(group)}


@functools.cache
def options_by_target(group: str) -> dict[str, list[str]]:
    """_target_ -> the options of `group` that instantiate it (model: MLP -> [linear, mlp])."""
    found: dict[str, list[str]] = {}
    for option in _shipped_options(group):
        target = _first_target(_with_bases(f"{group}/{option}"), group)
        if target:
            found.setdefault(target, []).append(option)
    return found


def _with_bases(name: str) -> dict:
    """A shipped config file's contents, over those of the base files its defaults list names by
    absolute path (configs/dataset/circle.yaml extends /_toy_dataset, which sets the _target_)."""
    node = yaml.safe_load((resources.files("nnlab.configs") / f"{name}.yaml").read_text()) or {}
    merged: dict = {}
    for entry in node.get("defaults", []):
        if isinstance(entry, str) and entry.startswith("/"):
            merged = _merged(merged, _with_bases(entry[1:].split("@")[0]))
    return _merged(merged, node)


def _merged(base: dict, over: dict) -> dict:
    """`over` on top of `base`, nested mappings merged key by key (as Hydra merges configs)."""
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both else value
    return out


def _first_target(node, group: str, depth: int = 0) -> str | None:
    """The _target_ an option file sets: at its top, under the group's key (global package
    files), or under its one named entry (probes)."""
    if not isinstance(node, dict) or depth > 1:
        return None
    if isinstance(node.get("_target_"), str):
        return node["_target_"]
    for key in ([group] if group in node else [k for k in node if k != "defaults"]):
        found = _first_target(node[key], group, depth + 1)
        if found:
            return found
    return None


def close_key_in(name: str, keys, cutoff: float = 0.8) -> str | None:
    """The key of `keys` nearest to `name`, if it is near enough to be a slip of the keyboard."""
    scored = sorted(((_likeness(name, key), key) for key in keys), reverse=True)
    return scored[0][1] if scored and scored[0][0] >= cutoff else None


def options_taking(group: str, key: str) -> list[str]:
    """The options of `group` whose declared keys include `key` (hidden -> cifar_cnn, cnn, ...)."""
    return sorted(option for target, options in options_by_target(group).items()
                  if key in getattr(GROUPS[group].get(target), "keys", {}) for option in options)
