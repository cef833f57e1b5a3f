"""seeds/001 exercise 1: vanishing gradients. Deep stacks (depth 5/20/40 x relu/tanh/sigmoid) on
MNIST: test loss and accuracy, max |gradient| per layer after 3 epochs (linear and log axes) from
the grad_flow probe, and tanh against LeCun's scaled tanh (untrained gradient profile, learning
curves)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from experiments.common import Context, mnist_or_stand_in, read_summary
from nnlab.plots import plt

DESCRIPTION = "vanishing gradients: depth 5/20/40 x relu/tanh/sigmoid, grad-flow probe"
SEED = "seeds/001 exercise 1"

DEPTHS, ACTIVATIONS = (5, 20, 40), ("relu", "tanh", "sigmoid")
GRAD_EPOCH = 3  # the report's gradient plots are "after 3 training epochs"
LECUN_DEPTH = 20  # the report does not say which depth it compared tanh and LeCun tanh at
# The report's table (MNIST, 50 epochs): depth -> activation -> (test loss, test accuracy)
REPORT = {5: {"relu": (0.119, 0.964), "tanh": (0.11, 0.966), "sigmoid": (0.956, 0.697)},
          20: {"relu": (0.2, 0.96), "tanh": (0.2, 0.954), "sigmoid": (2.301, 0.113)},
          40: {"relu": (1.06, 0.629), "tanh": (0.25, 0.947), "sigmoid": (2.302, 0.113)}}


def run(ctx: Context) -> None:
    epochs = 50 if ctx.full else 5
    # cpu_threads=1: 64-unit layers are too small for threads to help; they only contend.
    common = ["experiment=vanishing_deep", *mnist_or_stand_in(ctx), "probe=[grad_flow]",
              f"epochs={epochs}", "cpu_threads=1", "progress=false"]
    sweep = ctx.out / "sweep"
    ctx.nnlab("train", "-m", *common, f"model.depth={','.join(map(str, DEPTHS))}",
              f"model.activation={','.join(ACTIVATIONS)}", f"hydra.sweep.dir={sweep}")
    jobs = pd.read_csv(sweep / "report.csv")
    lecun = ctx.out / "runs" / f"lecun_tanh_{LECUN_DEPTH}"
    ctx.nnlab("train", *common, f"model.depth={LECUN_DEPTH}", "model.activation=lecun_tanh",
              f"hydra.run.dir={lecun}")
    ctx.note(f"Settings: `experiment=vanishing_deep` (64 units per layer, Glorot-uniform init, SGD lr "
             f"0.01, batch 32; the report states none of these) for {epochs} epochs"
             + ("." if ctx.full else " instead of the report's 50 (FULL=1 for 50), so slow starters "
                "such as the depth-5 sigmoid net may still be at chance."))

    ctx.heading("Test loss and accuracy")
    ctx.table("test_scores", scores(jobs), f"Final epoch ({epochs}). Chance is 10% on balanced "
              "classes (the report's 0.113 is the share of the most common digit in MNIST's test set).")
    ctx.table("report_scores", report_scores(), "The report (MNIST, 50 epochs), for comparison.")
    ctx.figure(sweep / "curves.png", "loss and accuracy per epoch of the nine runs (nnlab report)")

    ctx.heading(f"Gradient per layer after {GRAD_EPOCH} epochs")
    grads = {(int(j["model.depth"]), j["model.activation"]): read_grads(Path(j["path"]))
             for _, j in jobs.iterrows()}
    ctx.table("gradient_ratio", ratios(grads), "How far the gradient falls from the output layer to "
              "the first: max |dL/dW| of the last Linear layer / that of the first, on the probe batch.",
              floatfmt=".3g")
    figure = ctx.out / "grad_max_epoch3.png"
    grad_figure(grads, figure)
    ctx.figure(figure, f"max |gradient| per layer after {GRAD_EPOCH} epochs "
               "(top: linear axis, bottom: log)")

    ctx.heading(f"tanh against LeCun's tanh (depth {LECUN_DEPTH})")
    tanh = jobs[(jobs["model.depth"] == LECUN_DEPTH) & (jobs["model.activation"] == "tanh")]
    runs = {"tanh": Path(tanh["path"].iloc[0]), "lecun_tanh": lecun}
    ctx.table("tanh_vs_lecun", pd.DataFrame([
        {"activation": name, **{k: read_summary(folder)["final"][k] for k in
                                ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc")}}
        for name, folder in runs.items()]), f"Final epoch ({epochs}).")
    figure = ctx.out / "tanh_vs_lecun_untrained.png"
    untrained = {name: at_epoch(read_grads(folder), 0) for name, folder in runs.items()}
    profile_figure(untrained, figure, f"untrained depth-{LECUN_DEPTH} stacks: max |gradient| per layer")
    ratio = untrained["lecun_tanh"]["max_abs_grad"].to_numpy() / untrained["tanh"]["max_abs_grad"].to_numpy()
    ctx.note(f"Untrained, LeCun's tanh gets {ratio.min():.1f} to {ratio.max():.1f} times tanh's max "
             "|gradient| at every layer (the report: tanh's gradients are consistently smaller).")
    ctx.figure(figure, "max |gradient| per layer of the untrained models (left: linear axis, right: log)")
    figure = ctx.out / "tanh_vs_lecun_curves.png"
    curves_figure(runs, figure)
    ctx.figure(figure, "learning curves, train and validation (loss on a log axis)")


def read_grads(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "grad_flow.csv")


def scores(jobs: pd.DataFrame) -> pd.DataFrame:
    """The report's layout: a row per depth, test loss then test accuracy per activation."""
    final = jobs.set_index(["model.depth", "model.activation"])[["final_test_loss", "final_test_acc"]]
    return pd.DataFrame([{"layers": d, **{f"loss {a}": float(final.loc[(d, a)].iloc[0]) for a in ACTIVATIONS},
                          **{f"acc {a}": float(final.loc[(d, a)].iloc[1]) for a in ACTIVATIONS}}
                         for d in DEPTHS])


