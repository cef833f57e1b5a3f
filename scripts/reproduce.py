"""`make reproduce-NAME`: one experiment of the seed reports -> its tables and figures in one folder.

    python scripts/reproduce.py                    # list the experiments
    python scripts/reproduce.py xor --out DIR      # run one (default DIR: outputs/reproduce/NAME)
    python scripts/reproduce.py xor --full         # the report's full settings (epochs, data)
    python scripts/reproduce.py all                # every experiment, then docs/REPRODUCTION.md
    python scripts/reproduce.py all --resume       # skip the experiments whose folder is complete
    python scripts/reproduce.py all --doc-only     # docs/REPRODUCTION.md from the folders already there

Each experiment is a module in scripts/experiments/ with DESCRIPTION, SEED (which report it
reproduces) and run(ctx: Context). Defaults are scaled down to run on a laptop CPU in minutes;
--full restores the report's settings. Every experiment writes OUT/README.md: what ran (the
exact nnlab commands), which data (real or a stand-in, and why), tables and figure paths.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from experiments import side_by_side  # noqa: E402
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
    parser.add_argument("name", nargs="?", help="experiment to run, or `all`; omit to list them")
    parser.add_argument("--out", type=Path, help="folder for tables and figures "
                        "(default outputs/reproduce/NAME; for `all`, the folder holding one per experiment)")
    parser.add_argument("--full", action="store_true", help="the report's full settings (slow)")
    parser.add_argument("--doc", type=Path, default=Path("docs/REPRODUCTION.md"),
                        help="`all`: where to write the side-by-side document")
    parser.add_argument("--doc-only", action="store_true",
                        help="`all`: write the document from the experiments' folders already there")
    parser.add_argument("--resume", action="store_true",
                        help="`all`: skip each experiment whose folder already has its README.md "
                        "(written when it completes), e.g. after an interrupted run")
    args = parser.parse_args(argv)
    experiments = available()
    if args.name is None:
        print("Seed experiments (make reproduce-NAME [OUT=DIR] [FULL=1]; make reproduce-all runs them all):")
        for name, module in experiments.items():
            print(f"  reproduce-{name:<16} {module.SEED:<22} {module.DESCRIPTION}")
        return 0
    if args.name == "all":
        return run_all(experiments, args.out or Path("outputs/reproduce"), args.full, args.doc,
                       args.doc_only, args.resume)
    if args.name not in experiments:
        print(f"reproduce: unknown experiment {args.name!r}; valid: all, {', '.join(experiments)}",
              file=sys.stderr)
        return 2
    out = args.out or Path("outputs/reproduce") / args.name
    run_one(args.name, experiments[args.name], out, args.full)
    print(f"reproduce-{args.name}: wrote {out}/README.md")
    return 0


def run_one(name: str, module, out: Path, full: bool) -> float:
    """Run one experiment into `out`; its wall time in seconds."""
    ctx = Context(out=out, full=full, title=f"{name}: {module.DESCRIPTION}", seed=module.SEED)
    start = time.monotonic()
    module.run(ctx)
    seconds = time.monotonic() - start
    ctx.finish(seconds)
    return seconds


def run_all(experiments: dict, root: Path, full: bool, doc: Path, doc_only: bool,
            resume: bool = False) -> int:
    """Every experiment into root/NAME (one failing does not stop the others), the gallery's
    figures, then `doc`: each seed report's numbers next to nnlab's. root/all.json keeps what ran
    (wall times, failures), so --doc-only can write the document again without running."""
    import gallery

    record_path = root / "all.json"
    if doc_only:
        record = json.loads(record_path.read_text()) if record_path.exists() else {}
        for name in experiments:  # complete in its folder, from a run this record does not know
            took = finished_in(root / name)
            if took is not None and name not in record.setdefault("experiments", {}):
                record["experiments"][name] = {"status": "done", "seconds": took, "earlier": True}
    else:
        root.mkdir(parents=True, exist_ok=True)
        record = {"full": full, "experiments": {}, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        for name, module in experiments.items():
            entry = record["experiments"][name] = {}
            took = finished_in(root / name) if resume else None
            if took is not None:
                entry.update(status="done", seconds=took, earlier=True)
                print(f"reproduce-all: {name} already complete in {root / name} ({took:.0f} s); skipped")
                record_path.write_text(json.dumps(record, indent=2))
                continue
            begun = time.monotonic()
            try:
                run_one(name, module, root / name, full)
                entry["status"] = "done"
            except Exception as ex:  # noqa: BLE001 - reported in the document, the others still run
                traceback.print_exc()
                entry.update(status="failed", error=f"{type(ex).__name__}: {ex}")
            entry["seconds"] = round(time.monotonic() - begun, 1)
            record["seconds"] = round(sum(e.get("seconds", 0) for e in record["experiments"].values()), 1)
            record_path.write_text(json.dumps(record, indent=2))
        gallery.main(["--root", f"{root}/", "--out", str(doc.parent / "gallery")])
    side_by_side.write(doc, root, record)
    failed = [n for n, e in record.get("experiments", {}).items() if e.get("status") == "failed"]
    print(f"reproduce-all: wrote {doc}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def finished_in(folder: Path) -> float | None:
    """The seconds a completed experiment took (its README.md says), None if it did not complete."""
    readme = folder / "README.md"
    if not readme.exists():
        return None
    found = re.search(r"took (\d+) s\.", readme.read_text())
    return float(found.group(1)) if found else 0.0


if __name__ == "__main__":
    sys.exit(main())
