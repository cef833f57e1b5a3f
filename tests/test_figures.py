"""nnlab.attacks.figures: the gallery (samples across, one row per eps, a colour bar), the sample x
target grid and the robustness curve, read back from the pyplot_figures matplotlib figures."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from nnlab.attacks import figures
from nnlab.attacks.figures import Attacked


def titles(fig, row: int, cols: int) -> list[str]:
    return [fig.axes[row * cols + col].title.get_text() for col in range(cols)]


def framed_red(ax) -> bool:
    return ax.spines["top"].get_edgecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=0.01)


X = torch.rand(3, 1, 8, 8)
Y = torch.tensor([1, 2, 3])


def test_gallery_is_wide_with_a_colour_bar_and_says_what_the_model_now_predicts(tmp_path, pyplot_figures):
    """Samples across (rows: original, perturbation, adversarial), the perturbation's colour bar,
    each adversarial panel titled with the new prediction; a failure in red with a red frame; an
    image the model got wrong before the attack is not counted either way; the figure keeps the
    title it is given."""
    clean, after = torch.tensor([1, 2, 0]), torch.tensor([1, 0, 3])
    adversarial = (X + 0.1 * torch.randn_like(X)).clamp(0, 1)
    figures.gallery(X, Y, torch.tensor([7, 8, 9]), clean, None,
                    [Attacked("accuracy 0.333", adversarial, after)], None, tmp_path / "g.png",
                    title="attack=fgsm eps=0.1\non spiral")
    (fig,) = pyplot_figures
    assert (tmp_path / "g.png").stat().st_size > 5000
    width, height = fig.get_size_inches()
    assert width > height  # samples across
    assert fig._suptitle.get_text() == "attack=fgsm eps=0.1\non spiral"
    assert titles(fig, 0, 3) == ["#7 1", "#8 2", "#9 3\nmodel: 0"]
    assert titles(fig, 2, 3) == ["now: 1\n(not fooled)", "now: 0", "now: 3\n(wrong before)"]
    panels = [fig.axes[6 + col] for col in range(3)]
    assert panels[0].title.get_color() == figures.FAILED and framed_red(panels[0])
    assert panels[1].title.get_color() == "black" and not framed_red(panels[1])
    assert panels[2].title.get_color() == figures.WRONG_BEFORE and not framed_red(panels[2])
    (bar,) = [ax for ax in fig.axes[9:]]  # the colour bar, on the perturbation's symmetric scale
    assert bar.get_ylabel() == "adversarial - original"
    low, high = bar.get_ylim()
    assert low == pytest.approx(-high) and high == pytest.approx(float((adversarial - X).abs().max()))
    assert fig.axes[2 * 3].get_ylabel() == "adversarial\naccuracy 0.333"


def test_targeted_gallery_names_the_target_and_marks_misses(tmp_path, pyplot_figures):
    targets, after = torch.tensor([4, 0, 5]), torch.tensor([1, 0, 3])
    figures.gallery(X, Y, torch.arange(3), Y, targets, [Attacked("target reached 33.3%", X, after)],
                    None, tmp_path / "t.png")
    assert titles(pyplot_figures[0], 2, 3) == ["target: 4\nnow: 1 (missed)", "target: 0\nnow: 0",
                                      "target: 5\nnow: 3 (missed)"]
    assert [framed_red(pyplot_figures[0].axes[6 + col]) for col in range(3)] == [True, False, True]


def test_a_list_of_eps_gives_one_sample_x_eps_grid(tmp_path, pyplot_figures):
    """One row of adversarial images per eps, labelled with the eps and the accuracy there; the
    perturbation row shows the largest."""
    rows = [Attacked(f"eps={eps}\naccuracy {acc}", X, pred)
            for eps, acc, pred in ((0.0, 1.0, Y), (0.1, 0.667, torch.tensor([1, 2, 0])),
                                   (0.3, 0.0, torch.tensor([0, 0, 0])))]
    figures.gallery(X, Y, torch.arange(3), Y, None, rows, ["a", "b", "c", "d"], tmp_path / "e.png")
    (fig,) = pyplot_figures
    labels = [fig.axes[row * 3].get_ylabel() for row in range(5)]
    assert labels == ["original", "perturbation\n(eps=0.3)", "adversarial\neps=0.0\naccuracy 1.0",
                      "adversarial\neps=0.1\naccuracy 0.667", "adversarial\neps=0.3\naccuracy 0.0"]
    assert titles(fig, 4, 3) == ["now: a", "now: a", "now: a"]  # class names, not numbers


def test_target_grid_has_a_column_per_class_and_marks_missed_targets(tmp_path, pyplot_figures):
    """target=all: a row per sample, its original then one cell per other class."""
    y = torch.tensor([0, 0, 1, 1])  # two samples (indices 5 and 6), three classes
    targets, indices = torch.tensor([1, 2, 0, 2]), torch.tensor([5, 5, 6, 6])
    pred = torch.tensor([1, 0, 0, 2])
    x = torch.rand(4, 1, 8, 8)
    figures.target_grid(x, x, y, targets, indices, pred, ["a", "b", "c"], 10, tmp_path / "grid.png",
                        title="attack=targeted_sign target=all")
    (fig,) = pyplot_figures
    assert fig._suptitle.get_text() == "attack=targeted_sign target=all"
    assert titles(fig, 0, 4) == ["#5 a", "", "to b", "to c\nnow: a"]  # its own class left empty
    assert not fig.axes[1].axison and framed_red(fig.axes[3]) and not framed_red(fig.axes[2])
    assert titles(fig, 1, 4) == ["#6 b", "to a", "", "to c"]


def test_robustness_curve_marks_the_clean_accuracy_and_keeps_its_title(tmp_path, pyplot_figures):
    table = pd.DataFrame({"eps": [0, 0.1, 0.3], "clean_acc": [0.9] * 3, "adv_acc": [0.9, 0.5, 0.1],
                          "success_rate": [0, 0.44, 0.89]})
    figures.robustness_curve(table, tmp_path / "r.png", title="attack=pgd norm=l2\non mnist / LeNet",
                             xlabel="eps (L2 bound)")
    (fig,) = pyplot_figures
    (ax,) = fig.axes
    assert ax.get_title() == "attack=pgd norm=l2\non mnist / LeNet" and ax.get_xlabel() == "eps (L2 bound)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "clean accuracy (0.900)"
    assert list(ax.lines[0].get_ydata()) == [0.9, 0.9]  # the clean accuracy, across the plot
