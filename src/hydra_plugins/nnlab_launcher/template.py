"""A sweep's jobs as a template plus values (`hydra/launcher=vectorized`).

Hydra composes a job in ~0.3 s, and a composed config costs milliseconds to copy: a thousand
seeds would spend a minute on configs. So Hydra composes a job only when its overrides differ
from the last composed job's (the template) in more than the values of plain keys (seed=3,
optimizer.lr=0.01: no config group, no +key or ~key, no dict). Every other job is a `JobSpec`:
the template and its override values, as Hydra would have applied them (OmegaConf.update with
merge, tests/test_vectorized_launcher.py compares the two).

- Checking: the template is validated whole (nnlab.schema), each job only in the top-level keys
  its values change, plus those whose interpolations read a changed key (`dataset.seed: ${seed}`,
  found once in the template).
- Preparing: the values are set on the template's own job config in place (`Template.applied`),
  and the job is built from it: interpolations then resolve to the job's values. A job keeps
  that shared config when the keys that differ between the sweep's jobs are only read while a job
  is built (group.PER_MODEL: seed, lr, ...); otherwise it keeps a copy of its own.
- Its folder's .hydra/ files are the job's own: config.yaml from the applied template,
  overrides.yaml, and hydra.yaml the template's with the job's fields filled in.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

_MISSING = object()
_PARSER = OverridesParser.create()


@functools.lru_cache(maxsize=65536)
def _parsed(line: str) -> Override:
    """One override parsed (Hydra's parser takes ~0.3 ms; a sweep repeats most of its lines)."""
    return _PARSER.parse_overrides([line])[0]


def parse(overrides: Sequence[str]) -> list[Override]:
    return [_parsed(line) for line in overrides]
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~3x faster than OmegaConf's
# stand-ins for a job's own fields in a template's hydra.yaml, dumped once (Template.hydra_yaml)
_NUMBER, _ID, _DIRNAME = "nnlabjobnumber7d1c", "nnlabjobid7d1c", "nnlabdirname7d1c"
_TASK, _OUTPUT = "nnlabtask7d1c", "nnlaboutput7d1c"


def _dump(data) -> str:
    """YAML as Hydra's run_job writes .hydra/ (block style, keys in order)."""
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _scalar(value) -> str:
    """`value` as one YAML scalar, quoted where YAML needs it (as the whole dump would write it)."""
    return _dump(value).removesuffix("\n...\n").rstrip("\n")


def _one_line_scalar(value) -> bool:
    if isinstance(value, str):
        return "\n" not in value
    return isinstance(value, int | float | bool | type(None))


class Template:
    """A config Hydra composed, and what its derived jobs need of it, worked out once."""

    def __init__(self, config: DictConfig, parsed: list[Override]):
        self.config = config  # as Hydra composed it, Hydra's node included
        self.parsed = parsed
        self.keys = [o.key_or_group for o in parsed]
        self.job = copy.deepcopy(config)  # the job part, whose values each job sets in place
        with read_write(self.job), open_dict(self.job):
            del self.job["hydra"]
        self.interpolations = _interpolations(self.job)  # dotted key -> "${...}"
        self.hydra = OmegaConf.to_container(config.hydra, resolve=False, enum_to_str=True)  # hydra.yaml
        self.sweep_dir = str(config.hydra.sweep.dir)
        self._plain: dict[str, bool] = {}  # key -> whether an override of it sets a value (`plain`)
        self._hydra_yaml: str | None = None  # hydra.yaml with markers for each job's fields
        self.own_values: dict = {}  # the values of the job Hydra composed it for
        self.current: dict = {}  # the values `applied` last set on `job`
        self._config_yaml: tuple | None = None  # (keys, config.yaml with markers, markers)
        self.validated = False
        self.compatibility = None  # train.group.compatibility of it, once asked

    def derives(self, parsed: list[Override]) -> bool:
        """Whether a job with these overrides is this template with other values (module doc)."""
        if [o.key_or_group for o in parsed] != self.keys:
            return False
        for new, old in zip(parsed, self.parsed, strict=True):
            if new.input_line == old.input_line:
                continue
            if new.type != OverrideType.CHANGE or new.package is not None or not self.plain(new):
                return False
        return True

    def plain(self, override: Override) -> bool:
        """Whether `override` sets the value of a key (not a group's choice, probe=[a,b] too, nor
        Hydra's own, nor a dict Hydra would merge)."""
        key = override.key_or_group
        if isinstance(override.value(), dict):
            return False
        if key not in self._plain:
            node = OmegaConf.select(self.config, key, default=_MISSING)
            self._plain[key] = not (key in self.config.hydra.runtime.choices or key.startswith("hydra.")
                                    or node is _MISSING or isinstance(node, DictConfig))
        return self._plain[key]

    def hydra_yaml(self, number: int, overrides: list[str], dirname: str, output_dir: Path) -> str:
        """.hydra/hydra.yaml of one job: the template's, dumped once, with the job's number,
        overrides, override_dirname and output_dir put in where markers stand."""
        if self._hydra_yaml is None:
            self._hydra_yaml = _dump(self._hydra_of_job(_NUMBER, _ID, _DIRNAME, [_TASK], _OUTPUT))
        head, marker, tail = self._hydra_yaml.partition(f"- {_TASK}\n")
        indent = head[head.rfind("\n") + 1:]
        if not marker or not overrides or indent.strip():  # a shape the markers cannot stand for
            return _dump(self._hydra_of_job(number, str(number), dirname, list(overrides), str(output_dir)))
        task = "".join(indent + line + "\n" for line in _dump(list(overrides)).splitlines())
        text = head[:len(head) - len(indent)] + task + tail
        return (text.replace(_NUMBER, str(number)).replace(_ID, _scalar(str(number)))
                .replace(_DIRNAME, _scalar(dirname)).replace(_OUTPUT, _scalar(str(output_dir))))

    def _hydra_of_job(self, num, job_id, dirname, task, output_dir) -> dict:
        """The template's Hydra node with one job's fields (Hydra's id is a string)."""
        hydra = dict(self.hydra)
        hydra["job"] = {**hydra["job"], "num": num, "id": job_id, "override_dirname": dirname}
        hydra["overrides"] = {**hydra["overrides"], "task": task}
        hydra["runtime"] = {**hydra["runtime"], "output_dir": output_dir}
        return {"hydra": hydra}

    def reads(self, keys: set[str]) -> set[str]:
        """The keys whose values follow `keys`: themselves, and the template's interpolations that
        name one of them."""
        out = set(keys)
        for key, expression in self.interpolations.items():
            if any(_names(expression, k) for k in keys):
                out.add(key)
        return out

    @contextlib.contextmanager
    def applied(self, values: dict):
        """The template's job config with `values` set (as Hydra applies overrides); the next
        job's values replace them."""
        changed = {k: v for k, v in values.items() if not _same(self.current.get(k, _MISSING), v)}
        if changed:  # only what differs from the job applied last (a thousand seeds: one key)
            with read_write(self.job), open_dict(self.job):
                for key, value in changed.items():
                    OmegaConf.update(self.job, key, value, merge=True)
            self.current.update(changed)
        yield self.job

    def config_yaml(self, values: dict) -> str:
        """.hydra/config.yaml of the job whose `values` are applied: the template's job config,
        dumped once with markers where the values stand, the job's values put in (or dumped
        whole, when a value is not one scalar on one line)."""
        keys = tuple(sorted(values))
        if self._config_yaml is None or self._config_yaml[0] != keys:
            self._config_yaml = (keys, *self._config_with_markers(keys))
        _, text, markers = self._config_yaml
        if text is None or not all(_one_line_scalar(values[k]) for k in keys):
            return _dump(OmegaConf.to_container(self.job, resolve=False, enum_to_str=True))
        for key, marker in markers.items():
            text = text.replace(marker, _scalar(values[key]), 1)
        return text

    def _config_with_markers(self, keys: tuple) -> tuple[str | None, dict]:
        """The job config's YAML with a marker for each of `keys`' values; (None, {}) when a key
        is not a plain mapping's entry there."""
        container = OmegaConf.to_container(self.job, resolve=False, enum_to_str=True)
        markers = {}
        for i, key in enumerate(keys):
            *parents, last = key.split(".")
            node = container
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict) or last not in node:
                return None, {}
            node[last] = markers[key] = f"nnlabvalue{i}x7d1c"
        return _dump(container), markers

    def changes(self, values: dict) -> set[str]:
        """The keys whose values differ from those the template was composed (and checked) with."""
        return {k for k, v in values.items() if not _same(self.own_values.get(k, _MISSING), v)}


