"""seeds/004 section 1: TensorFlow Playground's circle, gauss, xor and spiral toys on Playground's
own network (experiment=playground_report: model=playground, 5-unit sigmoid layers, lr 0.1,
batch 10, 70% train, Playground's squared error and update rule), in four parts:

1. hand-crafted features (the report's table 1): each toy with the inputs the report chose, at
   the report's epochs, over 5 seeds;
2. regularisation (table 2): all seven inputs without regularisation, with L1 and with L2 at rate
   0.01, 5 seeds, and the weight each input feature ends up with (the L2 norm of its outgoing
   first-layer weights in checkpoints/last.pt), the playground's line thickness as a number;
3. x1 and x2 only (table 3): sigmoid, tanh and relu (one seed);
4. the spiral with L2 (the report's 0.02 that table 2 does not reproduce): the hypotheses, each
   over 5 seeds.

Each cell of tables 1 and 2 is the mean ± standard deviation over the seeds, with their range,
next to the report's number: `matched` when the report's number lies within the seeds' range
widened by the site's display precision (it shows three decimals), else `differs`. Decision
boundaries (the first seed of each cell) are drawn into two grids."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from experiments.common import Context, read_summary
from nnlab.plots import class1_probability, draw_boundary, plt
from nnlab.probes.first_layer import first_layer
from nnlab.runs import load_trained

DESCRIPTION = "playground toys on Playground's network: features, L1/L2 feature weights, activations"
SEED = "seeds/004 section 1"

DATASETS = ("circle", "gauss", "xor_toy", "spiral")
ALL_FEATURES = ["x1", "x2", "x1sq", "x2sq", "x1x2", "sin_x1", "sin_x2"]
SPIRAL_HIDDEN = "[5,5,5]"  # the report gives the spiral a third hidden layer, the others two
SEEDS = (0, 1, 2, 3, 4)
RATE = 0.01  # the report's regularisation rate
SHOWN = 0.0005  # the site shows losses to three decimals: a report's 0 is anything below this
# Table 1 of the report: inputs, epochs it trained, and its train/test loss.
HAND_CRAFTED = {
    "circle": (["x1sq", "x2sq"], 306, 0.0, 0.0),
    "gauss": (["x1", "x2"], 70, 0.0, 0.0),
    "xor_toy": (["x1x2"], 390, 0.0, 0.001),
    "spiral": (["x1", "x2", "sin_x1", "sin_x2"], 700, 0.017, 0.051),
}
# Table 2 of the report (all inputs, 250 epochs, spiral 1000): train and test loss, and the
# inputs that mattered at the end.
REPORT_REGULARISED = {
    ("xor_toy", "L1"): (0.011, 0.01, "x1, x2"), ("xor_toy", "L2"): (0.016, 0.015, "x1, x2, sin_x1, sin_x2"),
    ("circle", "L1"): (0.014, 0.013, "x1sq, x2sq"), ("circle", "L2"): (0.016, 0.016, "x1sq, x2sq"),
    ("gauss", "L1"): (0.013, 0.019, "x1x2"), ("gauss", "L2"): (0.027, 0.039, "x1x2"),
    ("spiral", "L1"): (0.324, 0.404, "sin_x1, sin_x2"), ("spiral", "L2"): (0.02, 0.02, "all about equal"),
}
REGULARISERS = {"none": "none", "l1": "L1", "l2": "L2"}  # optimizer.regularization -> the report's
# Part 4: the spiral with all inputs and L2, 1000 epochs: what could make the report's 0.02.
# name -> (folder, overrides, what it tests); the first is table 2's own runs.
SPIRAL_L2_HYPOTHESES = {
    "as the report states": ("report", [f"model.hidden={SPIRAL_HIDDEN}",
                                        f"optimizer.regularization_rate={RATE}"],
                             "Playground's current rule at the report's settings (table 2's runs)"),
    "old nn.ts: rate / batch size": ("old_rule", [f"model.hidden={SPIRAL_HIDDEN}",
                                                  "optimizer.regularization_rate=0.001"],
                                     "nn.ts before 2017-03-08 divided the regulariser's step by the "
                                     "batch size: for L2 at batch 10 that is exactly rate 0.001 today"),
    "rate 0.0001": ("rate_1e-4", [f"model.hidden={SPIRAL_HIDDEN}", "optimizer.regularization_rate=0.0001"],
                    "a smaller rate"),
    "third layer of 2 units (5-5-2)": ("hidden_5_5_2", ["model.hidden=[5,5,2]",
                                                        f"optimizer.regularization_rate={RATE}"],
                                       "the site gives a newly added layer 2 units; the report lists "
                                       "only the first two layers' widths"),
    "tanh, the site's default activation": ("tanh", [f"model.hidden={SPIRAL_HIDDEN}", "model.activation=tanh",
                                                     f"optimizer.regularization_rate={RATE}"],
                                            "the report's network with the site's default activation"),
}
LEARNED = 0.1  # a run "learned" the spiral when its final test loss is below this (a constant: 0.5)


@dataclass
class Settings:
    datasets: tuple[str, ...] = DATASETS
    seeds: tuple[int, ...] = SEEDS
    hand_epochs_scale: float = 1.0        # x the report's table-1 epochs
    reg_epochs: tuple[int, int] = (250, 1000)  # (circle/gauss/xor, spiral): the report's
    regularisers: tuple[str, ...] = ("l1", "l2")  # the report's; "none" adds a reference row
    act_epochs: int = 100                 # table 3 (the report stopped between 28 and 760)
    act_hidden: tuple[str, ...] = ("[5,5]",)
    spiral_l2: tuple[str, ...] = ("as the report states", "old nn.ts: rate / batch size")  # part 4
    spiral_l2_epochs: int = 1000          # the report's
    jobs: int = 2                         # parallel jobs of each sweep (hydra/launcher=joblib)
    extra: tuple[str, ...] = ()           # more overrides for every command

    @classmethod
    def for_context(cls, ctx: Context) -> Settings:
        """Scaled down: no unregularised row in table 2, two hypotheses for the L2 spiral, table 3
        at 100 epochs; FULL=1 adds the rest and table 3 at 1000 epochs."""
        if ctx.full:
            return cls(reg_epochs=(250, 1000), regularisers=("none", "l1", "l2"), act_epochs=1000,
                       act_hidden=("[5,5]", SPIRAL_HIDDEN), spiral_l2=tuple(SPIRAL_L2_HYPOTHESES))
        return cls()


def run(ctx: Context, settings: Settings | None = None) -> None:
    s = settings or Settings.for_context(ctx)
    # skip_completed: running the experiment again into its folder keeps the jobs that completed
    base = ["experiment=playground_report", "progress=false", "skip_completed=true", *s.extra]
    if s.jobs > 1:
        base += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={s.jobs}"]
    ctx.note(f"**Data:** Playground's generators (500 points, noise 0, 70% for training), as the "
             f"report's site made them; each cell is {len(s.seeds)} runs (`seed=` drives the data, "
             f"the initialisation and the batch order). The network and its update are "
             f"Playground's (`model=playground`, tests/test_playground.py checks the update against "
             f"nn.ts written out point by point); nnlab visits the training points in a fresh "
             f"order each epoch, where the site keeps one.")
    hand = hand_crafted(ctx, s, base)
    reg = regularised(ctx, s, base)
    act = activations(ctx, s, base)
    if s.spiral_l2 and "spiral" in s.datasets:
        spiral_l2(ctx, s, base, reg)

    ctx.heading("Decision boundaries")
    first = s.seeds[0]
    rows = {"hand-crafted": {d: hand[(d, first)] for d in s.datasets}}
    rows.update({f"all inputs, {REGULARISERS[r]}": {d: reg[(d, REGULARISERS[r], first)] for d in s.datasets}
                 for r in s.regularisers})
    boundary_grid(rows, ctx.out / "boundaries_features.png")
    ctx.figure(ctx.out / "boundaries_features.png", f"seed {first}: hand-crafted inputs, then all "
               f"seven inputs without regularisation, with L1 and with L2 (rate {RATE})")
    models = list(dict.fromkeys(m for _, m in act))
    boundary_grid({m: {d: act[(d, m)] for d in s.datasets} for m in models},
                  ctx.out / "boundaries_activations.png")
    ctx.figure(ctx.out / "boundaries_activations.png", "x1 and x2 only, by activation")


def seeds_override(s: Settings) -> str:
    return "seed=" + ",".join(map(str, s.seeds))


def hand_crafted(ctx: Context, s: Settings, base: list[str]) -> dict[tuple[str, int], Path]:
    """Part 1: one sweep over the seeds per toy, each with the report's inputs for it."""
    runs = {}
    for name in s.datasets:
        features, epochs, _, _ = HAND_CRAFTED[name]
        folder = ctx.out / "hand_crafted" / name
        ctx.nnlab("train", "-m", *base, f"dataset={name}", f"dataset.features=[{','.join(features)}]",
                  *hidden(name), f"epochs={max(1, round(epochs * s.hand_epochs_scale))}",
                  seeds_override(s), f"hydra.sweep.dir={folder}")
        runs.update({(name, cfg.seed): job for cfg, job in sweep_jobs(folder)})
    per_run = pd.DataFrame([{"dataset": d, "seed": seed, "features": " ".join(HAND_CRAFTED[d][0]),
                             "epochs": read_summary(f)["epochs_completed"], **losses(f)}
                            for (d, seed), f in by_dataset(runs)])
    per_run.to_csv(ctx.out / "hand_crafted_runs.csv", index=False)
    ctx.heading("1. Hand-crafted features (report table 1)")
    ctx.table("hand_crafted", side_by_side(
        per_run, ["dataset", "features", "epochs"],
        lambda key: {"train loss": HAND_CRAFTED[key[0]][2], "test loss": HAND_CRAFTED[key[0]][3]}),
        f"Playground's loss (0.5 (output - label)^2, mean over the points) after the report's epochs: "
        f"mean ± sd (min-max) over seeds {list(s.seeds)}, next to the report's; test acc is the "
        f"share of test points on the right side (hand_crafted_runs.csv: every run).")
    return runs


