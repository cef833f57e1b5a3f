"""A model of your own: `nnlab train model=custom model._target_=mymodels.TinyNet +model.width=64`.

The interface (the README's "Your own model" says the same):

- `_target_` names a torch.nn.Module class, or a function returning a module, as MODULE.NAME. The
  module is found as Python finds a script's own modules: a MODULE.py in the folder nnlab runs
  from (which `locate` puts on sys.path, after the installed packages), or anything importable.
- It is called with keyword arguments: `input_shape` (the dataset's, as a list: [1, 28, 28],
  [3, 32, 32], or [2] for a toy's two features) and `num_classes`, plus the keys of the config's
  `model` node (model=custom has none but `_target_`: only the keys you add, `+model.width=64`),
  all as plain Python values (lists, dicts, numbers, strings).
- Its forward takes a batch [B, *input_shape] and returns logits [B, num_classes] (no softmax:
  the loss applies it). Image datasets' batches arrive normalised by the dataset's mean and std:
  nnlab wraps the module in `Normalized`, so the model it trains and attacks takes pixels in
  [0, 1]. Toy datasets' feature vectors arrive as they are.

Checked before anything is trained or written, each problem one UserError line naming the class
and the argument: a `_target_` that cannot be imported or called (when the config is validated),
an argument the constructor does not take or needs and is not given, a result that is not a
module or whose logits have the wrong shape (when the model is built).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
from types import ModuleType

import torch
from torch import nn

from nnlab.errors import UserError
from nnlab.models.modes import evaluating

# What nnlab passes to every model, from the dataset, beside the model node's own keys.
PASSED = ("input_shape", "num_classes")
MISSING = "???"  # OmegaConf's mark for a value nobody gave: model=custom's _target_
EXAMPLE = "mymodels.TinyNet for class TinyNet in mymodels.py"


def locate(target, key: str = "model._target_"):
    """The callable `target` names ('mymodels.TinyNet'), its module imported. UserError (naming
    `key`) if no module or attribute of that name can be found, or it cannot be called; an error
    raised while the user's module itself runs keeps its traceback."""
    if target == MISSING:
        raise UserError(f"{key}: not given; name your class with {key}=MODULE.NAME (e.g. "
                        f"{EXAMPLE} in the folder you run nnlab from)")
    parts = str(target).split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        raise UserError(f"{key}={target}: expected MODULE.NAME, e.g. {EXAMPLE}")
    _current_folder_importable()
    found = _import(parts[0], key, target)
    for i, part in enumerate(parts[1:], start=1):
        if isinstance(found, ModuleType) and not hasattr(found, part):
            try:  # a submodule not yet imported (mypackage.models.TinyNet)
                found = importlib.import_module(".".join(parts[:i + 1]))
                continue
            except ModuleNotFoundError as ex:
                if ex.name != ".".join(parts[:i + 1]):
                    raise
        if not hasattr(found, part):
            raise UserError(_no_attribute(found, parts[:i], part, key, target))
        found = getattr(found, part)
    if isinstance(found, ModuleType) or not callable(found):
        raise UserError(f"{key}={target} is a {type(found).__name__}, not a class or function to "
                        f"call; name the model class inside it, e.g. {EXAMPLE}")
    return found


def _current_folder_importable() -> None:
    """The folder nnlab runs from on sys.path, as for `python script.py` (the `nnlab` console
    script's own folder is there instead). Appended: an installed package is never shadowed by a
    file of the same name (a torch.py beside the run)."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
        importlib.invalidate_caches()


def _import(name: str, key: str, target: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as ex:
        if ex.name != name:
            raise  # the user's module imports something missing: its traceback says where
        here = [p.removesuffix(".py") for p in os.listdir() if p.endswith(".py")]
        hint = next(iter(difflib.get_close_matches(name, here, n=1)), None)
        raise UserError(f"{key}={target}: no module '{name}' in {os.getcwd()} or the installed "
                        f"packages; put {name}.py in the folder you run nnlab from, or add its "
                        f"folder to PYTHONPATH" + (f" (did you mean '{hint}'?)" if hint else "")) from None


def _no_attribute(module, path: list[str], name: str, key: str, target: str) -> str:
    where = ".".join(path)
    hint = next(iter(difflib.get_close_matches(name, [n for n in dir(module) if not n.startswith("_")],
                                               n=1)), None)
    source = getattr(module, "__file__", None)
    return (f"{key}={target}: '{where}'{f' ({source})' if source else ''} has no '{name}'"
            + (f" (did you mean '{where}.{hint}'?)" if hint else ""))


def check_arguments(build, target: str, keys, key: str = "model") -> None:
    """UserError naming the class and the argument if `build` (what `target` names) cannot be
    called with input_shape, num_classes and the node's `keys`."""
    try:
        parameters = inspect.signature(build).parameters
    except (TypeError, ValueError):
        return  # no signature to read (a builtin): the call itself will say
    named = {n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    given = [*PASSED, *(k for k in keys if k not in PASSED)]
    takes = ", ".join(n for n, p in parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    for name in given:
        if name in named or takes_any:
            continue
        if name in PASSED:
            raise UserError(f"{key}: {target} does not take '{name}', which nnlab passes to every "
                            f"model with {' and '.join(n for n in PASSED if n != name)}; add both to "
                            f"its constructor (it takes: {takes or 'nothing'})")
        raise UserError(f"{key}.{name}: {target} does not take '{name}' (it takes: {takes or 'nothing'}); "
                        f"leave {key}.{name} out (model=custom passes only input_shape, num_classes "
                        f"and the {key}.* keys you add with +{key}.KEY=VALUE)")
    for name, p in parameters.items():
        required = p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        if required and (name not in given or p.kind is p.POSITIONAL_ONLY):
            raise UserError(f"{key}: {target} needs '{name}', which the config does not give; add "
                            f"+{key}.{name}=VALUE (or give '{name}' a default)")


def check_output(net, target: str, input_shape: tuple, num_classes: int) -> None:
    """UserError unless `net` is a module whose logits for a batch [2, *input_shape] (zeros, in
    eval mode, without gradients) have the shape [2, num_classes]."""
    if not isinstance(net, nn.Module):
        raise UserError(f"model: {target} returned a value of type {type(net).__name__}, not a "
                        "torch.nn.Module")
    with torch.no_grad(), evaluating(net):
        out = net(torch.zeros(2, *input_shape))
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
    if shape != (2, num_classes):
        got = f"shape {list(shape)}" if shape is not None else f"a {type(out).__name__}"
        raise UserError(f"model: {target} returned {got} for a batch of shape [2, "
                        f"{', '.join(map(str, input_shape))}]; it must return logits of shape "
                        f"[batch, num_classes] = [2, {num_classes}]")