@dataclass
class JobSpec:
    """One job of a sweep: its template and the values of its plain overrides."""

    overrides: list[str]
    template: Template
    values: dict  # dotted key -> value, of each override that is a plain key's value
    composed: bool = False  # Hydra composed it (it is its template's own job)
    checked: bool = False  # `check` passed (nnlab's sweeper checks every job before the first runs)
    _dirname: str | None = None

    def check(self, number: int, named: Sequence[str]) -> None:
        """Every key of the job against its declaration (nnlab.schema), before any job runs: its
        template whole, once, and this job in the keys its values set and those that read them.
        A UserError names the job (`named`: its overrides that tell it from the others)."""
        from nnlab import schema
        from nnlab.errors import UserError

        template = self.template
        command, choices = str(template.config.hydra.job.name), template.config.hydra.runtime.choices
        try:
            with template.applied(self.values) as config:
                if config.get("resume"):  # checked against the run's own config (train/resume.py)
                    pass
                elif not template.validated:
                    schema.validate(config, command, choices)
                    template.validated = True
                else:
                    tops = {k.split(".")[0] for k in template.reads(template.changes(self.values))}
                    schema.validate_keys(config, tops, command, choices)
        except UserError as ex:
            raise UserError(f"job {number} ({' '.join(named)}): {ex}; no job was run", ex.exit_code) from None
        self.checked = True

    def config(self, number: int | None = None) -> DictConfig:
        """The job's whole config, Hydra's node included, as Hydra composes it."""
        template = self.template
        config = copy.deepcopy(template.config)
        with read_write(config), open_dict(config):
            for key, value in self.values.items():
                OmegaConf.update(config, key, value, merge=True)
            config.hydra.overrides.task = list(self.overrides)
            config.hydra.job.override_dirname = self.override_dirname()
            if number is not None:
                config.hydra.job.num = config.hydra.job.id = number
        return config

    def override_dirname(self) -> str:
        if self._dirname is None:
            from hydra._internal.config_loader_impl import get_overrides_dirname

            settings = self.template.config.hydra.job.config.override_dirname
            self._dirname = get_overrides_dirname(overrides=parse(self.overrides),
                                                  kv_sep=settings.kv_sep, item_sep=settings.item_sep,
                                                  exclude_keys=settings.exclude_keys)
        return self._dirname

    def folder(self, number: int) -> Path:
        """hydra.sweep.dir / hydra.sweep.subdir of job `number`."""
        template = self.template
        if template.hydra["sweep"]["subdir"] == "${hydra.job.num}":  # Hydra's default, nnlab's
            return Path(template.sweep_dir) / str(number)
        hydra = template.config.hydra
        with read_write(hydra), open_dict(hydra):
            hydra.job.num = hydra.job.id = number
            hydra.job.override_dirname = self.override_dirname()
        return Path(str(hydra.sweep.dir)) / str(hydra.sweep.subdir)

    def write_hydra_files(self, folder: Path, number: int, output_dir: Path) -> None:
        """.hydra/config.yaml, hydra.yaml and overrides.yaml, as Hydra's run_job writes them (the
        job's config must be applied: `Template.applied`)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text(self.template.config_yaml(self.values))
        (folder / "hydra.yaml").write_text(self.template.hydra_yaml(number, self.overrides,
                                                                    self.override_dirname(), output_dir))
        (folder / "overrides.yaml").write_text(_dump(list(self.overrides)))


class SweepComposer:
    """Hydra's `load_sweep_config` for the sweeper and the launcher: a JobSpec per job (module
    doc), each composed or derived once."""

    def __init__(self, compose):
        self.compose = compose
        self.template: Template | None = None  # the last one Hydra composed
        self.made: dict[tuple, JobSpec] = {}

    def spec(self, master: DictConfig, overrides: Sequence[str]) -> JobSpec:
        made = self.made.get(tuple(overrides))
        if made is not None:
            return made
        parsed = parse(overrides)
        if self.template is None or not self.template.derives(parsed):
            self.template = Template(self.compose(master, list(overrides)), parsed)
            composed = True
        else:
            composed = False
        values = {o.key_or_group: o.value() for o in parsed
                  if o.type == OverrideType.CHANGE and o.package is None and self.template.plain(o)}
        spec = JobSpec(list(overrides), self.template, values, composed=composed)
        if composed:
            self.template.own_values = values
        self.made[tuple(overrides)] = spec
        return spec

    def specs(self, master: DictConfig, job_overrides: Sequence[Sequence[str]]) -> list[JobSpec]:
        """Every job's spec, in the order of the jobs (made once: the sweeper's check made them)."""
        specs = [self.spec(master, list(overrides)) for overrides in job_overrides]
        for overrides in job_overrides:
            self.made.pop(tuple(overrides), None)
        return specs


def _interpolations(config: DictConfig, prefix: str = "") -> dict[str, str]:
    out = {}
    for key in config.keys() if isinstance(config, DictConfig) else range(len(config)):
        full = f"{prefix}.{key}" if prefix else str(key)
        if OmegaConf.is_interpolation(config, key):
            out[full] = str(config._get_node(key)._value())
            continue
        node = config._get_node(key)
        if OmegaConf.is_config(node):
            out.update(_interpolations(node, full))
    return out


def _same(a, b) -> bool:
    """Equal values of one type (1 == True == 1.0 in Python; not as a config value)."""
    return type(a) is type(b) and a == b


def _names(expression: str, key: str) -> bool:
    """Whether an interpolation `expression` reads `key` (or a node above or below it)."""
    for used in re.findall(r"\$\{([^}:]+)\}", expression):
        used = used.strip().lstrip(".")
        if used == key or used.startswith(key + ".") or key.startswith(used + "."):
            return True
    return "${" in expression and key in expression and ":" in expression  # a resolver's argument
