"""Sections `startup` and `sweep` of scripts/bench.py: whole `nnlab` commands timed from outside,
as a person at a terminal waits for them (subprocess wall time).

- startup: `nnlab train` (the default toy experiment, end to end: Python, imports, Hydra, data,
  100 epochs, run folder, plots) against `python -c "import torch"`, the start-up no PyTorch
  program avoids; the difference is what nnlab adds.
- sweep: 8 toy jobs with Hydra's joblib launcher on 2 workers against the default sequential
  launcher.
"""

from __future__ import annotations

import json
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

from bench_common import (
    NO_TARGET,
    Options,
    Target,
    interleaved,
    nnlab_command,
    run_command,
    say,
    seconds,
    table,
)

OVERHEAD_TARGET = Target("<", 3.0, " s")  # beyond `import torch`, for a command meant to feel instant
# Two workers on 8 one-second jobs: ideal is 0.5; 0.65 leaves room for the workers' start-up.
PARALLEL_TARGET = Target("<=", 0.65)
SWEEP = ["dataset=spiral", "optimizer.lr=0.1,0.03,0.01,0.003", "batch_size=10,32", "cpu_threads=1",
         "progress=false"]
QUICK_SWEEP = ["dataset=spiral", "optimizer.lr=0.1,0.01", "batch_size=32", "epochs=5", "cpu_threads=1",
               "progress=false"]
PARALLEL = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


def startup(opts: Options) -> str:
    repeats = opts.reps(5)
    nnlab = nnlab_command()
    in_run: list[float] = []

    def train() -> float:
        cwd = Path(tempfile.mkdtemp(prefix="startup-", dir=opts.work))  # a fresh outputs/ each time
        wall = run_command([*nnlab, "train"], cwd=cwd)
        summaries = list(cwd.glob("outputs/train/*/*/summary.json"))
        if len(summaries) != 1:
            raise RuntimeError(f"expected one run folder under {cwd}/outputs/train, found {len(summaries)}")
        in_run.append(json.loads(summaries[0].read_text())["wall_time_s"])
        return wall

    med = interleaved({
        "import torch": lambda: run_command([sys.executable, "-c", "import torch"], cwd=opts.work),
        "nnlab train": train,
    }, repeats, "startup")
    rows = [
        ['`python -c "import torch"`', seconds(med["import torch"]), *NO_TARGET],
        ["`nnlab train` (spiral toy, MLP, 100 epochs, plots)", seconds(med["nnlab train"]), *NO_TARGET],
        ["of which inside the run (summary.json `wall_time_s`)", seconds(statistics.median(in_run)),
         *NO_TARGET],
        ["overhead: `nnlab train` minus `import torch`",
         *OVERHEAD_TARGET.cells(med["nnlab train"] - med["import torch"])],
    ]
    say("startup: done")
    return "\n".join([
        "## Start-up",
        "",
        "`nnlab train` in a fresh folder, end to end, against "
        f"`{Path(sys.executable).name} -c \"import torch\"`; subprocess wall time, median of {repeats}, "
        "taking turns.",
        "",
        table(["measure", "seconds", "target", "result"], rows),
        "",
    ])


def sweep(opts: Options) -> str:
    repeats = opts.reps(3)
    overrides = QUICK_SWEEP if opts.quick else SWEEP
    jobs = 1  # one per combination of the comma-separated values
    for value in overrides:
        jobs *= len(value.split(","))
    base = [*nnlab_command(), "train", "-m", *overrides]
    count = iter(range(10**6))

    def launch(extra: list[str]):
        def go() -> float:
            folder = opts.work / f"sweep-{next(count)}"
            wall = run_command([*base, *extra, f"hydra.sweep.dir={folder}"], cwd=opts.work)
            # A launcher that skipped or lost jobs would look fast: count the completed ones.
            done = [p for p in folder.glob("*/summary.json")
                    if json.loads(p.read_text()).get("status") == "completed"]
            if len(done) != jobs:
                raise RuntimeError(f"{folder}: {len(done)} of {jobs} jobs completed")
            return wall
        return go

    med = interleaved({"sequential": launch([]), "parallel": launch(PARALLEL)}, repeats, "sweep")
    rows = [
        ["sequential (Hydra's basic launcher)", seconds(med["sequential"]), *NO_TARGET],
        [f"parallel (`{' '.join(PARALLEL)}`)", seconds(med["parallel"]), *NO_TARGET],
        ["parallel / sequential", *PARALLEL_TARGET.cells(med["parallel"] / med["sequential"])],
    ]
    say("sweep: done")
    return "\n".join([
        "## Sweep",
        "",
        f"{jobs} toy jobs, subprocess wall time of the whole sweep, median of {repeats}, taking turns:",
        "",
        f"    nnlab train -m {shlex.join(overrides)} [{' '.join(PARALLEL)}] hydra.sweep.dir=DIR",
        "",
        table(["launcher", "seconds", "target", "result"], rows),
        "",
    ])
