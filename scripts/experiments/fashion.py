"""seeds/004 section 2: the report's Keras MLP (dense 256-128-50-50-25 with dropout and batchnorm)
and convnet on Fashion-MNIST, both trained with SGD + Nesterov momentum, early stopping on
validation accuracy and the best epoch kept (checkpoints/best.pt), and the MLP's first-layer
weights drawn as images (the report's figure 7). Presets: experiment=fashion_report_mlp and
experiment=fashion_report_cnn (configs/experiment/)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from experiments.common import Context, read_summary

DESCRIPTION = "Fashion-MNIST: report's MLP and CNN, SGD+Nesterov, early stopping"
SEED = "seeds/004 section 2"

# The report's validation accuracy (10% of the training images; its test labels were hidden).
REPORT_VAL_ACC = {"mlp": 0.874, "cnn": 0.936}


@dataclass
class Settings:
    mlp_epochs: int = 30
    cnn_epochs: int = 4
    # The convnet wants a GPU (0.12 GFLOP per image); on a laptop CPU the default halves its
    # widths and trains on the first 12k training images (1.2k of them for validation).
    cnn_scale: list[str] = field(default_factory=lambda: [
        "model.channels=[32,64,128]", "model.hidden=512", "dataset.train_size=12000",
        "dataset.val_size=1200"])
    mlp_scale: list[str] = field(default_factory=list)
    extra: tuple[str, ...] = ()       # more overrides for every command

    @classmethod
    def for_context(cls, ctx: Context) -> Settings:
        return cls(mlp_epochs=100, cnn_epochs=100, cnn_scale=[]) if ctx.full else cls()


def run(ctx: Context, settings: Settings | None = None) -> None:
    s = settings or Settings.for_context(ctx)
    ctx.note("**Data:** real Fashion-MNIST (the report's data); test accuracy is on the official "
             "test split, which the report could not score (its test labels were hidden).")
    if s.cnn_scale:
        ctx.note("**Scaled down:** the convnet runs with `" + " ".join(s.cnn_scale) + "` (FULL=1 "
                 "runs the preset as it is: full widths, all 54k training images, up to 100 epochs).")
    runs = {}
    for name, epochs, scale in (("mlp", s.mlp_epochs, s.mlp_scale), ("cnn", s.cnn_epochs, s.cnn_scale)):
        folder = ctx.out / "runs" / name
        ctx.nnlab("train", f"experiment=fashion_report_{name}", *scale, f"epochs={epochs}",
                  "probe=[first_layer]", "progress=false", *s.extra, f"hydra.run.dir={folder}")
        runs[name] = folder

    rows = []
    for name, folder in runs.items():
        summary = read_summary(folder)
        best, final = summary["best"], summary["final"]
        rows.append({"model": name.upper(), "parameters": summary["n_params"],
                     "train / val / test images": f"{summary['n_train']} / {summary['n_val']} / "
                                                  f"{summary['n_test']}",
                     "status": summary["status"], "epochs run": summary["epochs_completed"],
                     "best epoch": summary["best_epoch"], "val acc (best)": best["val_acc"],
                     "test acc (best)": best["test_acc"], "test acc (last epoch)": final["test_acc"],
                     "report val acc": REPORT_VAL_ACC[name]})
    ctx.heading("Result")
    ctx.table("fashion", pd.DataFrame(rows), "Best = the epoch with the highest validation accuracy, "
              "the one checkpoints/best.pt keeps (early stopping after 10 epochs without a gain).")

    ctx.heading("Figures")
    ctx.figure(runs["mlp"] / "plots" / "first_layer_weights.png", "MLP: the first 64 of the 256 "
               "first-layer units' weights as 28x28 images (red +, blue -), the report's figure 7")
    ctx.figure(runs["mlp"] / "plots" / "learning_curves.png", "MLP: loss and accuracy per epoch "
               "(the report's figure 6)")
    ctx.figure(runs["cnn"] / "plots" / "learning_curves.png", "CNN: loss and accuracy per epoch "
               "(the report's figures 9-10)")
    ctx.figure(runs["cnn"] / "plots" / "first_layer_weights.png", "CNN: first-layer 3x3 kernels")
    ctx.note("The weight images show the model at the end of training (the probe sees the last "
             "epoch); the accuracies marked *best* are those of checkpoints/best.pt.")