def regularised(ctx: Context, s: Settings, base: list[str]) -> dict[tuple[str, str, int], Path]:
    """Part 2: all seven inputs without regularisation, with L1 and with L2 at rate 0.01; one sweep
    per depth, since the spiral has three hidden layers and trains longer."""
    runs = {}
    groups = {"two_layers": ([d for d in s.datasets if d != "spiral"], s.reg_epochs[0]),
              "spiral": ([d for d in s.datasets if d == "spiral"], s.reg_epochs[1])}
    for tag, (datasets, epochs) in groups.items():
        if not datasets:
            continue
        folder = ctx.out / "regularised" / tag
        ctx.nnlab("train", "-m", *base, f"dataset={','.join(datasets)}",
                  f"dataset.features=[{','.join(ALL_FEATURES)}]", *hidden(datasets[0]),
                  f"optimizer.regularization={','.join(s.regularisers)}",
                  f"optimizer.regularization_rate={RATE}",
                  f"epochs={epochs}", seeds_override(s), f"hydra.sweep.dir={folder}")
        for cfg, job in sweep_jobs(folder):
            runs[(cfg.dataset.name, REGULARISERS[cfg.optimizer.regularization], cfg.seed)] = job
    per_run = pd.DataFrame([{"dataset": d, "regulariser": r, "seed": seed, **feature_weights(f),
                             **losses(f)} for (d, r, seed), f in by_dataset(runs)])
    per_run.to_csv(ctx.out / "regularised_runs.csv", index=False)
    ctx.heading("2. Regularisation and the weight of each input (report table 2, figure 2)")
    ctx.table("regularised", side_by_side(
        per_run, ["dataset", "regulariser"],
        lambda key: dict(zip(("train loss", "test loss"), REPORT_REGULARISED.get(key, (None, None)),
                             strict=False))),
        f"All seven inputs, rate {RATE}, {s.reg_epochs[0]} epochs ({s.reg_epochs[1]} for the spiral): "
        f"mean ± sd (min-max) over seeds {list(s.seeds)} next to the report's (regularised_runs.csv: "
        f"every run). The report has no row without regularisation.")
    swapped = swapped_rows(per_run)
    if len(swapped):
        ctx.table("regularised_swapped", swapped, "The report's xor and gauss rows read the other way "
                  "round (its 'inputs that mattered' name x1, x2 for xor and x1x2 for gauss, which "
                  "is each other's problem): each report number against the other toy's seeds.")
    weights = per_run.groupby(["dataset", "regulariser"], sort=False)[ALL_FEATURES].mean().reset_index()
    weights["inputs that mattered"] = [mattered(row) for _, row in weights.iterrows()]
    weights["report: inputs that mattered"] = [
        REPORT_REGULARISED.get((d, r), ("", "", "-"))[2] for d, r in zip(weights["dataset"],
                                                                         weights["regulariser"], strict=True)]
    ctx.table("feature_weights", weights, "L2 norm of each input's outgoing first-layer weights at the "
              "end of training (the playground draws it as line thickness), mean over the seeds; an "
              "input mattered when its weight is at least half the largest one. (The report's xor "
              "and gauss rows name each other's inputs: x1x2 is what separates xor, x1 and x2 the "
              "gaussians.)")
    plot_feature_weights(per_run, ctx.out / "feature_weights.png")
    ctx.figure(ctx.out / "feature_weights.png", "weight of each input feature, per toy and regulariser "
               "(mean and sd over the seeds)")
    return runs