def report_scores() -> pd.DataFrame:
    return pd.DataFrame([{"layers": d, **{f"loss {a}": REPORT[d][a][0] for a in ACTIVATIONS},
                          **{f"acc {a}": REPORT[d][a][1] for a in ACTIVATIONS}} for d in DEPTHS])


def at_epoch(grads: pd.DataFrame, epoch: int) -> pd.DataFrame:
    """The rows of `epoch`, or of the last recorded epoch when the run was shorter."""
    return grads[grads["epoch"] == min(epoch, int(grads["epoch"].max()))].sort_values("layer")


def ratios(grads: dict) -> pd.DataFrame:
    rows = []
    for depth in DEPTHS:
        row = {"layers": depth}
        for a in ACTIVATIONS:
            for epoch, label in ((0, "untrained"), (GRAD_EPOCH, f"epoch {GRAD_EPOCH}")):
                g = at_epoch(grads[(depth, a)], epoch)["max_abs_grad"]
                row[f"{a} {label}"] = float(g.iloc[-1] / g.iloc[0]) if g.iloc[0] > 0 else float("inf")
        rows.append(row)
    return pd.DataFrame(rows)


def draw_profiles(ax_lin, ax_log, profiles: dict[str, pd.DataFrame]) -> None:
    """max |grad| against layer, one line per profile, on a linear and a log axis."""
    for name, g in profiles.items():
        for ax in (ax_lin, ax_log):
            ax.plot(g["layer"], g["max_abs_grad"], marker=".", label=name)
    ax_log.set_yscale("log")
    for ax in (ax_lin, ax_log):
        ax.grid(alpha=0.3)
        ax.set_xlabel("layer (1 = nearest the input)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def grad_figure(grads: dict, path: Path) -> None:
    fig, axes = plt.subplots(2, len(DEPTHS), figsize=(5 * len(DEPTHS), 7.5), constrained_layout=True)
    for k, depth in enumerate(DEPTHS):
        profiles = {a: at_epoch(grads[(depth, a)], GRAD_EPOCH) for a in ACTIVATIONS}
        draw_profiles(axes[0][k], axes[1][k], profiles)
        axes[0][k].set_title(f"{depth} hidden layers")
    axes[0][0].set_ylabel("max |grad| (linear axis)")
    axes[1][0].set_ylabel("max |grad| (log axis)")
    axes[0][0].legend()
    fig.suptitle(f"max |dL/dW| per layer after {GRAD_EPOCH} epochs, one fixed batch of training images")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def profile_figure(profiles: dict[str, pd.DataFrame], path: Path, title: str) -> None:
    fig, (ax_lin, ax_log) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    draw_profiles(ax_lin, ax_log, profiles)
    ax_lin.set_ylabel("max |grad| (linear axis)")
    ax_log.set_ylabel("max |grad| (log axis)")
    ax_lin.legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curves_figure(runs: dict[str, Path], path: Path) -> None:
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for (name, folder), colour in zip(runs.items(), ("C0", "C3"), strict=False):
        metrics = pd.read_csv(folder / "metrics.csv")
        for split, style in (("train", "-"), ("val", "--")):
            for ax, kind in ((ax_loss, "loss"), (ax_acc, "acc")):
                ax.plot(metrics["epoch"], metrics[f"{split}_{kind}"], style, color=colour,
                        label=f"{name} {split}")
    ax_loss.set(yscale="log", xlabel="epoch", ylabel="loss (log axis)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.savefig(path, dpi=110)
    plt.close(fig)
