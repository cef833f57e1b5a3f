"""seeds/002 sections 2-3: a softmax (linear) classifier and a one-hidden-layer net on CIFAR-10
pixels, SGD with the learning rate decayed after every epoch, and the report's ablations: for each
model, one sweep per hyperparameter (regularisation, batch size, learning rate, lr decay, hidden
size) around the baseline presets experiment=cifar_ablation_softmax / cifar_ablation_hidden.

CIFAR-10 cannot be downloaded everywhere: without data/cifar-10-batches-py (and without
NNLAB_ONLINE=1) the runs use generated images written in CIFAR-10's exact file format into a
temporary folder, and the README says so above every number."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.cifar_data import cifar_or_generated
from experiments.common import Context, ReproduceError
from nnlab import runs
from nnlab.plots import plt

DESCRIPTION = "CIFAR-10 softmax and 1-hidden-layer net: hyperparameter ablations"
SEED = "seeds/002"

# model -> (preset, {ablation: (swept key, values, the report's test accuracy per value)}).
# The report's baselines: softmax 41.07% (60 epochs), hidden layer 51.4% (30 epochs).
MODELS = {
    "softmax": ("cifar_ablation_softmax", {
        "regularisation": ("optimizer.weight_decay", ["0", "0.001", "0.01", "0.1"],
                           [0.4098, 0.4103, 0.4101, 0.4108]),
        "batch size": ("batch_size", ["128", "256", "512", "1024"], [0.4125, 0.4111, 0.4059, 0.3997]),
        "learning rate": ("optimizer.lr", ["0.001", "0.005", "0.01", "0.05"],
                          [0.409, 0.4088, 0.4078, 0.3968]),
        "lr decay": ("scheduler.gamma", ["1", "0.99", "0.9", "0.8"], [0.3988, 0.4051, 0.4092, 0.4108]),
    }),
    "hidden layer": ("cifar_ablation_hidden", {
        "hidden size": ("model.hidden", ["[50]", "[100]", "[150]", "[200]"],
                        [0.503, 0.514, 0.518, 0.5272]),
        "batch size": ("batch_size", ["128", "256", "512", "1024"], [0.514, 0.5052, 0.4946, 0.4696]),
        "learning rate": ("optimizer.lr", ["0.2", "0.1", "0.05", "0.01"],
                          [0.4944, 0.514, 0.4996, 0.4621]),
        "lr decay": ("scheduler.gamma", ["1", "0.99", "0.9", "0.8"], [0.4844, 0.4941, 0.514, 0.5024]),
    }),
}


@dataclass
class Settings:
    epochs: int = 10                  # the report: 30
    train_size: int | None = 10000    # first N training images (1k of them validate); None: 50k
    test_size: int | None = None      # None: all 10k test images
    ablations: tuple[str, ...] | None = None  # a subset of the ablation names (tests); None: all
    extra: tuple[str, ...] = ()       # more overrides for every command

    @classmethod
    def for_context(cls, ctx: Context) -> Settings:
        return cls(epochs=30, train_size=None) if ctx.full else cls()


def run(ctx: Context, settings: Settings | None = None) -> None:
    s = settings or Settings.for_context(ctx)
    with ExitStack() as stack:
        data, label = cifar_or_generated(
            ctx, stack, s.train_size, s.test_size,
            caveat="A linear model gets part of it, a hidden layer more: the tables show the "
                   "pipeline and the shape of each ablation, not CIFAR-10's numbers.")
        sizes = [f"dataset.{k}={v}" for k, v in (("train_size", s.train_size),
                                                 ("test_size", s.test_size)) if v is not None]
        for model, (preset, ablations) in MODELS.items():
            rows = []
            for ablation, (key, values, report) in ablations.items():
                if s.ablations is not None and ablation not in s.ablations:
                    continue
                folder = ctx.out / preset / ablation.replace(" ", "_")
                # check=False: a diverging job (a large learning rate) is a result, not a failure;
                # its status goes into the table
                ctx.nnlab("train", "-m", f"experiment={preset}", *data, *sizes, f"epochs={s.epochs}",
                          f"{key}={','.join(values)}", "progress=false", *s.extra,
                          f"hydra.sweep.dir={folder}", check=False)
                rows += ablation_rows(folder, ablation, key, values, report)
            table = pd.DataFrame(rows)
            ctx.heading(f"{model} ({preset})")
            ctx.table(preset, table, "Each block sweeps one hyperparameter around the baseline "
                      "(the preset); accuracies at the last epoch.")
            plot_ablation(table, model, label, ctx.out / f"{preset}.png")
            ctx.figure(ctx.out / f"{preset}.png", f"{model}: test accuracy per ablation")


def ablation_rows(folder: Path, ablation: str, key: str, values: list[str], report: list[float]):
    if not (folder / "report.csv").exists():
        raise ReproduceError(f"the sweep in {folder} wrote no report.csv; see its output above")
    jobs = pd.read_csv(folder / "report.csv").sort_values("job")  # job k ran the k-th value
    rows = []
    for value, job, theirs in zip(values, jobs.itertuples(), report, strict=True):
        done = job.status in runs.FINISHED
        rows.append({"ablation": ablation, "value": value, "status": job.status,
                     "val acc": job.final_val_acc if done else float("nan"),
                     "test acc": job.final_test_acc if done else float("nan"),
                     "report test acc (CIFAR-10)": theirs})
    return rows


def plot_ablation(table: pd.DataFrame, model: str, label: str, path: Path) -> None:
    ablations = list(dict.fromkeys(table["ablation"]))
    fig, axes = plt.subplots(1, len(ablations), figsize=(3.4 * len(ablations), 3.2), sharey=True,
                             squeeze=False, constrained_layout=True)
    for ax, ablation in zip(axes[0], ablations, strict=True):
        rows = table[table["ablation"] == ablation]
        xs = range(len(rows))
        ax.plot(xs, rows["test acc"], "o-", label=label)
        ax.plot(xs, rows["report test acc (CIFAR-10)"], "s--", mfc="none", label="report (CIFAR-10)")
        ax.set_xticks(list(xs), rows["value"])
        ax.set(title=ablation, xlabel=ablation)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{model}: one hyperparameter at a time around the baseline")
    fig.savefig(path, dpi=120)
    plt.close(fig)
