"""A Hydra callback for tests: each on_job_end appends the job's overrides to job_ends.txt in the
folder the command runs from (every launcher must end every job it started, as Hydra's run_job)."""

from hydra.experimental.callback import Callback


class JobEndCounter(Callback):
    def on_job_end(self, config, job_return, **kwargs) -> None:
        with open("job_ends.txt", "a") as f:
            f.write(" ".join(job_return.overrides or []) + "\n")
