"""Figures of `nnlab attack`: the gallery of adversarial examples and the robustness curve."""

from __future__ import annotations

from pathlib import Path

import torch

from nnlab.plots import plt


def _show(ax, image: torch.Tensor, cmap="gray", symmetric=False) -> None:
    image = image.detach().cpu()
    if image.shape[0] == 1:
        if symmetric:
            m = float(image.abs().max()) or 1.0
            ax.imshow(image[0].numpy(), cmap="seismic", vmin=-m, vmax=m)
        else:
            ax.imshow(image[0].numpy(), cmap=cmap, vmin=0, vmax=1)
    else:
        if symmetric:  # rescale the perturbation to [0, 1] around grey
            m = float(image.abs().max()) or 1.0
            image = image / (2 * m) + 0.5
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


def gallery(x, adv, y, adv_pred, indices, targets, class_names, path: Path, title: str = "") -> None:
    """One row per sample: original | perturbation (rescaled) | adversarial, titled with the index,
    true label and prediction or target, like the figures of seeds/000 and seeds/002."""
    n = len(x)
    if n == 0:
        return
    labels = [y, adv_pred] + ([targets] if targets is not None else [])
    names = class_names or [str(i) for i in range(max(int(t.max()) for t in labels) + 1)]
    fig, axes = plt.subplots(n, 3, figsize=(6.6, 2.2 * n), squeeze=False, constrained_layout=True)
    for row in range(n):
        panel, succeeded = adversarial_title(names, int(y[row]), int(adv_pred[row]),
                                             int(targets[row]) if targets is not None else None)
        _show(axes[row, 0], x[row])
        axes[row, 0].set_title(f"#{int(indices[row])} true: {names[int(y[row])]}", fontsize=8)
        _show(axes[row, 1], adv[row] - x[row], symmetric=True)
        axes[row, 1].set_title("perturbation (rescaled)", fontsize=8)
        _show(axes[row, 2], adv[row])
        axes[row, 2].set_title(panel, fontsize=8, color="black" if succeeded else "tab:red")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def adversarial_title(names, true: int, predicted: int, target: int | None) -> tuple[str, bool]:
    """What the model predicts on the adversarial image, and whether the attack succeeded:
    untargeted, when the prediction left the true class; targeted, when it is the target."""
    if target is None:
        succeeded = predicted != true
        return f"now predicted: {names[predicted]} ({'fooled' if succeeded else 'not fooled'})", succeeded
    succeeded = predicted == target
    return (f"target {names[target]}: predicted {names[predicted]} "
            f"({'reached' if succeeded else 'missed'})"), succeeded


def robustness_curve(table, path: Path) -> None:
    """Accuracy under attack (and success rate) against eps."""
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    ax.plot(table["eps"], table["adv_acc"], "o-", label="accuracy under attack")
    ax.plot(table["eps"], table["success_rate"], "s--", label="success rate")
    ax.set(xlabel="eps", ylabel="fraction", ylim=(-0.02, 1.02), title="robustness")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def target_grid(x, adv, y, targets, indices, adv_pred, class_names, max_rows: int, path: Path,
                title: str = "") -> None:
    """`target=all`: one row per attacked sample (original first), one column per target class,
    each cell the adversarial image titled with the class it was sent to and the prediction
    (seeds/001's digit x target grid). Cells where the target was missed are titled in red."""
    rows = list(dict.fromkeys(int(i) for i in indices.tolist()))[:max_rows]
    if not rows:
        return
    classes = sorted({int(t) for t in targets.tolist()} | {int(v) for v in y.tolist()})
    names = class_names or [str(c) for c in range(max(classes) + 1)]
    fig, axes = plt.subplots(len(rows), len(classes) + 1, squeeze=False, constrained_layout=True,
                             figsize=(1.25 * (len(classes) + 1), 1.4 * len(rows)))
    for r, index in enumerate(rows):
        mine = (indices == index).nonzero()[:, 0]
        first = int(mine[0])
        _show(axes[r, 0], x[first])
        axes[r, 0].set_title(f"#{index} {names[int(y[first])]}", fontsize=7)
        for c, cls in enumerate(classes, start=1):
            axes[r, c].axis("off")
            hit = mine[targets[mine] == cls]
            if len(hit) == 0:
                continue
            k = int(hit[0])
            _show(axes[r, c], adv[k])
            axes[r, c].axis("on")
            ok = int(adv_pred[k]) == cls
            axes[r, c].set_title(f"->{names[cls]}: {names[int(adv_pred[k])]}", fontsize=7,
                                 color="black" if ok else "red")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)
