"""`make gpu-check`: every CUDA path nnlab has, exercised in a few minutes on a machine with a GPU.
Prints one line per check (PASS or FAIL with the reason) and exits 1 if any failed.

    python scripts/gpu_check.py                 # on a CUDA machine (the point of it)
    python scripts/gpu_check.py --device cpu    # the same checks on the CPU: tests the script

Checks:
  train          a LeNet run on the device (the training split resident in GPU memory)
  pinned         the batcher's host path (uint8 in pinned memory, converted per batch) gives the
                 batches the resident path gives
  deterministic  deterministic=true twice: the same metrics.csv
  attack         `nnlab attack` (FGSM and PGD) on the trained run, on the device
  forked sweep   device=auto under the forking joblib launcher (2 workers): the jobs run on the
                 GPU, and the launching process never initialises CUDA (a worker forked from a
                 process that has cannot use it)
  vectorized     hydra/launcher=vectorized on the device: each job within 1e-3 of its basic run
  bench          `make bench`'s cuda and vectorized sections, quick sizes

The machines this project is built on have no GPU; run this whenever one is available and
report its lines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_common import fashion_root  # noqa: E402

NNLAB = [sys.executable, "-m", "nnlab"]


def run(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([*NNLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"`nnlab {' '.join(args)}` exited {proc.returncode}: {proc.stderr[-1500:]}")
    return proc


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


class Checks:
    def __init__(self, device: str, work: Path, data: Path):
        self.device, self.work, self.data = device, work, data
        self.image = ["dataset=fashion_mnist", f"dataset.root={data}", "dataset.download=false",
                      "dataset.train_size=2000", "dataset.test_size=500", "progress=false"]

    def train(self) -> str:
        run("train", *self.image, "model=lenet", "epochs=2", f"device={self.device}",
            "hydra.run.dir=lenet", cwd=self.work)
        s = summary(self.work / "lenet")
        assert s["device"].startswith(self.device), s["device"]
        assert s["status"] == "completed", s["status"]
        return f"test_acc {s['final']['test_acc']:.3f} on {s['device']}"

    def pinned(self) -> str:
        from nnlab.data.batcher import TensorBatcher
        from nnlab.data.vision import make_vision

        data = make_vision("fashion_mnist", root=str(self.data), download=False, train_size=2000,
                           test_size=500, val_size=0)
        device = torch.device(self.device)
        resident = TensorBatcher(data.train, 256, device, shuffle=True, seed=3, resident=True)
        host = TensorBatcher(data.train, 256, device, shuffle=True, seed=3, resident=False)
        if device.type == "cuda":
            assert host.x.is_pinned(), "the host path keeps uint8 in pinned memory"
        n = 0
        for (xa, ya), (xb, yb) in zip(resident, host, strict=True):
            assert xb.device.type == device.type and torch.equal(xa, xb) and torch.equal(ya, yb)
            n += 1
        return f"{n} batches identical"

    def deterministic(self) -> str:
        for name in ("det1", "det2"):
            run("train", *self.image, "model=lenet", "epochs=1", f"device={self.device}",
                "deterministic=true", f"hydra.run.dir={name}", cwd=self.work)
        a = pd.read_csv(self.work / "det1" / "metrics.csv").drop(columns="seconds")
        b = pd.read_csv(self.work / "det2" / "metrics.csv").drop(columns="seconds")
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        return "two runs, identical metrics.csv"

    def attack(self) -> str:
        out = []
        for attack in ("fgsm", "pgd"):
            run("attack", f"run={self.work / 'lenet'}", f"attack={attack}", "n=200",
                f"device={self.device}", f"hydra.run.dir=attack_{attack}", "progress=false", cwd=self.work)
            result = json.loads((self.work / f"attack_{attack}" / "attack.json").read_text())["results"][0]
            out.append(f"{attack}: accuracy {result['clean_acc']:.3f} -> {result['adv_acc']:.3f}")
        return ", ".join(map(str, out))

    def forked_sweep(self) -> str:
        probe = "\n".join([
            "import sys, torch", "from nnlab.cli import main", "try:", "    main(sys.argv[1:])",
            "    code = 0", "except SystemExit as ex:", "    code = ex.code",
            "print('CUDA_INITIALISED', torch.cuda.is_initialized())", "sys.exit(code)"])
        args = ["train", "-m", *self.image, "model=lenet", "epochs=1", "seed=0,1", "device=auto",
                "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweep.dir=forked"]
        proc = subprocess.run([sys.executable, "-c", probe, *args], cwd=self.work, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-1500:]
        assert "CUDA_INITIALISED False" in proc.stdout, "the launching process initialised CUDA"
        folders = (p.parent for p in (self.work / "forked").glob("*/summary.json"))
        devices = sorted(summary(folder)["device"] for folder in folders)
        expected = "cuda" if torch.cuda.is_available() else "cpu"
        assert len(devices) == 2 and all(d.startswith(expected) for d in devices), devices
        return f"2 jobs on {devices}; the launcher never initialised CUDA"

    def vectorized(self) -> str:
        sweep = ["train", "-m", *self.image, "model=mlp", "model.hidden=[128]", "epochs=2",
                 "seed=0,1", "optimizer.lr=0.001,0.003", f"device={self.device}"]
        run(*sweep, "hydra.sweep.dir=basic", cwd=self.work)
        run(*sweep, "hydra/launcher=vectorized", "hydra.sweep.dir=vec", cwd=self.work)
        worst = 0.0
        for job in (self.work / "vec").glob("[0-9]*"):
            a = pd.read_csv(self.work / "basic" / job.name / "metrics.csv")
            b = pd.read_csv(job / "metrics.csv")
            for column in [c for c in a.columns if c.endswith("_loss") and a[c].notna().any()]:
                worst = max(worst, float(((a[column] - b[column]).abs() / a[column].abs()).max()))
            assert summary(job)["vectorized"]["size"] == 4
        assert worst <= 1e-3, f"a loss differs by {worst:.2e} (relative) from its basic run"
        return f"4 jobs in one group; largest relative loss difference {worst:.1e}"

    def bench(self) -> str:
        out = self.work / "bench.md"
        proc = subprocess.run([sys.executable, str(HERE / "bench.py"), "--quick", "--only", "cuda",
                               "vectorized", "--out", str(out)], capture_output=True, text=True,
                              timeout=1200)
        assert proc.returncode == 0, proc.stderr[-1500:]
        return f"written to {out}" + ("" if torch.cuda.is_available() else " (no GPU: cuda section skips)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu, to test this script")
    parser.add_argument("--only", nargs="+", help="run only these checks")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu-check: no CUDA device here; nothing to check (use --device cpu to test the script)")
        return 2
    checks_at = Path(tempfile.mkdtemp(prefix="nnlab-gpu-check-"))
    data, where = fashion_root(checks_at, n_train=2000)
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    print(f"gpu-check on {args.device} ({gpu}); data: {where}; work: {checks_at}", flush=True)
    checks = Checks(args.device, checks_at, data)
    names = {"train": checks.train, "pinned": checks.pinned, "deterministic": checks.deterministic,
             "attack": checks.attack, "forked sweep": checks.forked_sweep, "vectorized": checks.vectorized,
             "bench": checks.bench}
    failed = 0
    for name, check in names.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        try:
            detail = check()
            print(f"PASS  {name:<14} {time.perf_counter() - started:6.1f} s  {detail}", flush=True)
        except Exception as ex:
            failed += 1
            print(f"FAIL  {name:<14} {time.perf_counter() - started:6.1f} s  {type(ex).__name__}: "
                  f"{' '.join(str(ex).split())[:400]}", flush=True)
            traceback.print_exc(file=sys.stderr)
    print(f"gpu-check: {len(names) - failed if not args.only else 'some'} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
