"""The vocabulary of declarations: what one key may hold.

A type checks one plain value (what OmegaConf resolves to: int, float, bool, str, None, list,
dict) and returns it, normalised where another spelling is accepted (a feature alias, "8/255").
A value it refuses raises `Invalid` with the reason; the walker (`nnlab.schema.validate`) puts the
key in front, so every message reads the same way:

    epochs=-1 is out of range; it must be >= 1
    optimizer.nesterov: expected true or false, got 'yes'
    model.activation: unknown value 'Relu'; valid: relu, tanh, ... (did you mean 'relu'?)
"""

from __future__ import annotations

import difflib
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field


class Invalid(Exception):
    """A refused value. `reason` follows the key: after ': ' for a wrong type or choice, after
    '=<value> ' when `shown` is set (out of range). `at` locates an item below the key ('[1]')."""

    def __init__(self, reason: str, *, shown: str | None = None, at: str = ""):
        super().__init__(reason)
        self.reason, self.shown, self.at = reason, shown, at

    def message(self, key: str) -> str:
        key += self.at
        return f"{key}={self.shown} {self.reason}" if self.shown is not None else f"{key}: {self.reason}"


def show(value) -> str:
    """A value as a person would type it after `key=` (null, true, 0.5, 'text', [1, 2])."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Type(ABC):
    """Base of the vocabulary: `check(value) -> value` and `describe()` (what is valid)."""

    @abstractmethod
    def check(self, value):
        """`value`, normalised; Invalid if it is refused."""

    @abstractmethod
    def describe(self) -> str:
        """What is valid, e.g. 'an integer >= 1', for messages."""

    def wrong(self, value) -> Invalid:
        return Invalid(f"expected {self.describe()}, got {show(value)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


class _Range:
    """Bounds shared by Int and Float; `min_open`/`max_open` exclude the bound itself."""

    def __init__(self, min=None, max=None, *, min_open=False, max_open=False):
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open

    def bounds(self) -> str:
        """'>= 1', '> 0', '<= 1', 'in [0, 1)' (bounds printed as declared)."""
        if self.min is not None and self.max is not None:
            return (f"in {'(' if self.min_open else '['}{self.min}, {self.max}"
                    f"{')' if self.max_open else ']'}")
        if self.min is not None:
            return f"{'>' if self.min_open else '>='} {self.min}"
        if self.max is not None:
            return f"{'<' if self.max_open else '<='} {self.max}"
        return ""

    def in_range(self, value) -> bool:
        low_ok = self.min is None or (value > self.min if self.min_open else value >= self.min)
        high_ok = self.max is None or (value < self.max if self.max_open else value <= self.max)
        return low_ok and high_ok

    def check_range(self, value, shown: str):
        if not self.in_range(value):
            raise Invalid(f"is out of range; it must be {self.bounds()}", shown=shown)
        return value


class Int(Type, _Range):
    """A whole number (not a bool, not 2.0), optionally bounded: Int(min=1)."""

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong(value)
        return self.check_range(value, show(value))

    def describe(self) -> str:
        return f"an integer {self.bounds()}".rstrip()


_FRACTION = re.compile(r"^\s*([0-9.eE+-]+)\s*/\s*([0-9.eE+-]+)\s*$")


class Float(Type, _Range):
    """A finite number (an int is fine, a bool is not), optionally bounded, with open ends:
    Float(0, 1, max_open=True) is [0, 1). `fraction=True` also takes "8/255" (how pixel budgets
    are written in papers and YAML) and returns the number."""

    def __init__(self, min=None, max=None, *, min_open=False, max_open=False, fraction=False):
        _Range.__init__(self, min, max, min_open=min_open, max_open=max_open)
        self.fraction = fraction

    def check(self, value):
        if self.fraction and isinstance(value, str) and _FRACTION.match(value):
            top, bottom = _FRACTION.match(value).groups()
            try:
                value = float(top) / float(bottom)
            except (ValueError, ZeroDivisionError):
                raise self.wrong(value) from None
        if not _is_number(value) or not math.isfinite(value):
            raise self.wrong(value)
        return float(self.check_range(value, show(value)))

    def describe(self) -> str:
        text = f"a number {self.bounds()}".rstrip()
        return text + (" (a fraction such as 8/255 also works)" if self.fraction else "")


class Bool(Type):
    """true or false, and nothing else: 'yes', 1 or 'True' typed as text are refused."""

    def check(self, value):
        if not isinstance(value, bool):
            raise self.wrong(value)
        return value

    def describe(self) -> str:
        return "true or false"


class Str(Type):
    """A non-empty text; `what` says what it means in messages."""

    def __init__(self, what: str = "a text"):
        self.what = what

    def check(self, value):
        if not isinstance(value, str) or not value:
            raise self.wrong(value)
        return value

    def describe(self) -> str:
        return self.what


class Path(Str):
    """A file or folder path (existence is checked where it is used)."""

    def __init__(self, what: str = "a path"):
        super().__init__(what)


class TrackingUri(Str):
    """An MLflow tracking URI: a scheme MLflow's stores know (sqlite:///PATH, http://host:port,
    postgresql://..., file:///PATH, databricks) or an absolute folder. Whether the store answers
    is found when a run starts (a warning, not an error: the run goes on without it)."""

    SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql", "databricks",
               "databricks-uc")

    def __init__(self):
        super().__init__("an MLflow tracking URI (sqlite:///PATH, http://HOST:PORT, file:///PATH, ...)")

    def check(self, value):
        value = super().check(value)
        scheme = value.split("://", 1)[0].split("+", 1)[0] if "://" in value else value
        if value.startswith("/") or scheme in self.SCHEMES:
            return value
        raise self.wrong(value)


def close_match(value, valid) -> str | None:
    """The valid spelling closest to `value`: the same letters in another case first (Relu ->
    relu), then difflib's nearest; None when nothing is close."""
    text = str(value).lower()
    names = [str(v) for v in valid]
    for name in names:
        if name.lower() == text:
            return name
    hint = difflib.get_close_matches(text, [n.lower() for n in names], n=1)
    return names[[n.lower() for n in names].index(hint[0])] if hint else None


