"""nnlab.plots: a run's own figures say which run they are, with whole-number epochs; figures
rendered by a pool of forked processes are the files drawn in turn."""

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


def _figure(label: str):
    fig, ax = plots.new_figure(figsize=(3, 2))
    ax.plot([1, 2, 3], [3, 1, 2], label=label)
    ax.contour([[0, 1], [1, 0]], levels=[0.5])
    ax.legend()
    return fig


def test_figures_rendered_in_parallel_are_the_ones_drawn_in_turn(tmp_path):
    for name in ("a", "b", "c"):
        plots.save(_figure(name), tmp_path / "direct" / f"{name}.png")
    with plots.rendering_in_parallel(workers=2):
        for name in ("a", "b", "c"):
            plots.save(_figure(name), tmp_path / "pool" / f"{name}.png")
    for name in ("a", "b", "c"):
        pooled, direct = tmp_path / "pool" / f"{name}.png", tmp_path / "direct" / f"{name}.png"
        assert pooled.read_bytes() == direct.read_bytes()


def _no_disk(figure: bytes, path: str, dpi: int) -> None:
    raise OSError(f"no space left for {path}")


def test_a_figure_that_fails_to_render_fails_the_block(tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "_render", _no_disk)  # the forked workers inherit it
    with pytest.raises(OSError, match="no space left"), plots.rendering_in_parallel(workers=2):
        plots.save(_figure("x"), tmp_path / "x.png")
