"""seeds/000 problem 4, seeds/001 exercise 2 and seeds/002 section 4: adversarial examples for the
models the reports trained, each attack one `nnlab attack` command on a training run folder.

1. Two LeNets trained on MNIST with different seeds (model 1 is attacked, model 2 only scored).
2. seeds/000 4.1: untargeted iterative sign steps on model 1 (`attack=ifgsm`), a gallery;
   4.2: targeted sign steps to a random other class (`attack=targeted_sign target=random`);
   4.3: both sets of adversarial images scored on model 2 (`transfer=[RUN2]`). The report: model 2
   still classified 81% (untargeted) and 64% (targeted) of them correctly.
3. A PGD robustness curve of model 1 (`attack=pgd attack.eps=[0,0.05,0.1,0.2,0.3]`).
4. seeds/001 exercise 2: the generator attack, one perturbation network per target class trained
   with the classifier frozen, sending one image of each of the classes 0-4 to every other class
   (`attack=generator target=all classes=[0,1,2,3,4] per_class=1`, targets_grid.png).
5. seeds/002 section 4: a targeted L2 PGD attack on CIFAR-10 (`attack=pgd attack.norm=l2
   target=random`) on the report's one-hidden-layer net and on LeNet, a small
   CNN, over a few L2 radii around the report's perturbation size (91 in [0, 255] units, 0.357 in
   the [0, 1] pixel units nnlab uses).

MNIST falls back to the real Fashion-MNIST when absent; CIFAR-10 to generated images in its file
format (said above every number in the README, as in cifar_ablation.py)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from experiments.cifar_data import cifar_or_generated
from experiments.common import Context, ReproduceError, mnist_or_stand_in, read_summary
from nnlab.data.vision import SPECS
from nnlab.plots import plt
from nnlab.runs import load_trained

DESCRIPTION = "Adversarial examples: galleries, transfer, PGD curve, generator grid, CIFAR L2"
SEED = "seeds/000 problem 4, seeds/001 exercise 2 and seeds/002 section 4"

# The reports' numbers, quoted.
# seeds/000 4.3: "Testing the above generated Adversarial images on model 2: Using Samples from 4.1,
# Total adversarial images used: 7300, Accuracy: 0.81322427. Using Samples from 4.2, Total
# adversarial images used: 5700, Accuracy: 0.64104336." ... "misclassified in model 1 (Accuracy: 0)"
REPORT_TRANSFER = {"untargeted": (7300, 0.81322427), "targeted": (5700, 0.64104336)}
# seeds/001 exercise 2: the classifier C reached "99.39% on the MNIST test set" after 20 epochs; the
# generator made C misclassify "the digit to the wanted class every time" (digits 0-4 picked).
REPORT_C_ACC = 0.9939
REPORT_GENERATOR_SUCCESS = 1.0
GENERATOR_CLASSES = [0, 1, 2, 3, 4]
# seeds/002 section 4: the one-hidden-layer net of section 3 (51.4% test accuracy); a truck sent to
# "automobile" by a one-step targeted attack: "The difference norm is 91 in the scale of 3X32X32
# [0,255] pixel-value image".
REPORT_CIFAR_ACC = 0.514
REPORT_CIFAR_L2 = 91 / 255            # 0.357 in [0, 1] pixel units

# What the attacks are, beyond their config defaults (configs/attack/*.yaml).
PGD_EPS = [0, 0.05, 0.1, 0.2, 0.3]    # Linf, pixel units: the MNIST robustness curve
CIFAR_EPS = [0.1, 0.25, round(REPORT_CIFAR_L2, 3), 0.5, 1.0]  # L2 radii, pixel units
CIFAR_PGD = ["attack=pgd", "attack.norm=l2", "target=random",  # target= makes PGD targeted
             "attack.alpha=0.05", "attack.steps=40"]   # 40 steps of 0.05: twice the largest radius

# The generator attack's first defaults (width 32, lr 0.001) left one of the ten generators stuck
# near 0 success (target 3, measured on a 3-epoch Fashion-MNIST LeNet, at train_n 2000 and 5000
# alike: 0.02 success on its training images, 0.89 on the grid); narrower and at 10 x the rate
# every generator reached >= 0.98 on its training images and 0.98 on the grid, in a third of the
# time. configs/attack/generator.yaml has used these since; they are stated here so the experiment
# keeps them if the defaults change again.
GENERATOR_TUNING = ("attack.width=16", "attack.lr=0.01")

LENET = ["model=lenet", "optimizer=adam", "optimizer.lr=0.002", "scheduler=cosine", "batch_size=64"]
# CIFAR-10 models: folder name, label, overrides. No augmentation (as the report; a flip would also
# swap the generated stand-in's classes, which differ by where a block sits).
CIFAR_MODELS = {
    "hidden": ("1 hidden layer (the report's)", ["experiment=cifar_ablation_hidden"]),
    "lenet": ("LeNet (small CNN)", ["dataset=cifar10", *LENET, "dataset.val_size=1000",
                                    "dataset.augment.translate=0", "dataset.augment.hflip=false"]),
}


@dataclass
class Settings:
    epochs: int = 3                   # LeNet epochs on MNIST (seeds/001's C: 20)
    train_size: int | None = None     # first N MNIST training images (a tenth validate); None: 60k (5k)
    n: int | None = 1000              # test images attacked (None: all 10k, as the report)
    gallery: int = 5                  # rows of gallery.png (the report showed 5)
    # generator attack overrides: GENERATOR_TUNING, and 2000 (not the config's 5000) training
    # images per generator; 5 s per generator on one CPU core
    generator: tuple[str, ...] = (*GENERATOR_TUNING, "attack.train_n=2000")
    cifar_epochs: int = 10            # the report's hidden-layer net: 30
    cifar_train_size: int | None = 10000  # first N CIFAR-10 training images (1k validate); None: 50k
    cifar_test_size: int | None = None    # None: all 10k test images
    cifar_n: int | None = 500         # CIFAR-10 test images attacked (None: all)
    train_extra: tuple[str, ...] = ()     # more overrides for every `nnlab train` (tests: cpu_threads=1)

    @classmethod
    def for_context(cls, ctx: Context) -> Settings:
        if ctx.full:
            return cls(epochs=20, n=None, generator=GENERATOR_TUNING, cifar_epochs=30,
                       cifar_train_size=None, cifar_n=None)
        return cls()


def run(ctx: Context, settings: Settings | None = None) -> None:
    s = settings or Settings.for_context(ctx)
    data = mnist_or_stand_in(ctx)
    names = list(SPECS[data[0].split("=", 1)[1]].classes)
    n = [f"n={'null' if s.n is None else s.n}", f"gallery={s.gallery}"]
    size = ([f"dataset.train_size={s.train_size}", f"dataset.val_size={s.train_size // 10}"]
            if s.train_size is not None else [])

    # 1. two models that differ only in their seed
    runs = {}
    for seed in (1, 2):
        runs[seed] = ctx.out / "runs" / f"model{seed}"
        ctx.nnlab("train", *LENET, *data, *size, f"epochs={s.epochs}", f"seed={seed - 1}",
                  "progress=false", *s.train_extra, f"hydra.run.dir={runs[seed]}")
    ctx.heading("Models")
    ctx.table("models", pd.DataFrame([
        {"model": f"model {k}", "seed": k - 1, "epochs": s.epochs,
         "test acc": read_summary(folder)["final"]["test_acc"],
         "report (seeds/001's C, MNIST, 20 epochs)": REPORT_C_ACC} for k, folder in runs.items()]),
        "LeNet-5 (Adam, lr 0.002, cosine schedule). seeds/000 does not give its models' accuracy.")

    # 2. seeds/000 4.1-4.3: untargeted and targeted sign steps on model 1, scored on model 2
    attacks = {}
    for name, overrides in (("untargeted", ["attack=ifgsm"]),
                            ("targeted", ["attack=targeted_sign", "target=random"])):
        attacks[name] = ctx.out / "attacks" / name
        ctx.nnlab("attack", f"run={runs[1]}", *overrides, *n, f"transfer=[{runs[2]}]",
                  f"hydra.run.dir={attacks[name]}")
    fooled = {name: transfer_on_fooled(folder, runs[1], runs[2]) for name, folder in attacks.items()}
    ctx.heading("Sign-step attacks on model 1, transferred to model 2 (seeds/000 4.1-4.3)")
    ctx.table("transfer", transfer_table({k: read_attack(v) for k, v in attacks.items()}, fooled),
              "`attack=ifgsm`: steps of 0.01 up the loss until misclassified (at most 100, Linf "
              "<= 0.3). `attack=targeted_sign target=random`: steps of 0.01 down the loss of a random "
              "other class until it is predicted (at most 200). Model 2 is scored on all attacked "
              "images (nnlab's `transfer`) and on those that fool model 1: wrong (untargeted) or "
              "sent to their target (targeted), as the report seems to count (model 1's accuracy "
              "on its images: 0).")
    ctx.figure(attacks["untargeted"] / "gallery.png", "seeds/000 4.1: untargeted, model 1 "
               "(samples across: original, perturbation, adversarial)")
    ctx.figure(attacks["targeted"] / "gallery.png", "seeds/000 4.2: targeted to a random class, model 1")

    # 3. PGD robustness curve
    pgd = ctx.out / "attacks" / "pgd"
    ctx.nnlab("attack", f"run={runs[1]}", "attack=pgd", f"attack.eps=[{','.join(map(str, PGD_EPS))}]",
              *n, f"transfer=[{runs[2]}]", f"hydra.run.dir={pgd}")
    ctx.heading("PGD robustness curve of model 1")
    ctx.table("pgd", curve_table(read_attack(pgd)), "`attack=pgd` (Linf, 40 steps of 0.01, random "
              "start). The reports have no curve; seeds/000 reports accuracy 0 on its adversarial "
              "images.")
    moved = read_attack(pgd)["transfer"][0]
    ctx.note(f"The eps={PGD_EPS[-1]} PGD images on model 2 (`transfer`): accuracy "
             f"{moved['clean_acc']:.4f} -> {moved['adv_acc']:.4f}.")
    ctx.figure(pgd / "robustness.png", "model 1 under Linf PGD: accuracy and success rate against eps")

    # 4. seeds/001 exercise 2: generator attack, class x target grid
    gen = ctx.out / "attacks" / "generator"
    ctx.nnlab("attack", f"run={runs[1]}", "attack=generator", "target=all",
              f"classes=[{','.join(map(str, GENERATOR_CLASSES))}]", "per_class=1", *s.generator,
              f"hydra.run.dir={gen}")
    report = read_attack(gen)
    result = report["results"][-1]
    ctx.heading("Generator attack: each class sent to every other class (seeds/001 exercise 2)")
    ctx.note(f"Generator settings: `{' '.join(s.generator)}` (configs/attack/generator.yaml "
             "otherwise: Linf bound 0.3, 5 epochs per generator, 5000 training images unless "
             "attack.train_n says fewer). Width 16 and lr 0.01, the config's defaults: the earlier "
             "32 and 0.001 left one generator near 0 success on a 3-epoch model (measured while "
             "writing this script).")
    ctx.table("generator", generator_table(report, names), "The first test image of each class "
              "goes through the generator of each other class (Linf <= 0.3); success: model 1 "
              "predicts the target. The report: the wanted class \"every time\". Model 1 got "
              f"{result['clean_acc']:.0%} of these images right before; median L2 of the "
              f"perturbations {result['l2_median']:.2f}.")
    ctx.table("generators", generators_table(report, names), "One generator per target class, "
              "trained on training images with model 1 frozen; success on its own training images.")
    ctx.figure(gen / "targets_grid.png", "seeds/001: one test image per class (rows) sent to every "
               "other class (columns); red titles: target missed")

    # 5. seeds/002 section 4: targeted L2 PGD on CIFAR-10
    with ExitStack() as stack:
        cifar, label = cifar_or_generated(
            ctx, stack, s.cifar_train_size, s.cifar_test_size, part=" (CIFAR-10 part)",
            caveat="Such a model reads a faint block, so a small L2 perturbation moves it: the "
                   "success rates show the attack pipeline, not CIFAR-10's numbers.")
        sizes = [f"dataset.{k}={v}" for k, v in (("train_size", s.cifar_train_size),
                                                 ("test_size", s.cifar_test_size)) if v is not None]
        cifar_runs, cifar_attacks = {}, {}
        for key, (_, overrides) in CIFAR_MODELS.items():
            cifar_runs[key] = ctx.out / "runs" / f"cifar_{key}"
            ctx.nnlab("train", *overrides, *cifar, *sizes, f"epochs={s.cifar_epochs}",
                      "progress=false", *s.train_extra, f"hydra.run.dir={cifar_runs[key]}")
            cifar_attacks[key] = ctx.out / "attacks" / f"cifar_{key}"
            ctx.nnlab("attack", f"run={cifar_runs[key]}", *CIFAR_PGD,
                      f"attack.eps=[{','.join(map(str, CIFAR_EPS))}]",
                      f"n={'null' if s.cifar_n is None else s.cifar_n}", f"gallery={s.gallery}",
                      f"hydra.run.dir={cifar_attacks[key]}")
    ctx.heading("Targeted L2 PGD on CIFAR-10 (seeds/002 section 4)")
    table = cifar_table({CIFAR_MODELS[k][0]: (read_summary(cifar_runs[k])["final"]["test_acc"],
                                              read_attack(cifar_attacks[k])) for k in CIFAR_MODELS})
    ctx.table("cifar_pgd_l2", table, "`" + " ".join(CIFAR_PGD) + "`: success = the model predicts "
              "the random target. The report attacked one image (a truck, sent to automobile, "
              f"fooled) with one step of L2 norm {REPORT_CIFAR_L2:.3f}; its net had "
              f"{REPORT_CIFAR_ACC} test accuracy.")
    plot_cifar(table, label, ctx.out / "cifar_pgd_l2.png")
    ctx.figure(ctx.out / "cifar_pgd_l2.png", "targeted L2 PGD on CIFAR-10: success rate against "
               "the L2 radius, with the report's one fooled image")
    ctx.figure(cifar_attacks["hidden"] / "gallery.png", "targeted L2 PGD on the hidden-layer net, a row "
               f"per eps up to {CIFAR_EPS[-1]}" + ("; on the generated data the perturbation paints the "
                                            "target class's block" if "generated" in label else ""))


# ---------------------------------------------------------------------- data


# ---------------------------------------------------------------------- reading attack folders


def read_attack(folder: Path) -> dict:
    path = Path(folder) / "attack.json"
    if not path.is_file():
        raise ReproduceError(f"{folder} has no attack.json; see the attack's output above")
    return json.loads(path.read_text())


@torch.no_grad()
def transfer_on_fooled(attack_dir: Path, run1: Path, run2: Path) -> tuple[int, float]:
    """The report's count (seeds/000 4.3): (number of adversarial images model 1 gets wrong, or
    sends to their target when the attack was targeted; model 2's accuracy on them)."""
    saved = torch.load(Path(attack_dir) / "adversarial.pt", weights_only=True)
    first = load_trained(run1, "best")
    second = load_trained(run2, "best", data=first.data)
    adv, labels, targets = saved["adversarial"], saved["labels"], saved["targets"]
    pred1 = torch.cat([first.model(b).argmax(1) for b in adv.split(1000)])
    pred2 = torch.cat([second.model(b).argmax(1) for b in adv.split(1000)])
    return fooled_accuracy(pred1, pred2, labels, targets)


