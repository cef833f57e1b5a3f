"""What differs between the jobs of a report, from their resolved configs (not from what was typed).

Two runs started by different commands can differ in a key neither command named (a preset sets
`optimizer.lr: 0.001`, the other run keeps Adam's 0.01), and two commands can type the same key
to no effect. So each job's resolved config (jobs.Job.settings) is compared key by key:

- A key differs when the jobs do not all have the same value (a key missing from some configs
  differs too). A job that never started has no config: the keys it typed stand in for it.
- Never compared: `hydra.*`, the per-invocation keys and the keys under them
  (nnlab.invocation.per_invocation: progress, skip_completed, dataset.root, figures.dpi, ...),
  and the presets (`experiment`, `hparams_search`): a preset only sets other keys, and those are
  compared themselves.
- A config group whose choice differs (`model`: mlp / lenet) is one key; its leaves that follow
  from the choice (`model._target_`, `model.hidden`, ...) fold into it. A leaf that varies within
  one choice (`optimizer.lr` swept under `optimizer=sgd,adam`) stays a key of its own.
- Keys that vary together (each value of one goes with one value of the other: the preset's
  model and its lr, across two runs) make one axis of the pivot and the grid, named by the first
  (typed keys first); the others are stated with it (`lenet (optimizer.lr=0.01)`), so two runs
  give two cells, not a 2 x 2 pivot with two `-` and two empty panels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnlab.invocation import per_invocation
from nnlab.report.jobs import Job

PRESETS = ("experiment", "hparams_search")  # groups that only set other keys
# Groups of several options at once (nnlab.schema.commands declares them as GroupList; named here
# so that a report does not import the schema, which imports torch; a test keeps the two in step)
LIST_GROUPS = ("probe",)
_ABSENT = "\0absent"  # a key a config does not have (not "null": that is a value)


@dataclass
class Differences:
    keys: list[str]  # every key that differs, typed keys first (report.csv's columns)
    axes: list[str]  # one key per set of keys that vary together: the pivot's and the grid's
    together: dict[str, list[str]] = field(default_factory=dict)  # axis -> the other keys that vary with it
    along: dict[str, dict[str, str]] = field(default_factory=dict)  # axis -> its value -> "k=v, ..." of those
    same: dict[str, str] = field(default_factory=dict)  # keys typed in every job, with one value

    def shown(self, axis: str, value: str) -> str:
        """A value as a table shows it: 'lenet (optimizer.lr=0.01)' when keys go with it."""
        along = self.along.get(axis, {}).get(value)
        return f"{value} ({along})" if along else value

    def setting(self, axis: str, value) -> str:
        """'model=lenet, optimizer.lr=0.01': an axis's value and the keys that go with it."""
        along = self.along.get(axis, {}).get(value)
        return f"{axis}={value}" + (f", {along}" if along else "")


def differences(jobs: list[Job], first: tuple[str, ...] = ()) -> Differences:
    """Compare the jobs' configs; sets each job's `params` (its value of every key that differs).
    `first`: keys to name their axis when they vary with others (--columns, --aggregate)."""
    def compared(key: str) -> bool:
        return not (per_invocation(key) or key.startswith(("hydra.", "hydra/"))
                    or key.split("@", 1)[0] in PRESETS)

    lists = LIST_GROUPS
    started = [job for job in jobs if job.settings]
    for job in started:
        _add_list_choices(job.settings, lists)
    differ: set[str] = set()
    if started:
        reference = started[0].settings
        for job in started[1:]:
            if job.settings != reference:  # the usual case in a sweep: a few keys differ
                differ.update(k for k, v in job.settings.items() if reference.get(k, _ABSENT) != v)
                differ.update(k for k in reference if k not in job.settings)
    planned = [job for job in jobs if not job.settings]  # never started: only what they typed
    typed: dict[str, set[str]] = {}
    for job in planned:
        for key, value in job.overrides.items():
            typed.setdefault(key, set()).add(value)
    for key, values in typed.items():
        if started and key not in differ:  # compared with the configs that have the key
            having = next((job.settings[key] for job in started if key in job.settings), None)
            values = values if having is None else values | {having}
        if len(values) > 1:
            differ.add(key)
    differ = {k for k in differ if compared(k)}
    groups = {k for job in started for k in job.groups} | set(lists)
    folded = _folded(differ & groups, differ - groups, started)
    differ -= folded

    order = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    order += [k for k in (started[0].settings if started else {}) if k not in order]
    keys = sorted(differ, key=lambda k: order.index(k) if k in order else len(order))
    for job in jobs:
        values = job.settings or job.overrides
        job.params = {k: None if values.get(k, _ABSENT) == _ABSENT else values[k] for k in keys}
    found = Differences(keys, [])
    _axes(found, jobs, first)
    found.same = _same(jobs, differ | folded, compared)
    return found


def _package(group: str) -> str:
    """Where a group's node sits in the config: `model` -> model, `a/b` -> a.b, `x@y.z` -> y.z."""
    return group.split("@", 1)[1] if "@" in group else group.replace("/", ".")


def _add_list_choices(settings: dict[str, str], lists: list[str]) -> None:
    """A group of several options at once (probe=[shift,grad_flow]) has no choice in hydra.yaml:
    its options' names, in the config's order, stand for it as typed."""
    for name in lists:
        if name not in settings:
            options = dict.fromkeys(k.split(".", 2)[1] for k in settings if k.startswith(f"{name}."))
            settings[name] = "[" + ",".join(options) + "]"


def _folded(groups: set[str], leaves: set[str], jobs: list[Job]) -> set[str]:
    """The leaves under a differing group whose value follows from the group's choice: within
    each choice, every job has the same value."""
    folded = set()
    for leaf in leaves:
        for group in groups:
            if not leaf.startswith(f"{_package(group)}."):
                continue
            seen: dict[str, str] = {}
            if all(seen.setdefault(job.settings.get(group, _ABSENT), job.settings.get(leaf, _ABSENT))
                   == job.settings.get(leaf, _ABSENT) for job in jobs):
                folded.add(leaf)
                break
    return folded


def _axes(found: Differences, jobs: list[Job], first: tuple[str, ...]) -> None:
    """Keys whose values split the jobs the same way vary together: one axis per such set."""
    sets: dict[tuple, list[str]] = {}
    for key in found.keys:
        index: dict = {}
        signature = tuple(index.setdefault(job.params[key], len(index)) for job in jobs)
        sets.setdefault(signature, []).append(key)
    for keys in sets.values():
        axis = next((k for k in first if k in keys), keys[0])
        found.axes.append(axis)
        others = [k for k in keys if k != axis]
        if others:
            found.together[axis] = others
            found.along[axis] = {job.params[axis]: ", ".join(f"{k}={_shown(job.params[k])}" for k in others)
                                 for job in jobs}
    found.axes.sort(key=found.keys.index)


def _shown(value: str | None) -> str:
    return "-" if value is None else value


def _same(jobs: list[Job], differ: set[str], compared) -> dict[str, str]:
    """The keys typed in every job (that has a record of what was typed) with the same value in
    all, as the configs hold it ('Same in every job' in report.md, the figures' titles)."""
    typed = [job for job in jobs if job.overrides]
    if not typed:
        return {}
    same = {}
    for key, value in typed[0].overrides.items():
        preset = key.split("@", 1)[0] in PRESETS  # not compared, but worth saying when shared
        if key in differ or not (compared(key) or preset):
            continue
        if all(job.overrides.get(key) == value for job in typed):
            same[key] = next((job.settings[key] for job in jobs if key in job.settings), value)
    return same
