"""Hydra callbacks: what happens around a whole sweep."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.experimental.callback import Callback

from nnlab import runs
from nnlab.errors import UserError

log = logging.getLogger("nnlab")


class SweepReport(Callback):
    """`nnlab report` on the sweep folder once every job has run (failed jobs included): its files,
    and its table printed."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        from nnlab.report.command import console_summary, write_report

        try:
            report = write_report([sweep_dir], None)
            log.info("sweep report: %s", sweep_dir / "report.md")
        except Exception as ex:  # a report problem must not hide the sweep's own outcome
            log.warning("could not write the sweep report (%s); run `nnlab report %s`", ex, sweep_dir)
            return
        # The sweep's final table on the terminal, as `nnlab report` prints it (aggregated over the
        # seeds when they were swept), so the outcome is readable without opening report.md.
        print(console_summary(report, "test_acc"), flush=True)


# What the last sweep in this process left to report; Hydra only warns about exceptions raised in
# callbacks, so the CLI raises this once Hydra has returned.
sweep_problems: list[UserError] = []


class SweepOutcome(Callback):
    """After a sweep, a failed job makes the command fail too (exit code 1, one line naming the
    jobs), while every other job has still run to the end."""

    def on_multirun_start(self, config, **kwargs) -> None:
        runs.forget_failures(Path(config.hydra.sweep.dir))

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        outcomes = runs.sweep_statuses(sweep_dir)
        bad = {job: status for job, status in outcomes.items() if status not in runs.FINISHED}
        if bad:
            listed = ", ".join(f"{job} ({status})" for job, status in bad.items())
            sweep_problems.append(UserError(
                f"{len(bad)} of {len(outcomes)} jobs in {sweep_dir} did not complete: {listed}; "
                "see their summary.json and train.log", exit_code=1))
