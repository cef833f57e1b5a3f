"""nnlab.plots: a run's own figures say which run they are, with whole-number epochs."""

from __future__ import annotations

import pytest

from conftest import train
from nnlab import plots


@pytest.fixture
def drawn(monkeypatch):
    """path name -> the figure `plots.save` was given for it (and still writes)."""
    kept, save = {}, plots.save

    def keep(fig, path, dpi=120):
        kept[path.name] = fig
        save(fig, path, dpi)

    monkeypatch.setattr(plots, "save", keep)
    return kept


def test_run_figures_carry_the_runs_settings_and_one_epoch_is_not_an_empty_plot(tmp_path, drawn):
    """Titled by dataset, model and the overrides typed (not where or how it ran), so the figures
    of two runs never look alike; a 1-epoch run draws its points (markers), on an epoch axis of
    whole numbers."""
    train(tmp_path, "epochs=1", "optimizer.lr=0.05", "model.hidden=[8]", "cpu_threads=1")
    curves = drawn["learning_curves.png"]
    assert curves._suptitle.get_text() == "spiral / MLP\nepochs=1 optimizer.lr=0.05 model.hidden=[8]"
    for ax in curves.axes:
        assert [tick.get_text() for tick in ax.get_xticklabels()] == ["1"]
        assert ax.lines and all(line.get_marker() == "o" and len(line.get_xdata()) == 1
                                for line in ax.lines)
    boundary = drawn["decision_boundary.png"].axes[0].get_title()
    assert boundary.startswith("spiral / MLP: test acc ") and boundary.endswith(
        "(epoch 1)\nepochs=1 optimizer.lr=0.05 model.hidden=[8]")


def test_many_epochs_get_lines_without_markers_and_integer_ticks(tmp_path, drawn):
    rows = [{"epoch": str(e), "train_loss": str(1 / e), "train_acc": "0.5"} for e in range(1, 31)]
    plots.learning_curves(rows, tmp_path / "c.png", title="t")
    ax = drawn["c.png"].axes[0]
    assert ax.lines[0].get_marker() in ("None", None, "")
    assert all(float(t).is_integer() for t in ax.get_xticks())


def test_run_title_wraps_the_settings_and_falls_back_without_a_record(tmp_path):
    assert plots.run_title(tmp_path, "confusion", fallback="blocks") == "blocks: confusion"
    assert plots.run_title(None, "curves") == "curves"