class Choice(Type):
    """One of a fixed set of values (type-strict: true is not 1). `aliases` maps other accepted
    spellings to a value, which `check` returns instead."""

    def __init__(self, values, aliases: dict | None = None):
        self.values, self.aliases = list(values), dict(aliases or {})

    def check(self, value):
        for valid in self.values:
            if type(valid) is type(value) and valid == value:
                return value
        if isinstance(value, str) and value in self.aliases:
            return self.aliases[value]
        hint = close_match(value, [*self.values, *self.aliases]) if isinstance(value, str) else None
        raise Invalid(f"unknown value {show(value)}; valid: {self._listed()}"
                      + (f" (did you mean {hint!r}?)" if hint else ""))

    def _listed(self) -> str:
        text = ", ".join(show(v) if not isinstance(v, str) else v for v in self.values)
        return text + (f" (or {', '.join(self.aliases)})" if self.aliases else "")

    def describe(self) -> str:
        return f"one of {self._listed()}"


class Device(Choice):
    """auto, cpu, cuda or cuda:N (whether that device exists is checked when it is used)."""

    def __init__(self):
        super().__init__(["auto", "cpu", "cuda"])

    def check(self, value):
        if isinstance(value, str) and re.fullmatch(r"cuda:\d+", value):
            return value
        return super().check(value)

    def _listed(self) -> str:
        return "auto, cpu, cuda, cuda:N"


class Optional(Type):
    """`inner`, or null."""

    def __init__(self, inner: Type):
        self.inner = inner

    def check(self, value):
        return None if value is None else self.inner.check(value)

    def describe(self) -> str:
        return f"{self.inner.describe()}, or null"


