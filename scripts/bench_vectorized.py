"""Section `vectorized` of scripts/bench.py: whole sweeps with `hydra/launcher=vectorized` (the
compatible jobs trained as one stacked model) against Hydra's basic launcher (one job after
another), subprocess wall time, as a person at a terminal waits for them.

- 64 spiral jobs (`seed=range(16) optimizer.lr=0.1,0.03,0.01,0.003`), default outputs (plots on),
  then with plots=false;
- 1000 initialisations of seeds/000's 2-2-1 tanh XOR net (full-batch GD), vectorized only: the
  basic launcher would take ~20 minutes;
- 16 MLP 784-128-10 jobs on Fashion-MNIST (4 lr x 4 seeds), 2 epochs;
- on CUDA, 64 such jobs.

Each launcher's sweep must complete every job, or the figure would flatter a launcher that lost
some. One repetition each (the basic launcher's 64 jobs take minutes): run on a quiet machine.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import torch
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

# cpu_threads=1 for both launchers: one thread is what tiny models want, and it keeps the figures
# from swinging with whatever else runs (torch's threads spin-wait when a core is taken).
SPIRAL = ["seed=range(16)", "optimizer.lr=0.1,0.03,0.01,0.003", "progress=false", "cpu_threads=1"]
QUICK_SPIRAL = ["seed=range(2)", "optimizer.lr=0.1,0.01", "epochs=5", "progress=false", "cpu_threads=1"]
XOR = ["experiment=xor_tanh", "seed=range(1000)", "plots=false", "checkpoint=false", "progress=false",
       "cpu_threads=1"]
QUICK_XOR = ["experiment=xor_tanh", "seed=range(20)", "epochs=50", "plots=false", "checkpoint=false",
             "progress=false", "cpu_threads=1"]
FASHION = ["dataset=fashion_mnist", "model=mlp", "model.hidden=[128]", "optimizer.lr=0.01,0.003,0.001,0.0003",
           "epochs=2", "progress=false", "cpu_threads=1"]
VECTORIZED = ["hydra/launcher=vectorized"]

PLOTS_TARGET = Target("<=", 0.2)
NO_PLOTS_TARGET = Target("<=", 0.1)
XOR_TARGET = Target("<=", 60.0, " s")
FASHION_TARGET = Target("<=", 0.5)
GPU_TARGET = Target("<=", 0.1)


def section(opts: Options) -> str:
    rows, commands = [], []
    spiral = QUICK_SPIRAL if opts.quick else SPIRAL
    for label, extra, target in (("64 spiral jobs, plots on", [], PLOTS_TARGET),
                                 ("64 spiral jobs, plots=false", ["plots=false"], NO_PLOTS_TARGET)):
        rows += compare(opts, label, [*spiral, *extra], target, commands)
    xor = QUICK_XOR if opts.quick else XOR
    wall = sweep_seconds(opts, [*xor, *VECTORIZED], "xor", commands)
    rows.append(["1000 XOR initialisations, vectorized (whole sweep)", *XOR_TARGET.cells(wall), ""])
    rows.append(["share of XOR initialisations that solve it (test_acc 1)", xor_share(), *NO_TARGET, ""])
    rows += against_scripts(opts, commands)
    root, where = opts.fashion()
    seeds = "seed=range(2)" if opts.quick else "seed=range(4)"
    fashion = [*FASHION, seeds, f"dataset.root={root}", "dataset.download=false",
               *(["dataset.train_size=2000", "dataset.test_size=500"] if opts.quick else [])]
    rows += compare(opts, f"16 Fashion-MNIST MLP jobs, 2 epochs ({where})", fashion, FASHION_TARGET, commands)
    if torch.cuda.is_available():
        gpu = [*FASHION, "seed=range(16)", f"dataset.root={root}", "dataset.download=false", "device=cuda"]
        rows += compare(opts, "64 Fashion-MNIST MLP jobs on CUDA", gpu, GPU_TARGET, commands)
    say("vectorized: done")
    return "\n".join([
        "## Vectorized launcher",
        "",
        "Whole sweeps, subprocess wall time, one run each (the basic launcher runs the jobs one "
        "after another); every job must complete:",
        "",
        *[f"    {c}" for c in commands],
        "",
        table(["sweep", "seconds or vectorized / basic", "target", "result", "basic, vectorized (s)"], rows),
        "",
    ])


def compare(opts: Options, label: str, overrides: list[str], target: Target, commands: list) -> list[list]:
    runs = {"basic": lambda: sweep_seconds(opts, overrides, label, commands),
            "vectorized": lambda: sweep_seconds(opts, [*overrides, *VECTORIZED], label, commands)}
    med = interleaved(runs, opts.reps(1), f"vectorized: {label}")
    return [[label, *target.cells(med["vectorized"] / med["basic"]),
             f"{seconds(med['basic'])}, {seconds(med['vectorized'])}"]]


# What a skilled user writes by hand with torch.func for the same training (scripts/torchfunc_*.py):
# (label, nnlab's overrides, the script and its arguments, quick variants, target for nnlab / script)
QUICK_SPIRAL_SCRIPT = ["torchfunc_spiral.py", "--seeds", "2", "--lrs", "0.1,0.01", "--epochs", "5"]
SCRIPTS = [
    ("1000 XOR initialisations, plots=false checkpoint=false", XOR, ["torchfunc_xor.py", "--models", "1000"],
     QUICK_XOR, ["torchfunc_xor.py", "--models", "20", "--epochs", "50"], Target("<=", 2.0)),
    ("64 spiral jobs, plots=false", [*SPIRAL, "plots=false"], ["torchfunc_spiral.py", "--seeds", "16"],
     [*QUICK_SPIRAL, "plots=false"], QUICK_SPIRAL_SCRIPT, Target("<=", 1.2)),
    ("800 spiral jobs, the README's sweep as typed (default outputs)",
     ["seed=range(200)", "optimizer.lr=0.1,0.03,0.01,0.003", "progress=false", "cpu_threads=1"],
     ["torchfunc_spiral.py", "--seeds", "200"], QUICK_SPIRAL, QUICK_SPIRAL_SCRIPT, Target("<=", 3.0)),
]


def against_scripts(opts: Options, commands: list) -> list[list]:
    """nnlab's vectorized sweep against the hand-written script, whole processes, in turns."""
    rows = []
    here = Path(__file__).resolve().parent
    for label, overrides, script, quick_overrides, quick_script, target in SCRIPTS:
        overrides, script = (quick_overrides, quick_script) if opts.quick else (overrides, script)
        out = opts.work / f"{script[0]}.csv"
        cmd = [sys.executable, str(here / script[0]), *script[1:], "--out", str(out)]
        shown = "python scripts/" + shlex.join(script[0:])
        if shown not in commands:
            commands.append(shown)
        runs = {"nnlab": lambda o=overrides, lab=label: sweep_seconds(opts, [*o, *VECTORIZED], lab, commands),
                "script": lambda c=cmd: run_command(c, cwd=opts.work)}
        med = interleaved(runs, opts.reps(1), f"vectorized: {label}")
        rows.append([f"{label}: nnlab / torch.func script", *target.cells(med["nnlab"] / med["script"]),
                     f"script {seconds(med['script'])}, nnlab {seconds(med['nnlab'])}"])
    return rows


_COUNT = iter(range(10**6))


def sweep_seconds(opts: Options, overrides: list[str], label: str, commands: list) -> float:
    folder = opts.work / f"vectorized-{next(_COUNT)}"
    cmd = [*nnlab_command(), "train", "-m", *overrides, f"hydra.sweep.dir={folder}"]
    shown = "nnlab train -m " + shlex.join(overrides)
    if shown not in commands:
        commands.append(shown)
    wall = run_command(cmd, cwd=opts.work)
    statuses = [json.loads(p.read_text()).get("status") for p in folder.glob("*/summary.json")]
    expected = len(list(folder.glob("*/.hydra")))
    if not statuses or statuses.count("completed") != expected:
        raise RuntimeError(f"{label}: {statuses.count('completed')} of {expected} jobs completed in {folder}")
    _LAST[label] = folder
    return wall


_LAST: dict[str, Path] = {}


def xor_share() -> str:
    folder = _LAST["xor"]
    accs = [json.loads(p.read_text())["final"]["test_acc"] for p in folder.glob("*/summary.json")]
    solved = sum(acc == 1.0 for acc in accs)
    return f"{solved} of {len(accs)} ({solved / len(accs):.1%})"
