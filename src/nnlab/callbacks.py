"""Hydra callbacks: what happens around a whole sweep."""

from __future__ import annotations

import json
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


# What the last sweep in this process left to report; Hydra only warns about exceptions raised in
# callbacks, so the CLI raises this once Hydra has returned.
sweep_problems: list[UserError] = []


class SweepOutcome(Callback):
    """After a sweep, a failed job makes the command fail too (exit code 1, one line naming the
    jobs), while every other job has still run to the end."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        outcomes = job_outcomes(sweep_dir)
        bad = {job: status for job, status in outcomes.items() if status not in FINISHED}
        if bad:
            listed = ", ".join(f"{job} ({status})" for job, status in bad.items())
            sweep_problems.append(UserError(
                f"{len(bad)} of {len(outcomes)} jobs in {sweep_dir} did not complete: {listed}; "
                "see their summary.json and train.log", exit_code=1))
