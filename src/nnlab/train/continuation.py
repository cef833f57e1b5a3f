"""Continuing a sweep: `nnlab train -m ... hydra.sweep.dir=DIR skip_completed=true` runs the same
sweep again into the folder that holds its earlier jobs.

A continuation must be the same sweep. Every job's newly composed config is compared with the one
its folder recorded (.hydra/config.yaml) before any job runs; a difference in anything but the
per-invocation keys (nnlab.invocation.PER_INVOCATION: progress, skip_completed, ...) is
refused in one line, and nothing is written. Otherwise a 300-epoch job and a 30-epoch job would
sit side by side in one report, which would compare them as equals.

What each job does then: a completed (or early-stopped) job is not launched again, so its files,
.hydra/ included, stay as they are; an interrupted job continues from its checkpoints/last.pt
(task.prepare), as `resume=` would; any other job (failed, diverged, never started, or stopped
before its first checkpoint) starts afresh, its earlier attempt kept under attempts/<n>/.

The sweeper (hydra_plugins/nnlab_launcher/sweeper.py) calls `check` for each job as it composes
it, and `continue_command` when the sweep is stopped.
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict

from nnlab.errors import UserError
from nnlab.invocation import per_invocation
from nnlab.runs import FINISHED, RunFolder, config_path, dotted
from nnlab.schema.types import show

log = logging.getLogger("nnlab")

RESUMABLE = ("interrupted", "running")  # stopped by a signal, or killed (kill -9, a lost node)
_ABSENT = object()


class Continuation:
    """What the sweep folder already holds, job by job (see the module doc)."""

    def __init__(self, sweep_dir: Path):
        self.sweep_dir = Path(sweep_dir)
        self.used = self.sweep_dir.is_dir()  # a new sweep's folder does not exist yet: no checks
        self.completed: dict[int, dict] = {}  # job number -> its summary: not launched again
        self.resumable: list[int] = []  # jobs that continue from their last checkpoint
        self.restarted: list[int] = []  # jobs with an earlier attempt that start afresh

    def check(self, number: int, config: DictConfig) -> None:
        """Check job `number` (its composed config, with Hydra's node) against its folder; a
        UserError names the first difference. Jobs whose folder holds no run cost a stat."""
        if not self.used:
            return
        with open_dict(config):
            config.hydra.job.num = config.hydra.job.id = number
        folder = RunFolder(job_folder(config))
        if not folder.holds_a_run():
            return
        summary = folder.read_summary() or {}
        status = summary.get("status", "unknown")
        name = _job_name(self.sweep_dir, folder.path)
        if not config.get("skip_completed"):
            raise UserError(f"hydra.sweep.dir={self.sweep_dir} already holds this sweep's {name} "
                            f"({status}); continue the sweep with skip_completed=true, or pick a new "
                            "hydra.sweep.dir (the default is a fresh timestamped folder)")
        recorded = config_path(folder.path)
        if recorded.is_file():
            job = OmegaConf.to_container(config, resolve=False)
            job.pop("hydra", None)
            changed = differences(yaml.safe_load(recorded.read_text()) or {}, job)
            if changed:
                raise UserError(_refusal(self.sweep_dir, name, changed))
        if status in FINISHED:
            self.completed[number] = summary
        elif status in RESUMABLE and (folder.checkpoints / "last.pt").is_file():
            self.resumable.append(number)
        else:
            self.restarted.append(number)

    def describe(self, jobs: int) -> str | None:
        """One line for the log: what this continuation skips, continues and starts again."""
        if not (self.completed or self.resumable or self.restarted):
            return None
        parts = [f"{len(self.completed)} completed (not run again)"]
        if self.resumable:
            parts.append(f"{len(self.resumable)} continue from their last checkpoint")
        if self.restarted:
            parts.append(f"{len(self.restarted)} start afresh (earlier attempts kept under attempts/)")
        fresh = jobs - len(self.completed) - len(self.resumable) - len(self.restarted)
        if fresh:
            parts.append(f"{fresh} not started before")
        return f"continuing the sweep in {self.sweep_dir}: {jobs} jobs, " + ", ".join(parts)


def job_folder(config: DictConfig) -> Path:
    """The folder Hydra gives this sweep job (hydra.sweep.dir / hydra.sweep.subdir)."""
    return Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)


def differences(recorded: dict, new: dict) -> list[tuple[str, object, object]]:
    """(key, recorded value, new value) for each key that differs, per-invocation keys left out."""
    before, after = dotted(recorded), dotted(new)
    keys = dict.fromkeys([*after, *before])
    return [(key, before.get(key, _ABSENT), after.get(key, _ABSENT)) for key in keys
            if not per_invocation(key) and before.get(key, _ABSENT) != after.get(key, _ABSENT)]


def _shown(value) -> str:
    return "(absent)" if value is _ABSENT else show(value)


def _job_name(sweep_dir: Path, folder: Path) -> str:
    try:
        return f"job {folder.relative_to(sweep_dir)}"
    except ValueError:
        return f"job {folder}"


def _refusal(sweep_dir: Path, name: str, changed: list) -> str:
    key, before, after = changed[0]
    more = f" (and {len(changed) - 1} more: {', '.join(k for k, _, _ in changed[1:4])}" \
           f"{', ...' if len(changed) > 4 else ''})" if len(changed) > 1 else ""
    return (f"skip_completed: {name} in {sweep_dir} ran with {key}={_shown(before)}, this command "
            f"gives {key}={_shown(after)}{more}; a continuation must be the same sweep: repeat its "
            "values to continue it, or give a new hydra.sweep.dir to start another")


def continue_command(command: str, sweep_dir: Path, hydra_overrides: list[str],
                     task_overrides: list[str]) -> str:
    """The command line that continues this sweep: the same overrides, the sweep's folder, and
    skip_completed=true (what a person can paste)."""
    kept_hydra = [o for o in hydra_overrides if not o.startswith(("hydra.sweep.dir=", "hydra.mode="))]
    kept_task = [o for o in task_overrides if o.split("=", 1)[0].lstrip("+~") != "skip_completed"]
    words = ["nnlab", command, "-m", *kept_task, *kept_hydra,
             f"hydra.sweep.dir={Path(sweep_dir).resolve()}", "skip_completed=true"]
    return " ".join(shlex.quote(w) for w in words)
