"""seeds/004 section 1: TensorFlow Playground's circle, gauss, xor and spiral toys with the
report's set-up (experiment=playground_report: 5-unit sigmoid layers, SGD lr 0.1, batch 10, 70%
train, squared-error loss), in three parts:

1. hand-crafted features (the report's table 1): each toy with the inputs the report chose;
2. regularisation (table 2): all seven inputs, without regularisation, with L1 and with L2 at
   rate 0.01, and the weight each input feature ends up with (the L2 norm of its outgoing
   first-layer weights in checkpoints/last.pt), the playground's line thickness as a number;
3. x1 and x2 only (table 3): sigmoid, tanh and relu.

Decision boundaries of every model are drawn into two grids (datasets across, settings down)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from experiments.common import Context, read_summary
from nnlab.plots import class1_probability, draw_boundary, plt
from nnlab.probes.first_layer import first_layer
from nnlab.runs import load_trained

DESCRIPTION = "playground toys: feature crosses, L1/L2 feature weights, activations"
SEED = "seeds/004 section 1"

DATASETS = ("circle", "gauss", "xor_toy", "spiral")
ALL_FEATURES = ["x1", "x2", "x1sq", "x2sq", "x1x2", "sin_x1", "sin_x2"]
SPIRAL_HIDDEN = "[5,5,5]"  # the report gives the spiral a third hidden layer, the others two
# Table 1 of the report: inputs, epochs it trained, and its train/test loss.
HAND_CRAFTED = {
    "circle": (["x1sq", "x2sq"], 306, 0.0, 0.0),
    "gauss": (["x1", "x2"], 70, 0.0, 0.0),
    "xor_toy": (["x1x2"], 390, 0.0, 0.001),
    "spiral": (["x1", "x2", "sin_x1", "sin_x2"], 700, 0.017, 0.051),
}
# Table 2 of the report (all inputs, 250 epochs, spiral 1000): test loss and the inputs that
# mattered at the end.
REPORT_REGULARISED = {
    ("xor_toy", "L1"): (0.01, "x1, x2"), ("xor_toy", "L2"): (0.015, "x1, x2, sin_x1, sin_x2"),
    ("circle", "L1"): (0.013, "x1sq, x2sq"), ("circle", "L2"): (0.016, "x1sq, x2sq"),
    ("gauss", "L1"): (0.019, "x1x2"), ("gauss", "L2"): (0.039, "x1x2"),
    ("spiral", "L1"): (0.404, "sin_x1, sin_x2"), ("spiral", "L2"): (0.02, "all about equal"),
}
REGULARISERS = ("none", "L1", "L2")


@dataclass
class Settings:
    datasets: tuple[str, ...] = DATASETS
    hand_epochs_scale: float = 1.0        # x the report's table-1 epochs
    reg_epochs: tuple[int, int] = (250, 500)  # (circle/gauss/xor, spiral); the report: 250, 1000
    act_epochs: int = 200                 # table 3 (the report stopped between 28 and 760)
    act_hidden: tuple[str, ...] = ("[5,5]",)
    extra: tuple[str, ...] = ()           # more overrides for every command

    @classmethod
    def for_context(cls, ctx: Context) -> Settings:
        if ctx.full:
            return cls(reg_epochs=(250, 1000), act_epochs=1000, act_hidden=("[5,5]", SPIRAL_HIDDEN))
        return cls()


def run(ctx: Context, settings: Settings | None = None) -> None:
    s = settings or Settings.for_context(ctx)
    base = ["experiment=playground_report", "progress=false", *s.extra]
    hand = hand_crafted(ctx, s, base)
    reg = regularised(ctx, s, base)
    act = activations(ctx, s, base)

    ctx.heading("Decision boundaries")
    rows = {"hand-crafted": hand}
    rows.update({f"all inputs, {r}": {d: reg[(d, r)] for d in s.datasets} for r in REGULARISERS})
    boundary_grid(rows, ctx.out / "boundaries_features.png")
    ctx.figure(ctx.out / "boundaries_features.png", "hand-crafted inputs, then all seven inputs "
               "without regularisation, with L1 and with L2 (rate 0.01)")
    models = list(dict.fromkeys(m for _, m in act))
    boundary_grid({m: {d: act[(d, m)] for d in s.datasets} for m in models},
                  ctx.out / "boundaries_activations.png")
    ctx.figure(ctx.out / "boundaries_activations.png", "x1 and x2 only, by activation")


def hand_crafted(ctx: Context, s: Settings, base: list[str]) -> dict[str, Path]:
    """Part 1: one run per toy, each with the report's inputs for it."""
    runs = {}
    for name in s.datasets:
        features, epochs, _, _ = HAND_CRAFTED[name]
        folder = ctx.out / "hand_crafted" / name
        ctx.nnlab("train", *base, f"dataset={name}", f"dataset.features=[{','.join(features)}]",
                  *hidden(name), f"epochs={max(1, round(epochs * s.hand_epochs_scale))}",
                  f"hydra.run.dir={folder}")
        runs[name] = folder
    ctx.heading("1. Hand-crafted features (report table 1)")
    ctx.table("hand_crafted", pd.DataFrame([
        {"dataset": n, "features": " ".join(HAND_CRAFTED[n][0]),
         "epochs": read_summary(f)["epochs_completed"], **losses(f),
         "report train loss": HAND_CRAFTED[n][2], "report test loss": HAND_CRAFTED[n][3]}
        for n, f in runs.items()]), "Squared-error loss (the playground's) and test accuracy.")
    return runs


