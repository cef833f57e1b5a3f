"""Hydra callbacks: what happens around a whole sweep."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hydra.experimental.callback import Callback

from nnlab.errors import UserError

FINISHED = ("completed", "early_stopped")


def job_outcomes(sweep_dir: Path) -> dict[str, str]:
    """Job folder name -> status from its summary.json ('missing' when there is none)."""
    outcomes = {}
    for job in sorted(p for p in Path(sweep_dir).iterdir() if (p / ".hydra").is_dir()):
        try:
            outcomes[job.name] = json.loads((job / "summary.json").read_text())["status"]
        except (OSError, ValueError, KeyError):
            outcomes[job.name] = "missing"
    return outcomes


log = logging.getLogger("nnlab")


class SweepReport(Callback):
    """`nnlab report` on the sweep folder once every job has run (failed jobs included)."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        from nnlab.report.command import write_report

        try:
            write_report([sweep_dir], None)
            log.info("sweep report: %s", sweep_dir / "report.md")
        except Exception as ex:  # a report problem must not hide the sweep's own outcome
            log.warning("could not write the sweep report (%s); run `nnlab report %s`", ex, sweep_dir)


# What the last sweep in this process left to report; Hydra only warns about exceptions raised in
# callbacks, so the CLI raises this once Hydra has returned.
sweep_problems: list[UserError] = []


FAILURES = "failures.jsonl"  # in the sweep folder: a line per job that failed in this sweep


def note_failure(sweep_dir: Path, job: str, error: str) -> None:
    """Record a job's failure for SweepOutcome (one write per line: safe from parallel jobs), for
    failures a job's summary cannot show, e.g. a refusal to overwrite a completed run."""
    line = json.dumps({"job": job, "error": error}) + "\n"
    with open(Path(sweep_dir) / FAILURES, "a") as f:
        f.write(line)


class SweepOutcome(Callback):
    """After a sweep, a failed job makes the command fail too (exit code 1, one line naming the
    jobs), while every other job has still run to the end."""

    def on_multirun_start(self, config, **kwargs) -> None:
        (Path(config.hydra.sweep.dir) / FAILURES).unlink(missing_ok=True)

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        outcomes = job_outcomes(sweep_dir)
        bad = {job: status for job, status in outcomes.items() if status not in FINISHED}
        if (sweep_dir / FAILURES).exists():
            for line in (sweep_dir / FAILURES).read_text().splitlines():
                bad.setdefault(json.loads(line)["job"], "failed")
        if bad:
            listed = ", ".join(f"{job} ({status})" for job, status in bad.items())
            sweep_problems.append(UserError(
                f"{len(bad)} of {len(outcomes)} jobs in {sweep_dir} did not complete: {listed}; "
                "see their summary.json and train.log", exit_code=1))
