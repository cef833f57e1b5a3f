"""Collect the jobs `nnlab report` tabulates: run folders found under the given paths, plus the
jobs a sweep's multirun.yaml planned that never got a folder (the sweep was stopped first).

Everything is read as data: YAML, JSON and CSV; no checkpoint is opened.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from nnlab.errors import UserError
from nnlab.runs import FINISHED, read_summary

OK_STATUSES = FINISHED  # the jobs whose numbers count
# Keys that do not change what a run computes, so they never count as swept.
IGNORED_PREFIXES = ("hydra.", "hydra/")
IGNORED_KEYS = {"progress"}


@dataclass
class Job:
    name: str  # the folder, relative to the common folder of all jobs
    path: Path
    status: str  # summary.json's, or: no summary, no metrics, not run
    note: str = ""  # the error, or what is missing
    overrides: dict[str, str] = field(default_factory=dict)  # as typed (.hydra/overrides.yaml)
    params: dict[str, str] = field(default_factory=dict)  # every job's value of every override key
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
        found = {p.parent.parent.resolve(): None for p in path.rglob("config.yaml")
                 if p.parent.name == ".hydra"}
        for sweep in {m.parent for m in path.rglob("multirun.yaml")}:
            for job, overrides in planned_jobs(sweep).items():
                found.setdefault(job.resolve(), overrides)
        if not found:
            raise UserError(f"{path}: no run folders there (a run folder holds .hydra/config.yaml)")
        folders.update(found)
    paths_sorted = sorted(folders, key=_natural)
    root = Path(os.path.commonpath(paths_sorted)) if len(paths_sorted) > 1 else paths_sorted[0].parent
    jobs = [_read_job(p, str(p.relative_to(root)), folders[p]) for p in paths_sorted]
    keys = [k for k in dict.fromkeys(k for j in jobs for k in j.overrides)
            if not k.startswith(IGNORED_PREFIXES) and k not in IGNORED_KEYS]
    for job in jobs:
        job.params = {k: job.overrides[k] if k in job.overrides else _configured(job.path, k)
                      for k in keys}
    return jobs


def planned_jobs(sweep: Path) -> dict[Path, list[str]]:
    """Job folder -> overrides, for the jobs in `sweep`/multirun.yaml that have no run folder.

    Only Hydra's basic sweeper with the default `${hydra.job.num}` subfolders can be expanded;
    any other sweep gives {}."""
    try:
        hydra_cfg = yaml.safe_load((sweep / "multirun.yaml").read_text())["hydra"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
    sweeper = hydra_cfg.get("sweeper") or {}
    if hydra_cfg.get("sweep", {}).get("subdir") != "${hydra.job.num}" or \
            not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
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


def _read_job(path: Path, name: str, planned: list[str] | None) -> Job:
    if planned is not None:
        return Job(name, path, "not run", "planned in multirun.yaml, never started",
                   overrides=_parse_overrides(planned))
    job = Job(name, path, "", overrides=_parse_overrides(_read_yaml(path / ".hydra" / "overrides.yaml")))
    job.summary = read_summary(path) or {}
    try:
        metrics = pd.read_csv(path / "metrics.csv")
        job.metrics = metrics if len(metrics) else None
    except (OSError, ValueError):  # missing, or empty (pandas raises EmptyDataError, a ValueError)
        job.metrics = None
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
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, parsed = OverridesParser.create(), {}
    for text in overrides if isinstance(overrides, list) else []:
        try:
            o = parser.parse_override(str(text))
        except Exception:  # not Hydra syntax: keep the text as it is
            key, _, value = str(text).partition("=")
            parsed[key.lstrip("+~")] = value
            continue
        key = o.key_or_group + (f"@{o.package}" if o.package else "")
        parsed[key] = "(deleted)" if o.is_delete() else _text(o.value())
    return parsed


def _configured(path: Path, key: str) -> str | None:
    """A key's value in a run that did not override it: its group choice or its config value."""
    choices = ((_read_yaml(path / ".hydra" / "hydra.yaml") or {}).get("hydra") or {}) \
        .get("runtime", {}).get("choices") or {}
    if key in choices:
        return _text(choices[key])
    if not (path / ".hydra" / "config.yaml").exists():
        return None
    from omegaconf import OmegaConf

    absent = object()
    try:
        value = OmegaConf.select(OmegaConf.load(path / ".hydra" / "config.yaml"), key,
                                 default=absent, throw_on_resolution_failure=False)
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
    except Exception:  # an interpolation that cannot be resolved outside the run
        return None
    return None if value is absent else _text(value)


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
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def _natural(path: Path) -> list:
    """Job folders 0, 1, ..., 10 in number order."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]
