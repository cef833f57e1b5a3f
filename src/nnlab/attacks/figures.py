"""Figures of `nnlab attack`: the gallery of adversarial examples (one row per eps), the
sample x target grid of `target=all`, and the robustness curve.

Laid out for a report: samples across, a colour bar that says what the perturbation's colours
mean, every adversarial panel titled with what the model now predicts (and the target, where
there is one), failures in red with a red frame (never at eps 0: that row is the clean images,
titled with the model's prediction and framed as the originals are), and a figure title that names
the attack, its settings, the attacked run and what the attack achieved (`title`, built by the
command).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from nnlab.plots import plt

FAILED = "tab:red"
WRONG_BEFORE = "tab:orange"  # an untargeted attack on an image the model already got wrong
PANEL = 1.35  # inches per image panel


@dataclass
class Attacked:
    """One attack's outcome on the shown samples: a row of the gallery."""

    label: str  # the row's label at the left, e.g. "eps=0.1\naccuracy 0.150"
    adversarial: torch.Tensor  # (n, C, H, W) pixels in [0, 1]
    predicted: torch.Tensor  # (n,) the model's class for each adversarial image
    clean: bool = False  # eps 0: the images are the originals, nothing was attacked or can fail


def _show(ax, image: torch.Tensor) -> None:
    image = image.detach().cpu()
    if image.shape[0] == 1:
        ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _show_perturbation(ax, delta: torch.Tensor, scale: float):
    """The signed perturbation on a shared symmetric scale (red +, blue -, white 0); colour
    images by their mean over channels. Returns the image, for the colour bar."""
    shown = delta.detach().cpu().mean(0)
    image = ax.imshow(shown.numpy(), cmap="seismic", vmin=-scale, vmax=scale, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def _mark(ax, title: str, succeeded: bool | None) -> None:
    """Title a panel; a failure is titled and framed in red (None: nothing to judge, in orange)."""
    ax.set_title(title, fontsize=7.5, color={True: "black", False: FAILED, None: WRONG_BEFORE}[succeeded])
    if succeeded is False:
        for spine in ax.spines.values():
            spine.set(color=FAILED, linewidth=2.5)


def adversarial_title(names, true: int, predicted: int, target: int | None,
                      clean: int | None = None) -> tuple[str, bool | None]:
    """What the model predicts on the adversarial image, and whether the attack succeeded:
    untargeted, when the prediction left the true class (None when the model got the original
    wrong already: nothing was left to fool); targeted, when it is the target."""
    if target is None:
        if clean is not None and clean != true:
            return f"now: {names[predicted]}\n(wrong before)", None
        succeeded = predicted != true
        return f"now: {names[predicted]}" + ("" if succeeded else "\n(not fooled)"), succeeded
    succeeded = predicted == target
    return (f"target: {names[target]}\nnow: {names[predicted]}" + ("" if succeeded else " (missed)"),
            succeeded)


def class_names(names, *labels: torch.Tensor | None) -> list[str]:
    """The dataset's class names, or "0", "1", ... covering every label given."""
    if names:
        return [str(n) for n in names]
    return [str(i) for i in range(max(int(t.max()) for t in labels if t is not None and len(t)) + 1)]


def gallery(x, y, indices, clean_pred, targets, attacked: list[Attacked], names, path: Path,
            title: str = "") -> None:
    """Samples across; rows: the original (titled with its index, true class and, where the
    model already got it wrong, its prediction), the perturbation of the last (largest) attack on
    one colour scale with its colour bar, then one row of adversarial images per attack (per eps),
    each titled with what the model now predicts (and the target)."""
    n = len(x)
    if n == 0 or not attacked:
        return
    names = class_names(names, y, targets, *(a.predicted for a in attacked))
    rows = 2 + len(attacked)
    fig, axes = plt.subplots(rows, n, figsize=(PANEL * n + 1.6, PANEL * 1.15 * rows + 0.9),
                             squeeze=False, constrained_layout=True)
    last = attacked[-1]
    delta = last.adversarial - x
    scale = float(delta.abs().max()) or 1.0
    for col in range(n):
        true, clean = int(y[col]), int(clean_pred[col])
        _show(axes[0, col], x[col])
        wrong = "" if clean == true else f"\nmodel: {names[clean]}"
        axes[0, col].set_title(f"#{int(indices[col])} {names[true]}{wrong}", fontsize=7.5,
                               color="black" if clean == true else WRONG_BEFORE)
        image = _show_perturbation(axes[1, col], delta[col], scale)
        for row, attack in enumerate(attacked, start=2):
            _show(axes[row, col], attack.adversarial[col])
            predicted = int(attack.predicted[col])
            if attack.clean:  # titled as the original is: what the model says, orange where wrong
                axes[row, col].set_title(f"model: {names[predicted]}", fontsize=7.5,
                                         color="black" if predicted == true else WRONG_BEFORE)
                continue
            target = int(targets[col]) if targets is not None else None
            _mark(axes[row, col], *adversarial_title(names, true, predicted, target, clean))
    axes[0, 0].set_ylabel("original", fontsize=8)
    at = last.label.splitlines()[0] if len(attacked) > 1 else ""
    axes[1, 0].set_ylabel(f"perturbation\n({at})" if at.startswith("eps") else "perturbation", fontsize=8)
    for row, attack in enumerate(attacked, start=2):
        axes[row, 0].set_ylabel(f"{'clean' if attack.clean else 'adversarial'}\n{attack.label}", fontsize=8)
    channels = "" if x.shape[1] == 1 else ", mean over channels"
    fig.colorbar(image, ax=axes[1, :].tolist(), shrink=0.9, pad=0.01, aspect=8,
                 label=f"adversarial - original{channels}")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def target_grid(x, adv, y, targets, indices, adv_pred, names, max_rows: int, path: Path,
                title: str = "") -> None:
    """`target=all`: one row per attacked sample (its original first), one column per class, each
    cell the sample sent to that class, titled with what the model now predicts (seeds/001's digit
    x target grid); a missed target is titled and framed in red, the sample's own class is left
    empty."""
    rows = list(dict.fromkeys(int(i) for i in indices.tolist()))[:max_rows]
    if not rows:
        return
    names = class_names(names, y, targets, adv_pred)
    classes = list(range(len(names)))
    fig, axes = plt.subplots(len(rows), len(classes) + 1, squeeze=False, constrained_layout=True,
                             figsize=(1.2 * (len(classes) + 1), 1.35 * len(rows) + 0.8))
    for r, index in enumerate(rows):
        mine = (indices == index).nonzero()[:, 0]
        first = int(mine[0])
        _show(axes[r, 0], x[first])
        axes[r, 0].set_title(f"#{index} {names[int(y[first])]}", fontsize=7)
        for c, cls in enumerate(classes, start=1):
            hit = mine[targets[mine] == cls]
            if len(hit) == 0:
                axes[r, c].axis("off")
                continue
            k = int(hit[0])
            _show(axes[r, c], adv[k])
            predicted = int(adv_pred[k])
            _mark(axes[r, c], f"to {names[cls]}" + ("" if predicted == cls else f"\nnow: {names[predicted]}"),
                  predicted == cls)
    axes[0, 0].set_ylabel("original", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def robustness_curve(table, path: Path, title: str = "", xlabel: str = "eps",
                     targeted: bool = False, transfer=None, names=str) -> None:
    """Accuracy under attack and success rate against eps, the clean accuracy marked; with
    `transfer` (transfer.csv's table: a row per eps and transfer model), each transfer model's
    accuracy on the same images and its target success (targeted) or fooling rate, in a colour
    of its own, dotted, named by `names(run)`."""
    fig, ax = plt.subplots(figsize=(6.5, 4.6 if transfer is None else 5.4), constrained_layout=True)
    clean = float(table["clean_acc"].iloc[0])
    ax.axhline(clean, color="grey", ls=":", lw=1.2, label=f"clean accuracy ({clean:.3f})")
    ax.plot(table["eps"], table["adv_acc"], "o-", color="C0", label="accuracy under attack")
    ax.plot(table["eps"], table["success_rate"], "s--", color="C1",
            label="target success rate" if targeted else "success rate (of those right before)")
    for i, (run, rows) in enumerate(transfer.groupby("run", sort=False) if transfer is not None else ()):
        colour, name = f"C{i + 2}", names(run)
        ax.plot(rows["eps"], rows["adv_acc"], "o:", color=colour,
                label=f"transfer to {name}: accuracy (clean {float(rows['clean_acc'].iloc[0]):.3f})")
        if targeted:
            ax.plot(rows["eps"], rows["target_success"], "s:", color=colour, mfc="none",
                    label=f"transfer to {name}: target success rate")
        else:
            ax.plot(rows["eps"], rows["fooling_rate"], "s:", color=colour, mfc="none",
                    label=f"transfer to {name}: fooling rate (of those right before)")
    ax.set(xlabel=xlabel, ylabel="fraction of the attacked images", ylim=(-0.02, 1.02))
    ax.set_title(title, fontsize=8.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)