def activations(ctx: Context, s: Settings, base: list[str]) -> dict[tuple[str, str], Path]:
    """Part 3: x1 and x2 only, sigmoid/tanh/relu (with FULL=1 also three hidden layers); one seed."""
    folder = ctx.out / "activations"
    ctx.nnlab("train", "-m", *base, f"dataset={','.join(s.datasets)}",
              "model.activation=sigmoid,tanh,relu", f"model.hidden={','.join(s.act_hidden)}",
              f"epochs={s.act_epochs}", f"seed={s.seeds[0]}", f"hydra.sweep.dir={folder}")
    runs = {(cfg.dataset.name, f"{cfg.model.activation} {list(cfg.model.hidden)}"): job
            for cfg, job in sweep_jobs(folder)}
    ctx.heading("3. x1 and x2 only: sigmoid, tanh, relu (report table 3)")
    ctx.table("activations", pd.DataFrame([
        {"dataset": d, "model": m, **losses(f), "first epoch with test loss < 0.01": converged(f)}
        for (d, m), f in by_dataset(runs)]),
        "Report (XOR, 2x5 units): tanh reaches loss 0 by epoch 64, sigmoid is stuck at 0.5 after "
        "300; relu (4x5) by epoch 40. Circle: sigmoid 2x5 by 760, relu 4x5 by 38.")
    return runs


