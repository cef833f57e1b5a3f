"""seeds/003 question 3: the 784-300-50-10 MLP against LeNet on MNIST, then both on shifted test
images. The report saw a shifted 8 read as a 7 by the MLP and still as an 8 by LeNet; here the
shift probe measures it over the whole test split: accuracy against shift (0..6 pixels right, down
and diagonally) for both models in one table and one figure, plus the report's picture (one test
image shifted step by step, each model's prediction above it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from experiments.common import Context, mnist_or_stand_in, read_summary
from nnlab.plots import plt
from nnlab.probes.images import class_names, predict, show_image
from nnlab.probes.shift import DIRECTIONS, translate
from nnlab.runs import load_trained

DESCRIPTION = "MLP 784-300-50-10 vs LeNet: accuracy under pixel shifts"
SEED = "seeds/003 question 3"

# model name -> overrides; both train with Adam (lr 0.001, batch 64) so only the architecture differs
MODELS = {
    "MLP 784-300-50-10": ["experiment=mnist_mlp_300_50"],
    "LeNet-5": ["model=lenet", "optimizer.lr=0.001"],
}
REPORT_ACC = {"MLP 784-300-50-10": 0.9308, "LeNet-5": 0.985}  # MNIST test accuracy in seeds/003


@dataclass
class Settings:
    epochs: int = 5                  # the report trained LeNet for 30 epochs (3 x 10)
    train_size: int | None = None    # None: all 60k training images (5k of them for validation)
    test_size: int | None = None     # None: all 10k test images
    max_shift: int = 6               # pixels
    extra: tuple[str, ...] = ()      # more overrides for every command (tests: cpu_threads=1)

    @classmethod
    def for_context(cls, ctx: Context) -> Settings:
        return cls(epochs=30) if ctx.full else cls()


def run(ctx: Context, settings: Settings | None = None) -> None:
    s = settings or Settings.for_context(ctx)
    data = mnist_or_stand_in(ctx)
    sizes = [f"dataset.{k}={v}" for k, v in (("train_size", s.train_size),
                                             ("test_size", s.test_size)) if v is not None]
    runs = {}
    for name, overrides in MODELS.items():
        folder = ctx.out / "runs" / name.split()[0].lower()
        ctx.nnlab("train", *overrides, *data, *sizes, f"epochs={s.epochs}", "probe=[shift]",
                  f"probe.shift.max_shift={s.max_shift}", "progress=false", *s.extra,
                  f"hydra.run.dir={folder}")
        runs[name] = folder

    ctx.heading("Accuracy")
    ctx.table("accuracy", pd.DataFrame([
        {"model": name, "epochs": s.epochs, "test acc (unshifted)": read_summary(f)["final"]["test_acc"],
         "report (MNIST)": REPORT_ACC[name]} for name, f in runs.items()]),
        "Test accuracy after training; the report's numbers are on MNIST.")

    curves = shift_table(runs)
    ctx.heading("Accuracy against shift")
    ctx.table("shift_accuracy", curves, "Test accuracy with every test image shifted by `shift` "
              "pixels (zero fill). The report tried one shifted 8: the MLP read a 7, LeNet an 8.")
    plot_curves(curves, list(runs), ctx.out / "shift_accuracy.png")
    ctx.figure(ctx.out / "shift_accuracy.png", "test accuracy against shift, MLP and LeNet")
    if plot_example(runs, s.max_shift, ctx.out / "shift_example.png"):
        ctx.figure(ctx.out / "shift_example.png", "one test image shifted diagonally; each model's "
                   "prediction (green: right, red: wrong)")


def shift_table(runs: dict[str, Path]) -> pd.DataFrame:
    """shift | '<model> <direction>' accuracy columns, from each run's shift_invariance.csv."""
    frames = []
    for name, folder in runs.items():
        long = pd.read_csv(folder / "shift_invariance.csv")
        wide = long.pivot(index="shift", columns="direction", values="accuracy")
        wide = wide[list(dict.fromkeys(long["direction"]))]  # the probe's order, not alphabetical
        frames.append(wide.rename(columns=lambda d, n=name: f"{n.split()[0]} {d}"))
    return pd.concat(frames, axis=1).reset_index()


def plot_curves(curves: pd.DataFrame, models: list[str], path: Path) -> None:
    directions = [c.split(" ", 1)[1] for c in curves.columns if c.startswith(models[0].split()[0] + " ")]
    fig, axes = plt.subplots(1, len(directions), figsize=(4 * len(directions), 3.6), sharey=True,
                             constrained_layout=True)
    for ax, direction in zip(axes, directions, strict=True):
        for model, marker in zip(models, "os", strict=False):
            ax.plot(curves["shift"], curves[f"{model.split()[0]} {direction}"], marker=marker,
                    label=model)
        ax.set(title=direction, xlabel="shift (pixels)", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[0].legend()
    fig.suptitle("Accuracy on shifted test images")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_example(runs: dict[str, Path], max_shift: int, path: Path) -> bool:
    """The report's picture: the first test image both models get right unshifted where the MLP is
    wrong and LeNet right at some diagonal shift, drawn at every shift with both predictions.
    False (no figure) when no test image behaves so."""
    first, *others = runs.items()
    trained = {first[0]: load_trained(first[1], "last")}
    data = trained[first[0]].data          # both runs have the same dataset config: build it once
    trained.update({name: load_trained(folder, "last", data=data) for name, folder in others})
    dx, dy = DIRECTIONS["diagonal"]
    shifted = [translate(data.test.x, dx * k, dy * k) for k in range(max_shift + 1)]
    preds = {name: torch.stack([predict(t.model, x, "cpu").argmax(1) for x in shifted])
             for name, t in trained.items()}          # (shift, image)
    mlp, lenet = (preds[name] for name in runs)
    truth = data.test.y
    wanted = (mlp[0] == truth) & (lenet[0] == truth) & ((mlp != truth) & (lenet == truth)).any(0)
    if not wanted.any():
        return False
    i = int(wanted.nonzero()[0])
    names = class_names(data)
    fig, axes = plt.subplots(1, max_shift + 1, figsize=(1.7 * (max_shift + 1), 3.0))
    fig.subplots_adjust(left=0.01, right=0.99, top=0.8, bottom=0.2, wspace=0.08)  # room for labels
    for k, ax in enumerate(axes):
        show_image(ax, shifted[k][i])
        ax.set_title(f"shift {k}", fontsize=9)
        for j, (model, p) in enumerate(preds.items()):
            ax.text(0.5, -0.06 - 0.16 * j, f"{model.split()[0]}: {names[int(p[k, i])]}",
                    transform=ax.transAxes, ha="center", va="top", fontsize=8,
                    color="green" if p[k, i] == truth[i] else "red")
    fig.suptitle(f"test image {i} (true: {names[int(truth[i])]}), moved diagonally")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
