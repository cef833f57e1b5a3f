"""Walk a composed config against the declarations; the first problem becomes one UserError line.

Also `check_arguments`, which the attack classes call so that Python callers (`PGD(eps=-1)`) are
held to the same declarations as the command line.
"""

from __future__ import annotations

from collections.abc import Mapping

from omegaconf import OmegaConf

from nnlab.errors import UserError, unknown_option_line
from nnlab.models.custom import locate
from nnlab.schema.commands import COMMANDS
from nnlab.schema.keys import close_key_in, group_options, options_taking, unknown_key_line
from nnlab.schema.options import GROUPS
from nnlab.schema.types import (
    Group,
    GroupList,
    Invalid,
    OptionalSection,
    Section,
    Target,
    show,
)

MISSING = "???"  # OmegaConf's mark for a value nobody gave; the command says what it needs


def validate(cfg, command: str, choices: Mapping | None = None) -> None:
    """Check every key of `cfg` (composed for `command`; a DictConfig, resolved here, or its
    plain values) against its declaration.

    Raises UserError naming the key, the bad value, what is valid and, where one is close, the
    key or value that was probably meant. `choices` (Hydra's group -> chosen option) lets
    messages say `model=lenet` rather than the class it builds.
    """
    for group, chosen in (choices or {}).items():
        # `optional experiment: null` in the defaults list makes Hydra skip an option it cannot
        # find, so experiment=nope would otherwise run the defaults without a word.
        options = group_options(group) if "/" not in group else []
        if isinstance(chosen, str) and options and chosen not in options:
            raise UserError(unknown_option_line(group, chosen, options))
    values = (OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
              if OmegaConf.is_config(cfg) else cfg)
    _Walk(command, dict(choices or {})).section(values, COMMANDS[command], "")


def validate_keys(cfg, tops, command: str, choices: Mapping | None = None) -> None:
    """`validate` of the top-level keys `tops` of `cfg` only (a DictConfig): for a sweep's job
    that differs from a config validated whole only there (hydra_plugins/nnlab_launcher/template.py);
    microseconds a key, where a whole config takes a millisecond."""
    walk = _Walk(command, dict(choices or {}))
    section = COMMANDS[command]
    tops = set(tops)
    for top in [k for k in cfg if k in tops] + sorted(tops - set(cfg)):  # as `validate` meets them
        if top not in section.keys:
            raise UserError(unknown_key_line(top, command))
        node = cfg._get_node(top) if top in cfg else None
        value = (OmegaConf.to_container(node, resolve=True, throw_on_missing=False)
                 if OmegaConf.is_config(node) and not node._is_none() else cfg.get(top))
        walk.value(value, section.keys[top], top)


def check_arguments(target: str, prefix: str, **values) -> dict:
    """`values` (a callable's arguments) checked against the declaration of `target`, returned
    normalised ("8/255" -> 0.0314); a bad one raises UserError naming `prefix.key`."""
    return _Walk("", {}).target_values(values, GROUPS_BY_TARGET[target], prefix, owner=target)


def check_value(key: str, spec, value):
    """One value checked against a type of the vocabulary (for a Python caller's argument that
    is no config key, e.g. num_classes); UserError naming `key`."""
    return _Walk("", {}).value(value, spec, key)


GROUPS_BY_TARGET: dict[str, Target] = {t: d for group in GROUPS.values() for t, d in group.items()}