def spiral_l2(ctx: Context, s: Settings, base: list[str], reg: dict) -> None:
    """Part 4: the spiral, all inputs, L2, 1000 epochs (the report: test loss 0.02), under each
    hypothesis of what the report ran. The first one is table 2's own runs."""
    rows = []
    for name in s.spiral_l2:
        slug, overrides, why = SPIRAL_L2_HYPOTHESES[name]
        if slug == "report" and s.reg_epochs[1] == s.spiral_l2_epochs:
            folders = [reg[("spiral", "L2", seed)] for seed in s.seeds]  # table 2's own runs
        else:
            folder = ctx.out / "spiral_l2" / slug
            ctx.nnlab("train", "-m", *base, "dataset=spiral", f"dataset.features=[{','.join(ALL_FEATURES)}]",
                      "optimizer.regularization=l2", *overrides, f"epochs={s.spiral_l2_epochs}",
                      seeds_override(s), f"hydra.sweep.dir={folder}")
            folders = [job for _, job in sweep_jobs(folder)]
        test = pd.Series([losses(f)["test loss"] for f in folders])
        rows.append({"hypothesis": name, "what it tests": why, "overrides": " ".join(overrides),
                     "test loss": spread(test), "report": 0.02, "verdict": verdict(test, 0.02),
                     "seeds that learned": f"{int((test < LEARNED).sum())} of {len(test)}"})
    ctx.heading("4. The spiral with all inputs and L2 (the report: test loss 0.02)")
    ctx.table("spiral_l2", pd.DataFrame(rows), f"Spiral, all seven inputs, sigmoid, lr 0.1, batch 10, L2, "
              f"{s.spiral_l2_epochs} epochs, seeds {list(s.seeds)}; a seed learned when its test loss "
              f"ends below {LEARNED} (a collapsed network sits at 0.5).")


