"""`make bench`: how fast nnlab is against the usual way of doing the same thing, on this machine.
Writes BENCHMARKS.md at the repository root: the machine, then one table per section, each
figure the median of several repetitions, each ratio next to its target and PASS or MISS.

    python scripts/bench.py                       # every section (minutes; see each section)
    python scripts/bench.py --quick               # tiny sizes, one repetition: checks the script
    python scripts/bench.py --only training sweep --out /tmp/bench.md

Sections (one module each beside this file):
  training  one epoch of LeNet-5, the MLP and a 40-layer sigmoid stack on Fashion-MNIST, CPU:
            nnlab's loop vs torchvision + DataLoader vs the compute floor   (bench_pipeline.py)
  attacks   FGSM and PGD-40 on 1,000 images vs torchattacks                (bench_attacks.py)
  startup   `nnlab train` end to end vs `python -c "import torch"`          (bench_commands.py)
  sweep     8 toy jobs, joblib launcher with 2 workers vs sequential        (bench_commands.py)
  cuda      samples/s on the GPU: bf16 autocast, channels_last, torch.compile (bench_cuda.py)
  vectorized  sweeps with hydra/launcher=vectorized vs the basic launcher: 64 spiral jobs, 1000
            XOR initialisations, 16 Fashion-MNIST MLPs                       (bench_vectorized.py)

Run it on a quiet machine: other processes on the cores make every timing meaningless. Progress
goes to stderr; the markdown goes to stdout and to --out, rewritten after each section.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from bench_attacks import section as attacks
from bench_commands import startup, sweep
from bench_common import REPO, Options, say, table
from bench_cuda import section as cuda
from bench_pipeline import section as training
from bench_vectorized import section as vectorized

SECTIONS = {"training": training, "attacks": attacks, "startup": startup, "sweep": sweep, "cuda": cuda,
            "vectorized": vectorized}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine() -> str:
    """The machine and software the figures were measured with, as a markdown table."""
    import torchattacks
    import torchvision

    from nnlab import __version__
    from nnlab.runs import git_commit

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if torch.cuda.is_available():
        gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    else:
        gpus = "none (CUDA not available)"
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    rows = [
        ["CPU", cpu_model()],
        ["cores", f"{os.cpu_count()} logical, {usable} usable by this process; "
                  f"torch threads: {torch.get_num_threads()}"
                  + (f" (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})"
                     if "OMP_NUM_THREADS" in os.environ else "")],
        ["load average at start (1 / 5 / 15 min)", load],
        ["memory", memory_gib()],
        ["GPU", gpus],
        ["torch", f"{torch.__version__} (CUDA build {torch.version.cuda or 'none'}); torchvision "
                  f"{torchvision.__version__}; torchattacks {torchattacks.__version__}"],
        ["Python", f"{platform.python_version()} on {platform.platform()}"],
        ["nnlab", f"{__version__}, commit {git_commit() or 'unknown'}"],
    ]
    return "## Machine\n\n" + table(["what", "value"], rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and one repetition: tests the script, measures nothing")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md",
                        help="markdown file to write (default: BENCHMARKS.md at the repository root)")
    parser.add_argument("--repeats", type=int, help="repetitions per figure (default: each section's own)")
    parser.add_argument("--attack-run", type=Path, metavar="RUN_DIR",
                        help="attack this `nnlab train` image run instead of training a LeNet first")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile on CUDA")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.attack_run is not None and not (args.attack_run / ".hydra" / "config.yaml").is_file():
        parser.error(f"--attack-run {args.attack_run}: not a `nnlab train` run folder")
    chosen = args.only or list(SECTIONS)
    given = sys.argv[1:] if argv is None else argv

    header = "\n".join([
        "# nnlab benchmarks",
        "",
        f"Written by `python scripts/bench.py{''.join(' ' + a for a in given)}` "
        f"(`make bench`) on {time.strftime('%Y-%m-%d %H:%M %Z')}; sections: {', '.join(chosen)}."
        + (" **--quick: tiny sizes and one repetition; these figures measure nothing.**"
           if args.quick else ""),
        "",
    ])
    parts = [header, machine()]
    failed = []
    with tempfile.TemporaryDirectory(prefix="nnlab-bench-") as work:
        opts = Options(quick=args.quick, work=Path(work).resolve(), repeats=args.repeats,
                       attack_run=args.attack_run.resolve() if args.attack_run else None,
                       compile=args.compile)
        for name in chosen:
            say(f"{name}: started")
            try:
                text = SECTIONS[name](opts)
            except Exception as ex:  # keep the other sections' figures; exit 1 at the end
                traceback.print_exc()
                failed.append(name)
                text = f"## {name}\n\n**Failed:** {type(ex).__name__}: {' '.join(str(ex).split())[:500]}\n"
            print(text, flush=True)
            parts.append(text)
            write(args.out, "\n".join(parts))  # after every section, so a long run keeps what it has
    say(f"wrote {args.out}")
    if failed:
        say(f"failed sections: {', '.join(failed)}")
        return 1
    return 0


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
