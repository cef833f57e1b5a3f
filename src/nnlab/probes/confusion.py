"""Test-split confusion matrix of the final model, for image datasets (`probe=[confusion]`).

Writes confusion_matrix.csv (rows: true class, columns: predicted class, counts) and
plots/confusion_matrix.png (counts in the cells, shaded by the fraction of the true class, with each
class's recall at the end of its row).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from nnlab.plots import PNG, Figures
from nnlab.probes.images import ImageProbe, class_names, plt, predict, save


def confusion_counts(true: torch.Tensor, pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) int64 counts: [i, j] = samples of class i predicted as j."""
    flat = true.long() * num_classes + pred.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


class ConfusionMatrix(ImageProbe):
    name = "confusion"

    def write(self, run_dir: Path, plot_dir: Path) -> None:
        ctx = self.ctx
        test = ctx.data.test
        pred = predict(self.model, test.x, ctx.device).argmax(1)
        counts = confusion_counts(test.y, pred, ctx.data.num_classes)
        names = class_names(ctx.data)
        table = pd.DataFrame(counts.numpy(), index=pd.Index(names, name="true"), columns=names)
        table.to_csv(run_dir / "confusion_matrix.csv")
        plot_confusion(counts, names, plot_dir / "confusion_matrix.png",
                       title=ctx.title("test confusion matrix", width=60), figures=self.figures)


def plot_confusion(counts: torch.Tensor, names: list[str], path: Path, title: str = "",
                   figures: Figures = PNG) -> None:
    k = len(names)
    per_class = counts.sum(1, keepdim=True).clamp(min=1)
    fraction = (counts / per_class).numpy()
    recall = counts.diagonal() / per_class.squeeze(1)
    accuracy = counts.diagonal().sum().item() / max(counts.sum().item(), 1)

    size = max(4.5, 0.62 * k + 2.2)
    fig, ax = plt.subplots(figsize=(size + 1.6, size), constrained_layout=True)
    image = ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1)
    font = 9 if k <= 10 else max(5, 9 - (k - 10) // 4)
    for i in range(k):
        for j in range(k):
            if counts[i, j] or i == j:
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=font,
                        color="white" if fraction[i, j] > 0.5 else "black")
        ax.text(k - 0.3, i, f"{recall[i]:.1%}", ha="left", va="center", fontsize=font,
                color="#b2182b" if recall[i] < accuracy else "black")
    ax.text(k - 0.3, -0.75, "recall", ha="left", va="center", fontsize=font, fontweight="bold")
    long_names = max(map(len, names)) > 2
    ax.set_xticks(range(k), names, rotation=45 if long_names else 0, ha="right" if long_names else "center",
                  fontsize=font)
    ax.set_yticks(range(k), names, fontsize=font)
    ax.set_xlim(-0.5, k - 0.5)
    ax.set_ylim(k - 0.5, -0.5)
    ax.set(xlabel="predicted class", ylabel="true class")
    ax.set_title(f"{title}\n{int(counts.sum())} test samples, accuracy {accuracy:.2%} "
                 "(recall in red: below it)", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, pad=0.1, label="fraction of the true class")
    save(fig, path, figures=figures)