def regularised(ctx: Context, s: Settings, base: list[str]) -> dict[tuple[str, str], Path]:
    """Part 2: all seven inputs without regularisation, with L1 and with L2; two sweeps (l1=0,0.01
    and L2) per depth, since the spiral has three hidden layers and trains longer."""
    runs = {}
    groups = {"two_layers": ([d for d in s.datasets if d != "spiral"], s.reg_epochs[0]),
              "spiral": ([d for d in s.datasets if d == "spiral"], s.reg_epochs[1])}
    for tag, (datasets, epochs) in groups.items():
        if not datasets:
            continue
        for sweep, values in (("l1", "l1=0,0.01"), ("l2", "optimizer.weight_decay=0.01")):
            folder = ctx.out / "regularised" / f"{tag}_{sweep}"
            ctx.nnlab("train", "-m", *base, f"dataset={','.join(datasets)}",
                      f"dataset.features=[{','.join(ALL_FEATURES)}]", *hidden(datasets[0]),
                      values, f"epochs={epochs}", f"hydra.sweep.dir={folder}")
            for cfg, job in sweep_jobs(folder):
                kind = "L2" if cfg.optimizer.weight_decay > 0 else ("L1" if cfg.l1 > 0 else "none")
                runs[(cfg.dataset.name, kind)] = job
    weights = pd.DataFrame([{"dataset": d, "regulariser": r, **feature_weights(f), **losses(f),
                             "report test loss": REPORT_REGULARISED.get((d, r), ("", ""))[0],
                             "report: inputs that mattered": REPORT_REGULARISED.get((d, r), ("", "-"))[1]}
                            for (d, r), f in by_dataset(runs)])
    ctx.heading("2. Regularisation and the weight of each input (report table 2, figure 2)")
    ctx.table("feature_weights", weights, "L2 norm of each input's outgoing first-layer weights at "
              "the end of training (the playground draws it as line thickness), with the test loss.")
    collapsed = weights[weights[ALL_FEATURES].max(axis=1) < 0.01]
    if len(collapsed):
        ctx.note("Collapsed to a constant output (every input's weight below 0.01): "
                 + ", ".join(f"{d} with {r}" for d, r in zip(collapsed["dataset"],
                                                             collapsed["regulariser"], strict=True))
                 + ". The penalty is the playground's (rate 0.01, lr 0.1), but nnlab's weight_decay "
                 "also shrinks the biases, which the playground leaves alone, L1 has no clip at "
                 "zero here, and training starts from PyTorch's initialisation, not the playground's.")
    plot_feature_weights(weights, ctx.out / "feature_weights.png")
    ctx.figure(ctx.out / "feature_weights.png", "weight of each input feature, per toy and regulariser")
    return runs