class ListOf(Type):
    """A list whose items are each `item`; `min_len`/`length` bound its size, `unique` refuses an
    item given twice (compared after normalisation, so an alias and its value are the same item)."""

    def __init__(self, item: Type, *, min_len: int = 0, length: int | None = None,
                 unique: bool = False, example: str = ""):
        self.item, self.min_len, self.length, self.unique = item, min_len, length, unique
        self.example = example

    def check(self, value):
        if not isinstance(value, (list, tuple)):
            raise self.wrong(value)
        if (self.length is not None and len(value) != self.length) or len(value) < self.min_len:
            raise self.wrong(value)
        out = []
        for i, item in enumerate(value):
            try:
                item = self.item.check(item)
            except Invalid as ex:
                ex.at = f"[{i}]{ex.at}"
                raise
            if self.unique and item in out:
                raise Invalid(f"lists {show(item)} twice; give each at most once")
            out.append(item)
        return out

    def describe(self) -> str:
        shape = (f"a list of {self.length}" if self.length is not None
                 else "a non-empty list" if self.min_len == 1 else "a list")
        shape += f" such as {self.example}" if self.example else ""
        return f"{shape}, each {self.item.describe()}"


class PerLayer(Type):
    """One value for every hidden layer, or a list with one value per hidden layer (whether the
    list is as long as the model is deep is a rule of the model's declaration)."""

    def __init__(self, item: Type):
        self.item, self.items = item, ListOf(item)

    def check(self, value):
        if isinstance(value, (list, tuple)):
            return self.items.check(value)
        try:
            return self.item.check(value)
        except Invalid as ex:
            if ex.shown is None:  # a wrong type: say that a list is fine too
                raise self.wrong(value) from None
            raise

    def describe(self) -> str:
        return f"{self.item.describe()}, or a list of them with one per hidden layer"


class OneOf(Type):
    """A value that fits any of `options` (e.g. a target mode or a class index)."""

    def __init__(self, *options: Type):
        self.options = options

    def check(self, value):
        refusals = []
        for option in self.options:
            try:
                return option.check(value)
            except Invalid as ex:
                refusals.append(ex)
        choices = [v for o in self.options if isinstance(o, Choice) for v in o.values]
        hint = close_match(value, choices) if isinstance(value, str) and choices else None
        ranged = [ex for ex in refusals if ex.shown is not None]
        if ranged and not hint:  # the right kind of value, outside its range: say that
            raise ranged[0]
        raise Invalid(f"expected {self.describe()}, got {show(value)}"
                      + (f" (did you mean {hint!r}?)" if hint else ""))

    def describe(self) -> str:
        return " or ".join(o.describe() for o in self.options)


# ------------------------------------------------------------------------- the config's structure
# These are walked by nnlab.schema.validate rather than checked as one value: their keys are
# reported one by one, and an undeclared key is refused with the keys that are declared there.


@dataclass
class Target:
    """The keys a `_target_` takes (beyond Hydra's own `_..._` keys), and rules across them: a
    rule gets the checked values and `name` (short key -> full key) and returns a message or None."""

    keys: dict[str, Type]
    rules: tuple = field(default=())


@dataclass
class Section:
    """A plain nested mapping of declared keys (early_stopping, dataset.augment)."""

    keys: dict


@dataclass
class Group:
    """A node chosen from a config group (model=mlp): declared by its `_target_` in
    nnlab.schema.options.GROUPS[name]. `optional`: the group may be empty (scheduler=none).
    `lists`: keys that may also hold a list of values, each a valid value (attack.eps=[0,0.1]
    draws a robustness curve)."""

    name: str
    optional: bool = False
    lists: tuple[str, ...] = ()


@dataclass
class GroupList:
    """Several options of a group at once (probe=[boundary,shift]): a mapping name -> node."""

    name: str


@dataclass
class OptionalSection(Section):
    """A Section that may be absent or null as a whole (adversarial=null)."""
