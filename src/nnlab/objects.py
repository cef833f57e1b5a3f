"""`make(node, **extra)`: what `hydra.utils.instantiate(node, **extra)` returns, for the flat nodes
nnlab builds for every run (a model, an optimizer, a schedule, a toy dataset).

Hydra's instantiate copies and walks the node before the call, about a millisecond each; a group
of a thousand jobs builds a thousand of each. A flat node (a `_target_`, optionally `_partial_`,
and plain values or lists of them) is the same call made directly; anything else (a nested
`_target_`, `_args_`, `_recursive_`, ...) goes to Hydra. Errors are wrapped as Hydra wraps them
(InstantiationException, the cause kept), so messages stay the same.
"""

from __future__ import annotations

import functools

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

_PLAIN = (str, int, float, bool, type(None))


def make(node, **extra):
    values = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)
    target = values.pop("_target_", None)
    partial = values.pop("_partial_", False)
    # as Hydra merges them into the node: a tuple becomes a list; other objects go to Hydra
    plain = {k: list(v) if isinstance(v, tuple) else v for k, v in extra.items() if k != "_convert_"}
    if (not isinstance(target, str) or not isinstance(partial, bool) or any(_special(k) for k in plain)
            or not all(_flat(v) for v in plain.values())
            or extra.get("_convert_", "all") not in ("all", "partial")
            or not all(not _special(k) and _flat(v) for k, v in values.items())):
        return instantiate(node, **extra)
    try:
        function = _located(target)
    except Exception:  # Hydra says why a target does not import
        return instantiate(node, **extra)
    extra = plain
    kwargs = {**values, **extra}
    if partial:
        return functools.partial(function, **kwargs)
    try:
        return function(**kwargs)
    except Exception as ex:
        raise InstantiationException(f"Error in call to target '{target}':\n{ex!r}") from ex


def _special(key: str) -> bool:
    return key.startswith("_") and key.endswith("_")


def _flat(value) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, _PLAIN) for v in value)
    return isinstance(value, _PLAIN)


@functools.lru_cache(maxsize=256)
def _located(target: str):
    from hydra._internal.utils import _locate

    return _locate(target)
