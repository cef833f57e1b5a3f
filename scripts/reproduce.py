"""`make reproduce-NAME`: one experiment of the seed reports -> its tables and figures in one folder.

    python scripts/reproduce.py                    # list the experiments
    python scripts/reproduce.py xor --out DIR      # run one (default DIR: outputs/reproduce/NAME)
    python scripts/reproduce.py xor --full         # the report's full settings (epochs, data)

Each experiment is a module in scripts/experiments/ with DESCRIPTION, SEED (which report it
reproduces) and run(ctx: Context). Defaults are scaled down to run on a laptop CPU in minutes;
--full restores the report's settings. Every experiment writes OUT/README.md: what ran (the
exact nnlab commands), which data (real or a stand-in, and why), tables and figure paths.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from experiments.common import Context  # noqa: E402

# make target name -> module in scripts/experiments/ (the order `make reproduce` lists them in)
EXPERIMENTS = {
    "surfaces": "surfaces",
    "xor": "xor",
    "lr-batch": "lr_batch",
    "vanishing": "vanishing",
    "cifar-ablation": "cifar_ablation",
    "shift": "shift",
    "playground": "playground",
    "fashion": "fashion",
    "adversarial": "adversarial",
}


def available() -> dict:
    """make target name -> the experiment's module."""
    return {name: importlib.import_module(f"experiments.{module}") for name, module in EXPERIMENTS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help="experiment to run; omit to list them")
    parser.add_argument("--out", type=Path, help="folder for tables and figures "
                        "(default outputs/reproduce/NAME)")
    parser.add_argument("--full", action="store_true", help="the report's full settings (slow)")
    args = parser.parse_args(argv)
    experiments = available()
    if args.name is None:
        print("Seed experiments (make reproduce-NAME [OUT=DIR] [FULL=1]):")
        for name, module in experiments.items():
            print(f"  reproduce-{name:<16} {module.SEED:<22} {module.DESCRIPTION}")
        return 0
    if args.name not in experiments:
        print(f"reproduce: unknown experiment {args.name!r}; valid: {', '.join(experiments)}",
              file=sys.stderr)
        return 2
    module = experiments[args.name]
    out = args.out or Path("outputs/reproduce") / args.name
    ctx = Context(out=out, full=args.full, title=f"{args.name}: {module.DESCRIPTION}",
                  seed=module.SEED)
    start = time.monotonic()
    module.run(ctx)
    ctx.finish(time.monotonic() - start)
    print(f"reproduce-{args.name}: wrote {out}/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