def fooled_accuracy(pred1: torch.Tensor, pred2: torch.Tensor, labels: torch.Tensor,
                    targets: torch.Tensor | None) -> tuple[int, float]:
    """(count, model 2's accuracy) over the images that fooled model 1: predicted wrong
    (untargeted, targets None) or predicted as their target (targeted). NaN when none fooled it."""
    fooled = pred1 != labels if targets is None else pred1 == targets
    count = int(fooled.sum())
    return count, float((pred2[fooled] == labels[fooled]).float().mean()) if count else float("nan")


# ---------------------------------------------------------------------- tables


def transfer_table(reports: dict[str, dict], fooled: dict[str, tuple[int, float]]) -> pd.DataFrame:
    """One row per attack (untargeted, targeted): model 1's numbers from attack.json, model 2's
    from its `transfer` entry and from the fooled images, the report's beside them."""
    rows = []
    for name, rep in reports.items():
        if len(rep.get("transfer") or []) != 1:
            raise ReproduceError(f"the {name} attack was not transferred to exactly one model")
        other, result = rep["transfer"][0], rep["results"][-1]
        count, acc = fooled[name]
        images, theirs = REPORT_TRANSFER[name]
        rows.append({"attack": name, "images": rep["n"], "model 1 clean acc": result["clean_acc"],
                     "model 1 adv acc": result["adv_acc"], "success rate": result["success_rate"],
                     "median L2": result["l2_median"], "median Linf": result["linf_median"],
                     "model 2 clean acc": other["clean_acc"], "model 2 adv acc": other["adv_acc"],
                     "images fooling model 1": count, "model 2 acc on them": acc,
                     "report: images": images, "report: model 2 acc": theirs})
    return pd.DataFrame(rows)