def activations(ctx: Context, s: Settings, base: list[str]) -> dict[tuple[str, str], Path]:
    """Part 3: x1 and x2 only, sigmoid/tanh/relu (with FULL=1 also three hidden layers)."""
    folder = ctx.out / "activations"
    ctx.nnlab("train", "-m", *base, f"dataset={','.join(s.datasets)}",
              "model.activation=sigmoid,tanh,relu", f"model.hidden={','.join(s.act_hidden)}",
              f"epochs={s.act_epochs}", f"hydra.sweep.dir={folder}")
    runs = {(cfg.dataset.name, f"{cfg.model.activation} {list(cfg.model.hidden)}"): job
            for cfg, job in sweep_jobs(folder)}
    ctx.heading("3. x1 and x2 only: sigmoid, tanh, relu (report table 3)")
    ctx.table("activations", pd.DataFrame([
        {"dataset": d, "model": m, **losses(f), "first epoch with test loss < 0.01": converged(f)}
        for (d, m), f in by_dataset(runs)]),
        "Report (XOR, 2x5 units): tanh reaches loss 0 by epoch 64, sigmoid is stuck at 0.5 after "
        "300; relu (4x5) by epoch 40. Circle: sigmoid 2x5 by 760, relu 4x5 by 38.")
    return runs


def hidden(dataset: str) -> list[str]:
    return [f"model.hidden={SPIRAL_HIDDEN}"] if dataset == "spiral" else []


def by_dataset(runs: dict[tuple[str, str], Path]) -> list[tuple[tuple[str, str], Path]]:
    """Runs in DATASETS order; a stable sort keeps each dataset's runs in the order they ran."""
    return sorted(runs.items(), key=lambda kv: DATASETS.index(kv[0][0]))


def sweep_jobs(folder: Path) -> list[tuple[DictConfig, Path]]:
    """(resolved config, run folder) of every job of a finished sweep; the config, not report.csv,
    says what a job ran, because report.csv has columns only for the keys that varied."""
    jobs = pd.read_csv(folder / "report.csv")
    return [(OmegaConf.load(Path(p) / ".hydra" / "config.yaml"), Path(p)) for p in jobs["path"]]


def losses(folder: Path) -> dict:
    final = read_summary(folder)["final"]
    return {"train loss": final["train_loss"], "test loss": final["test_loss"],
            "test acc": final["test_acc"]}


def converged(folder: Path, threshold: float = 0.01) -> int | str:
    metrics = pd.read_csv(folder / "metrics.csv")
    below = metrics.loc[metrics["test_loss"] < threshold, "epoch"]
    return int(below.iloc[0]) if len(below) else "not reached"


def feature_weights(folder: Path) -> dict:
    """Input feature -> L2 norm of its column in the first Linear layer (its outgoing weights)."""
    trained = load_trained(folder, "last")
    norms = first_layer(trained.model).weight.detach().norm(dim=0)
    return dict(zip(trained.data.feature_names, map(float, norms), strict=True))


def plot_feature_weights(weights: pd.DataFrame, path: Path) -> None:
    datasets = list(dict.fromkeys(weights["dataset"]))
    regularisers = list(dict.fromkeys(weights["regulariser"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.4), squeeze=False,
                             constrained_layout=True)
    width = 0.8 / len(regularisers)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for k, reg in enumerate(regularisers):
            row = weights[(weights["dataset"] == dataset) & (weights["regulariser"] == reg)]
            xs = [i + (k - (len(regularisers) - 1) / 2) * width for i in range(len(ALL_FEATURES))]
            ax.bar(xs, row[ALL_FEATURES].to_numpy()[0], width, label=reg)
        ax.set_xticks(range(len(ALL_FEATURES)), ALL_FEATURES, rotation=45)
        ax.set_title(dataset)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel("L2 norm of outgoing weights")
    axes[0][0].legend(title="regulariser")
    fig.suptitle("Weight each input feature ends up with (all seven inputs, rate 0.01)")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def boundary_grid(rows: dict[str, dict[str, Path]], path: Path) -> None:
    """Row label -> {dataset: run folder}: each run's final boundary, a column per dataset."""
    datasets = list(dict.fromkeys(d for row in rows.values() for d in row))
    fig, axes = plt.subplots(len(rows), len(datasets), squeeze=False, constrained_layout=True,
                             figsize=(2.6 * len(datasets), 2.6 * len(rows)))
    for r, (label, runs) in enumerate(rows.items()):
        for c, dataset in enumerate(datasets):
            ax = axes[r][c]
            trained = load_trained(runs[dataset], "last")
            draw_boundary(ax, class1_probability(trained.model, trained.data.plane, 80, "cpu"),
                          trained.data)
            acc = read_summary(runs[dataset])["final"]["test_acc"]
            ax.set_title(f"{dataset}: test acc {acc:.2f}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)