class _Walk:
    def __init__(self, command: str, choices: dict):
        self.command, self.choices = command, choices

    def value(self, value, spec, key: str):
        if isinstance(spec, Section):
            return self.section(value, spec, key)
        if isinstance(spec, Group):
            return self.group(value, spec, key, self._owner(key))
        if isinstance(spec, GroupList):
            for name, node in (value or {}).items():
                if isinstance(node, dict) and node and "_target_" not in node:
                    raise UserError(f"{key}.{name}: no {spec.name} '{name}' is chosen, so its keys do "
                                    f"not apply; choose it with {spec.name}=[{name}]")
                self.group(node, Group(spec.name), f"{key}.{name}", f"{spec.name}={name}")
            return value
        if value == MISSING:
            return value
        try:
            return spec.check(value)
        except Invalid as ex:
            raise UserError(ex.message(key)) from None

    def section(self, value, section: Section, key: str):
        if value is None and isinstance(section, OptionalSection):
            return None
        if not isinstance(value, dict):
            raise UserError(f"{key}: expected keys ({', '.join(section.keys)}), got {show(value)}")
        out = {}
        for name, item in value.items():
            full = _join(key, name)
            if name not in section.keys:
                raise UserError(unknown_key_line(full, self.command) if self.command
                                else f"{full}: not a key; keys: {', '.join(section.keys)}")
            out[name] = self.value(item, section.keys[name], full)
        for name, spec in section.keys.items():
            if isinstance(spec, Group) and not spec.optional and name not in value:
                raise UserError(f"{_join(key, name)}: no {spec.name} chosen; choose one with "
                                f"{spec.name}=OPTION")
        return out

    def group(self, node, group: Group, key: str, owner: str):
        if node is None or node == {}:
            if group.optional:
                return node
            raise UserError(f"{key}: no {group.name} chosen; choose one with {group.name}=OPTION")
        if not isinstance(node, dict):
            raise UserError(f"{key}: expected an option of {group.name}, got {show(node)}")
        target = node.get("_target_")
        declared = GROUPS[group.name].get(target) if isinstance(target, str) else None
        if target is None:
            declared = Target({})  # an empty option (scheduler=none) takes no keys
        elif declared is None:
            # A callable of the user's own (model=custom): it must import and be callable; its
            # arguments are its own business, checked against its signature when it is built.
            locate(target, f"{key}._target_")
            return node
        return self.target_values(node, declared, key, owner, group)

    def target_values(self, node: dict, declared: Target, key: str, owner: str,
                      group: Group | None = None) -> dict:
        lists = group.lists if group is not None else ()
        out = {}
        for name, value in node.items():
            if name.startswith("_") and name.endswith("_"):
                continue  # Hydra's own keys: _target_, _partial_, ...
            full = _join(key, name)
            if name not in declared.keys:
                raise UserError(self._not_a_key(full, declared, owner, group))
            if name in lists and isinstance(value, list):
                if not value:
                    raise UserError(f"{full}: expected a value or a non-empty list of values, got []")
                out[name] = [self.value(v, declared.keys[name], f"{full}[{i}]")
                             for i, v in enumerate(value)]
            else:
                out[name] = self.value(value, declared.keys[name], full)
        for rule in declared.rules:
            for case in _cases(out, lists):
                problem = rule(case, lambda short: _join(key, short))
                if problem:
                    raise UserError(problem)
        return out

    def _owner(self, key: str) -> str:
        top = key.split(".")[0]
        chosen = self.choices.get(top)
        return f"{top}={chosen}" if isinstance(chosen, str) and chosen else key

    def _not_a_key(self, full: str, declared: Target, owner: str, group: Group | None) -> str:
        """`model.hidden is not a key of model=lenet; its keys: ...; model=mlp, ... take it: ...`"""
        parent, _, name = full.rpartition(".")
        keys = sorted(declared.keys)
        line = f"{full} is not a key of {owner}"
        line += f"; its keys: {', '.join(keys)}" if keys else "; it takes no keys"
        hint = close_key_in(name, keys)
        if hint:
            return line + f" (did you mean '{_join(parent, hint)}'?)"
        if group is not None and parent == group.name:
            others = options_taking(group.name, name)
            if others:
                verb = "takes" if len(others) == 1 else "take"
                line += (f"; {group.name}={', '.join(others)} {verb} it: choose one of those, or "
                         f"leave {full} out (an experiment preset may have set it)")
        return line


def _cases(values: dict, lists) -> list[dict]:
    """The values once per item of a list-valued key (attack.eps=[0.1,0.3]: each eps its case)."""
    for name in lists:
        if isinstance(values.get(name), list):
            return [{**values, name: item} for item in values[name]]
    return [values]


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else str(key)