def curve_table(report: dict) -> pd.DataFrame:
    """eps | accuracy | success rate | median L2 from an attack.json with a list of eps."""
    return pd.DataFrame([{"eps": float(r["eps"]), "clean acc": r["clean_acc"], "adv acc": r["adv_acc"],
                          "success rate": r["success_rate"], "median L2": r["l2_median"]}
                         for r in report["results"]])


def generator_table(report: dict, names: list[str]) -> pd.DataFrame:
    """One row per attacked class (its share of targets reached), then all of them."""
    result = report["results"][-1]
    per_class = result["per_class_success"]
    rows = [{"class": f"{c} {names[int(c)]}", "targets reached": per_class[c],
             "report": REPORT_GENERATOR_SUCCESS} for c in sorted(per_class, key=int)]
    rows.append({"class": f"all ({report['n']} images)", "targets reached": result["success_rate"],
                 "report": REPORT_GENERATOR_SUCCESS})
    return pd.DataFrame(rows)


def generators_table(report: dict, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{"target": f"{t} {names[int(t)]}", "training images": g["train_n"],
                          "success on them": g["train_success"], "seconds": g["seconds"]}
                         for t, g in sorted(report["results"][-1]["generators"].items(),
                                            key=lambda kv: int(kv[0]))])


def cifar_table(models: dict[str, tuple[float, dict]]) -> pd.DataFrame:
    """One row per (model, eps): test accuracy, success rate, accuracy under attack, median L2,
    with the report's one image beside the eps nearest its perturbation's norm."""
    rows = []
    for model, (test_acc, report) in models.items():
        curve = curve_table(report)
        nearest = (curve["eps"] - REPORT_CIFAR_L2).abs().idxmin()
        for i, r in curve.iterrows():
            rows.append({"model": model, "test acc": test_acc, "L2 eps": r["eps"],
                         "success rate": r["success rate"], "adv acc": r["adv acc"],
                         "median L2": r["median L2"],
                         "report": (f"1 of 1 fooled at L2 {REPORT_CIFAR_L2:.3f} "
                                    f"(test acc {REPORT_CIFAR_ACC})" if i == nearest else "")})
    return pd.DataFrame(rows)


def plot_cifar(table: pd.DataFrame, label: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    for (model, rows), marker in zip(table.groupby("model", sort=False), "os^", strict=False):
        ax.plot(rows["L2 eps"], rows["success rate"], marker=marker, label=f"{model}, {label}")
    ax.plot([REPORT_CIFAR_L2], [1.0], "k*", ms=12, label="report: its one image, fooled")
    ax.set(xlabel="L2 radius eps (pixels in [0, 1])", ylabel="targeted success rate",
           ylim=(-0.02, 1.05), title="Targeted L2 PGD, random targets")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    fig.savefig(path, dpi=120)
    plt.close(fig)
