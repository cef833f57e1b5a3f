"""Collect the jobs `nnlab report` tabulates: run folders found under the given paths, plus the
jobs a sweep's multirun.yaml planned that never got a folder (the sweep was stopped first).

Each run folder's resolved config (.hydra/config.yaml) is read once, flattened to dotted keys,
with the config groups' choices (.hydra/hydra.yaml's runtime.choices: `model: lenet`) beside
them; differences.py compares them. Everything is read as data: YAML, JSON and CSV; no
checkpoint is opened. A 10,000-job sweep is read in seconds: YAML with libyaml's loader, only the
choices block of hydra.yaml, each distinct override parsed once.
"""

from __future__ import annotations

import functools
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from nnlab.errors import UserError
from nnlab.runs import FINISHED, config_path, dotted, read_summary

OK_STATUSES = FINISHED  # the jobs whose numbers count
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: ~20x faster than pure Python


@dataclass
class Job:
    name: str  # the folder, relative to the common folder of all jobs
    path: Path
    status: str  # summary.json's, or: no summary, no metrics, not run
    note: str = ""  # the error, or what is missing
    overrides: dict[str, str] = field(default_factory=dict)  # as typed (.hydra/overrides.yaml)
    # The resolved config as dotted keys (`optimizer.lr`: "0.01"), and each config group's choice
    # under the group's name (`model`: "lenet"); empty for a job that never started.
    settings: dict[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()  # the settings that are group choices
    params: dict[str, str | None] = field(default_factory=dict)  # its value of each key that differs
    summary: dict = field(default_factory=dict)
    metrics: pd.DataFrame | None = None


def collect_jobs(paths: list[Path]) -> list[Job]:
    folders: dict[Path, list[str] | None] = {}  # run folder -> planned overrides (not-run jobs)
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such folder")
        if not path.is_dir():
            raise UserError(f"{path} is not a folder; give a sweep folder or run folders")
    for path in paths:
        found = {folder.resolve(): None for folder in run_folders(path)}
        for sweep in {m.parent for m in path.rglob("multirun.yaml")}:
            for job, overrides in planned_jobs(sweep).items():
                found.setdefault(job.resolve(), overrides)
        if not found:
            raise UserError(f"{path}: no run folders there (a run folder holds .hydra/config.yaml)")
        folders.update(found)
    paths_sorted = sorted(folders, key=_natural)
    root = Path(os.path.commonpath(paths_sorted)) if len(paths_sorted) > 1 else paths_sorted[0].parent
    metrics = _read_metrics([p for p in paths_sorted if folders[p] is None])
    return [_read_job(p, str(p.relative_to(root)), folders[p], metrics.get(p)) for p in paths_sorted]


def run_folders(path: Path):
    """Every folder under `path` (itself included) that holds .hydra/config.yaml, in no order;
    symlinked folders are not followed (as Path.rglob, at a fraction of its cost per entry)."""
    for folder, subfolders, _ in os.walk(path):
        if ".hydra" in subfolders:
            subfolders.remove(".hydra")  # Hydra's record of the run: no run folder below it
            if os.path.isfile(os.path.join(folder, ".hydra", "config.yaml")):
                yield Path(folder)


def recorded_metrics(jobs: list[Job]) -> set[str]:
    """The metrics.csv columns that some job has a number in (a toy has no val_* numbers)."""
    found: set[str] = set()
    for job in jobs:
        if job.metrics is not None and not set(job.metrics.columns) <= found:
            found.update(job.metrics.columns[pd.notna(job.metrics.to_numpy()).any(axis=0)])
    return found


def _read_metrics(folders: list[Path]) -> dict[Path, pd.DataFrame]:
    """Each run's metrics.csv that has rows. The files that share a header are parsed as one CSV:
    a 10,000-job sweep is one parse instead of 10,000 (~0.5 ms each); files that do not add up
    (a blank line, a cut row) are read one by one."""
    texts = {}
    for folder in folders:
        try:
            texts[folder] = (folder / "metrics.csv").read_text()
        except (OSError, UnicodeDecodeError):
            continue
    by_header: dict[str, list[Path]] = {}
    for folder, text in texts.items():
        header, _, body = text.partition("\n")
        if body.strip():
            by_header.setdefault(header, []).append(folder)
    found = {}
    for header, members in by_header.items():
        bodies = [texts[f].partition("\n")[2] for f in members]
        bodies = [b if b.endswith("\n") else b + "\n" for b in bodies]
        ends = [0]
        for body in bodies:
            ends.append(ends[-1] + body.count("\n"))
        try:
            table = pd.read_csv(io.StringIO(header + "\n" + "".join(bodies)))
        except ValueError:
            table = None
        if table is not None and len(table) == ends[-1]:
            found.update({f: table.iloc[a:b].reset_index(drop=True)
                          for f, a, b in zip(members, ends, ends[1:], strict=False)})
            continue
        for folder in members:
            try:
                found[folder] = pd.read_csv(folder / "metrics.csv")
            except (OSError, ValueError):
                continue
    return {folder: table for folder, table in found.items() if len(table)}


def planned_jobs(sweep: Path) -> dict[Path, list[str]]:
    """Job folder -> overrides, for the jobs in `sweep`/multirun.yaml that have no run folder.

    Only Hydra's basic sweeper and nnlab's (hydra/sweeper=nnlab: the basic one, with checks) with
    the default `${hydra.job.num}` subfolders can be expanded; any other sweep gives {}."""
    try:
        hydra_cfg = yaml.safe_load((sweep / "multirun.yaml").read_text())["hydra"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
    sweeper = hydra_cfg.get("sweeper") or {}
    if hydra_cfg.get("sweep", {}).get("subdir") != "${hydra.job.num}" or \
            not str(sweeper.get("_target_", "")).endswith(("BasicSweeper", "NnlabSweeper")):
        return {}
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    arguments = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    arguments += hydra_cfg.get("overrides", {}).get("task") or []
    try:
        overrides = OverridesParser.create().parse_overrides(arguments)
        batches = BasicSweeper.split_arguments(overrides, None)
    except Exception:  # a sweep this Hydra cannot expand: report the folders that are there
        return {}
    return {sweep / str(num): job for num, job in enumerate(batches[0])
            if not (sweep / str(num) / ".hydra" / "config.yaml").exists()}


def _read_job(path: Path, name: str, planned: list[str] | None, metrics: pd.DataFrame | None) -> Job:
    if planned is not None:
        return Job(name, path, "not run", "planned in multirun.yaml, never started",
                   overrides=_parse_overrides(planned))
    choices = _choices(path)
    job = Job(name, path, "", overrides=_parse_overrides(_read_yaml(path / ".hydra" / "overrides.yaml")),
              settings=_settings(path, choices), groups=tuple(choices))
    job.summary = read_summary(path) or {}
    job.metrics = metrics
    job.status = job.summary.get("status") or "no summary"
    job.note = " ".join(str(job.summary.get("error", "")).split())
    if not job.summary:
        job.note = "no summary.json" + ("" if job.metrics is not None else " and no metrics.csv")
    elif job.metrics is None and job.status in OK_STATUSES:
        job.status, job.note = "no metrics", "summary.json says it ended, but no metrics.csv"
    elif job.status == "running":
        job.note = job.note or "no end recorded: still running, or killed"
    return job


def _parse_overrides(overrides) -> dict[str, str]:
    """["optimizer.lr=1e-2", "+foo=[1,2]"] -> {"optimizer.lr": "0.01", "foo": "[1,2]"}."""
    return dict(_parse_override(str(text)) for text in
                (overrides if isinstance(overrides, list) else []))


_PLAIN_INT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)=(-?(?:0|[1-9][0-9]*))")


@functools.lru_cache(maxsize=65536)
def _parse_override(text: str) -> tuple[str, str]:
    """One override, parsed once: the jobs of a sweep share most of theirs (Hydra's parser takes
    ~0.1 ms an override). `key=123` (a thousand seeds, each its own) needs no parser."""
    plain = _PLAIN_INT.fullmatch(text)
    if plain:
        return plain.group(1), str(int(plain.group(2)))
    try:
        o = _parser().parse_override(text)
    except Exception:  # not Hydra syntax: keep the text as it is
        key, _, value = text.partition("=")
        return key.lstrip("+~"), value
    key = o.key_or_group + (f"@{o.package}" if o.package else "")
    return key, "(deleted)" if o.is_delete() else _text(o.value())


@functools.cache
def _parser():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def _settings(path: Path, choices: dict) -> dict[str, str]:
    """The run's resolved config as dotted keys with one spelling per value (interpolations such
    as `${seed}` stay as written: what they point at is compared where it is), and the choice of
    each config group under its name; {} when there is no readable config."""
    try:
        config = yaml.load(config_path(path).read_text(), Loader=_LOADER)
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(config, dict):
        return {}
    settings = {key: _text(v) for key, v in choices.items()}
    for key, v in dotted(config).items():
        settings.setdefault(key, _text(v))  # `scheduler: {}` under scheduler=none: the choice says it
    return settings


def _choices(path: Path) -> dict:
    """hydra.yaml's runtime.choices (`model: lenet`, `hydra/launcher: basic`, ...). Only that block
    is parsed: the whole file takes ~0.6 ms with libyaml, which 10,000 jobs would feel."""
    try:
        text = (path / ".hydra" / "hydra.yaml").read_text()
    except OSError:
        return {}
    start = text.find("\n    choices:\n")
    if start < 0:  # not as Hydra writes it: parse the whole file
        try:
            found = ((yaml.load(text, Loader=_LOADER) or {}).get("hydra") or {}).get("runtime") or {}
        except (yaml.YAMLError, AttributeError):
            return {}
        found = found.get("choices") if isinstance(found, dict) else None
        return found if isinstance(found, dict) else {}
    block = re.match(r"(?:      .*\n?)*", text[start + len("\n    choices:\n"):]).group(0)
    return dict(_choices_block(block))


@functools.lru_cache(maxsize=256)
def _choices_block(block: str) -> tuple[tuple[str, object], ...]:
    """The jobs of a sweep share one choices block: parsed once."""
    try:
        found = yaml.load(block, Loader=_LOADER)
    except yaml.YAMLError:
        return ()
    return tuple(found.items()) if isinstance(found, dict) else ()


def _text(value) -> str:
    """One spelling per value, whether it was typed or read from a config: 1e-2 -> 0.01."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def levels(table: pd.DataFrame, keys: list[str]) -> dict[str, list[str]]:
    """Each swept parameter's values: ascending when all are numbers, else in order of appearance;
    "-" (jobs that have no value) last."""
    found = {}
    for key in keys:
        values = list(dict.fromkeys(v for v in table[key] if value(v) != "-"))
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
        if numbers.notna().all():
            values = [v for _, v in sorted(zip(numbers, values, strict=True))]
        found[key] = values + (["-"] if any(value(v) == "-" for v in table[key]) else [])
    return found


def value(v) -> str:
    """A parameter's value, "-" for a job that has none (not typed, and not in its config)."""
    return v if isinstance(v, str) else "-"


def rank(combo: tuple, keys: list[str], found: dict[str, list[str]]) -> tuple:
    """Sort key of a combination of values: each value's place in its parameter's levels."""
    return tuple(found[k].index(v) if v in found[k] else len(found[k])
                 for k, v in zip(keys, combo, strict=True))


def _read_yaml(path: Path):
    try:
        return yaml.load(path.read_text(), Loader=_LOADER)
    except (OSError, yaml.YAMLError):
        return None


def _natural(path: Path) -> list:
    """Job folders 0, 1, ..., 10 in number order."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]