# ---------------------------------------------------------------------- tables


def spread(values: pd.Series) -> str:
    """mean ± sd (min-max), three decimals as the site shows them."""
    values = pd.Series(values, dtype=float)
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.3f} ± {sd:.3f} ({values.min():.3f}-{values.max():.3f})"


def verdict(values: pd.Series, report: float | None) -> str:
    """matched: the report's number within the seeds' range, widened by the site's rounding."""
    if report is None or report == "":
        return "-"
    if values.min() - SHOWN <= report <= values.max() + SHOWN:
        return "matched"
    return "differs: nnlab lower" if values.max() < report else "differs: nnlab higher"


def side_by_side(per_run: pd.DataFrame, keys: list[str], report) -> pd.DataFrame:
    """One row per cell: each loss as mean ± sd (min-max) over the seeds next to the report's number
    (report(cell key) -> {metric: number or None}) and the verdict, then the test accuracy."""
    rows = []
    for key, cell in per_run.groupby(keys, sort=False):
        stated = report(key)
        row = dict(zip(keys, key, strict=True))
        for metric in ("train loss", "test loss"):
            want = stated.get(metric)
            row[metric] = spread(cell[metric])
            row[f"report {metric}"] = "-" if want is None else f"{want:g}"
            row[f"{metric}: verdict"] = verdict(cell[metric], want)
        row["test acc"] = spread(cell["test acc"])
        rows.append(row)
    return pd.DataFrame(rows)


def swapped_rows(per_run: pd.DataFrame) -> pd.DataFrame:
    """Table 2's xor and gauss rows against each other's runs (the report seems to swap them)."""
    other = {"xor_toy": "gauss", "gauss": "xor_toy"}
    rows = []
    for (dataset, reg), cell in per_run.groupby(["dataset", "regulariser"], sort=False):
        stated = REPORT_REGULARISED.get((other.get(dataset), reg))
        if stated is None:
            continue
        row = {"report row": f"{other[dataset]} {reg}", "nnlab runs": f"{dataset} {reg}"}
        for metric, want in zip(("train loss", "test loss"), stated[:2], strict=True):
            row.update({metric: spread(cell[metric]), f"report {metric}": f"{want:g}",
                        f"{metric}: verdict": verdict(cell[metric], want)})
        rows.append(row)
    return pd.DataFrame(rows)


def mattered(weights: pd.Series, share: float = 0.5) -> str:
    values = weights[ALL_FEATURES].astype(float)
    if values.max() < 0.01:
        return "none (collapsed to a constant)"
    return ", ".join(f for f in ALL_FEATURES if values[f] >= share * values.max())


def hidden(dataset: str) -> list[str]:
    return [f"model.hidden={SPIRAL_HIDDEN}"] if dataset == "spiral" else []


def by_dataset(runs: dict[tuple, Path]) -> list[tuple[tuple, Path]]:
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


def plot_feature_weights(per_run: pd.DataFrame, path: Path) -> None:
    """Bars: each input's weight, mean over the seeds, with their standard deviation."""
    datasets = list(dict.fromkeys(per_run["dataset"]))
    regularisers = list(dict.fromkeys(per_run["regulariser"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.4), squeeze=False,
                             constrained_layout=True)
    width = 0.8 / len(regularisers)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for k, reg in enumerate(regularisers):
            cell = per_run[(per_run["dataset"] == dataset) & (per_run["regulariser"] == reg)][ALL_FEATURES]
            xs = [i + (k - (len(regularisers) - 1) / 2) * width for i in range(len(ALL_FEATURES))]
            ax.bar(xs, cell.mean().to_numpy(), width, yerr=cell.std(ddof=0).to_numpy(), capsize=2,
                   label=reg)
        ax.set_xticks(range(len(ALL_FEATURES)), ALL_FEATURES, rotation=45)
        ax.set_title(dataset)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel("L2 norm of outgoing weights")
    axes[0][0].legend(title="regulariser")
    fig.suptitle(f"Weight each input feature ends up with (all seven inputs, rate {RATE}; "
                 f"mean and sd over {per_run['seed'].nunique()} seeds)")
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
