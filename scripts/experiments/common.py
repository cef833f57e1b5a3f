"""What every reproduction shares: running the real `nnlab` commands, picking the data, and
writing OUT/README.md with the commands, data notes, tables and figures."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nnlab import runs
from nnlab.data.vision import default_root
from nnlab.report.command import md_table

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


class ReproduceError(RuntimeError):
    """A command of the reproduction failed; the message says which."""


@dataclass
class Context:
    out: Path
    full: bool = False
    title: str = ""
    seed: str = ""
    lines: list[str] = field(default_factory=list)        # README body: notes, tables, figures
    commands: list[str] = field(default_factory=list)     # README head: every command that ran

    def __post_init__(self):
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ commands
    def nnlab(self, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        """Run `nnlab ARGS` (this interpreter's nnlab), streaming its output; record it in README."""
        cmd = [sys.executable, "-m", "nnlab", *map(str, args)]
        shown = "nnlab " + " ".join(shlex.quote(str(a)) for a in args)
        print(f"\n$ {shown}", flush=True)
        self.commands.append(f"    {shown}")
        proc = subprocess.run(cmd, env={**os.environ, **(env or {})})
        if check and proc.returncode != 0:
            raise ReproduceError(f"`{shown}` exited with {proc.returncode}")
        return proc

    def python(self, script: str, *args: str) -> None:
        """Run a repository script with this interpreter; record it in README."""
        shown = f"python {script} " + " ".join(shlex.quote(str(a)) for a in args)
        print(f"\n$ {shown}", flush=True)
        self.commands.append(f"    {shown}")
        proc = subprocess.run([sys.executable, script, *map(str, args)])
        if proc.returncode != 0:
            raise ReproduceError(f"`{shown}` exited with {proc.returncode}")

    # ------------------------------------------------------------------ README parts
    def note(self, text: str) -> None:
        print(text, flush=True)
        self.lines.append("")
        self.lines.append(text)

    def heading(self, text: str) -> None:
        self.lines += ["", f"## {text}"]

    def table(self, name: str, frame: pd.DataFrame, caption: str = "", floatfmt: str = ".4f") -> Path:
        """Write OUT/NAME.csv and put the markdown table into README."""
        path = self.out / f"{name}.csv"
        frame.to_csv(path, index=False)
        text = md_table(list(map(str, frame.columns)),
                        [[f"{v:{floatfmt}}" if isinstance(v, float) else v for v in row]
                         for row in frame.itertuples(index=False)])
        print(f"\n{caption}\n{text}" if caption else f"\n{text}", flush=True)
        self.lines += ["", *( [caption, ""] if caption else []), text, "", f"({path.name})"]
        return path

    def figure(self, path: Path, caption: str) -> None:
        rel = os.path.relpath(path, self.out)
        self.lines += ["", f"![{caption}]({rel})", "", f"*{caption}*"]

    def finish(self, seconds: float) -> None:
        head = [f"# {self.title}", "", f"Reproduces {self.seed}. "
                f"Settings: {'full (the report)' if self.full else 'scaled down (FULL=1 for the report)'}; "
                f"took {seconds:.0f} s.", "", "Commands (run from the repository root):", "", *self.commands]
        (self.out / "README.md").write_text("\n".join(head + self.lines) + "\n")


# ---------------------------------------------------------------------- data


def data_root() -> Path:
    """The root `nnlab train` reads image data from when dataset.root is not given ($NNLAB_DATA,
    else the per-user data folder): the same function, so the two never disagree."""
    return default_root()


def has_idx(folder: Path) -> bool:
    return all((folder / f).exists() or (folder / f"{f}.gz").exists() for f in IDX_FILES)


def has_fashion_mnist() -> bool:
    """Real Fashion-MNIST here: the Debian package, or torchvision's layout under the data root."""
    return has_idx(DEBIAN_FASHION_MNIST) or has_idx(data_root() / "FashionMNIST" / "raw")


def mnist_or_stand_in(ctx: Context) -> list[str]:
    """Overrides selecting MNIST when its files are here (or downloadable by the user), else the
    real Fashion-MNIST of the Debian package as the stand-in, saying so in README."""
    if has_idx(data_root() / "MNIST" / "raw") or os.environ.get("NNLAB_ONLINE") == "1":
        return ["dataset=mnist"]
    if has_fashion_mnist():
        ctx.note("**Data:** MNIST is not on this machine (no internet to download it); "
                 "Fashion-MNIST (real images, same shape) stands in. Set NNLAB_ONLINE=1 to let "
                 "torchvision download MNIST.")
        return ["dataset=fashion_mnist"]
    raise ReproduceError("neither MNIST nor Fashion-MNIST is available: put the files under "
                         f"{data_root()}/MNIST/raw, set NNLAB_ONLINE=1 to download, or install the "
                         "Debian package dataset-fashion-mnist")


def read_summary(run_dir: Path) -> dict:
    summary = runs.read_summary(run_dir)
    if summary is None:
        raise ReproduceError(f"{run_dir} has no readable summary.json; see the run's output above")
    return summary
