"""Test images the final model gets wrong, for image datasets (`probe=[misclassified]`).

misclassified.csv lists every misclassified test sample (test index, true and predicted class,
the softmax probability of the predicted class); plots/misclassified.png shows the first `count`
of them in test order.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from nnlab.plots import PNG, Figures
from nnlab.probes.images import ImageProbe, class_names, plt, predict, save, show_image


def misclassified(logits: torch.Tensor, true: torch.Tensor) -> list[tuple[int, int, int, float]]:
    """(test index, true label, predicted label, confidence) of each wrong prediction, in test order."""
    probs = logits.softmax(1)
    confidence, pred = probs.max(1)
    wrong = torch.nonzero(pred != true).flatten()
    return [(int(i), int(true[i]), int(pred[i]), float(confidence[i])) for i in wrong]


class MisclassifiedExamples(ImageProbe):
    name = "misclassified"

    def __init__(self, count: int = 25, figures: Figures = PNG):
        super().__init__(figures)
        self.count = count

    def write(self, run_dir: Path, plot_dir: Path) -> None:
        ctx = self.ctx
        test = ctx.data.test
        wrong = misclassified(predict(self.model, test.x, ctx.device), test.y)
        names = class_names(ctx.data)
        with open(run_dir / "misclassified.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["index", "true", "predicted", "confidence"])
            for index, true, pred, confidence in wrong:
                writer.writerow([index, names[true], names[pred], f"{confidence:.6g}"])
        title = ctx.title(f"{len(wrong)} of {len(test)} test images misclassified"
                          + (f", the first {self.count} shown" if len(wrong) > self.count else ""), 60)
        plot_examples(test.x, wrong[:self.count], names, plot_dir / "misclassified.png", title,
                      self.figures)


def plot_examples(images: torch.Tensor, wrong: list, names: list[str], path: Path, title: str,
                  figures: Figures = PNG) -> None:
    n = len(wrong)
    if n == 0:
        fig, ax = plt.subplots(figsize=(5, 1.6), constrained_layout=True)
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified test images", ha="center", va="center", fontsize=11)
        ax.set_title(title, fontsize=9)
        save(fig, path, figures=figures)
        return
    cols = min(5, n) if n <= 25 else math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(4.5, 1.9 * cols), 2.25 * rows + 0.5), squeeze=False,
                             constrained_layout=True)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (index, true, pred, confidence) in zip(axes.flat, wrong, strict=False):
        show_image(ax, images[index])
        ax.set_title(f"#{index}: true {names[true]}\npred {names[pred]} ({confidence:.0%})", fontsize=7.5,
                     color="#b2182b" if confidence >= 0.9 else "black")
    fig.suptitle(f"{title}\ntitle: test index, true class, predicted class (its probability); "
                 "red: predicted with >= 90% probability", fontsize=9)
    save(fig, path, figures=figures)
