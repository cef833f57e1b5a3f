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


# --- figures.format and figures.dpi: figures for papers ----------------------------------------


def _png_size(path) -> tuple[int, int]:
    """(width, height) in pixels, from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_figures_format_pdf_writes_every_figure_of_the_run_as_pdf(tmp_path):
    """Learning curves, the decision boundary and a probe's figure (boundary snapshots), each a
    PDF under the name it has as a PNG, and no PNG."""
    train(tmp_path, "epochs=2", "figures.format=pdf", "probe=[boundary]", "cpu_threads=1")
    written = sorted(p.name for p in (tmp_path / "run" / "plots").iterdir())
    assert written == ["boundary_snapshots.pdf", "decision_boundary.pdf", "learning_curves.pdf"]
    for name in written:
        assert (tmp_path / "run" / "plots" / name).read_bytes()[:5] == b"%PDF-"


def test_figures_format_svg_writes_svg(tmp_path):
    train(tmp_path, "epochs=1", "figures.format=svg", "plots=true", "cpu_threads=1")
    written = sorted(p.name for p in (tmp_path / "run" / "plots").iterdir())
    assert written == ["decision_boundary.svg", "learning_curves.svg"]
    text = (tmp_path / "run" / "plots" / "learning_curves.svg").read_text()
    assert text.startswith("<?xml") and "<svg" in text[:1000]


def test_figures_dpi_sets_the_resolution_and_the_default_keeps_each_figures_own(tmp_path):
    """learning_curves is 10 x 4 inches: 1200 x 480 pixels at its own 120 dpi, 500 x 200 at 50."""
    train(tmp_path, "epochs=1", "cpu_threads=1", run_dir="own")
    train(tmp_path, "epochs=1", "cpu_threads=1", "figures.dpi=50", run_dir="fifty")
    assert _png_size(tmp_path / "own" / "plots" / "learning_curves.png") == (1200, 480)
    assert _png_size(tmp_path / "fifty" / "plots" / "learning_curves.png") == (500, 200)


def test_every_probes_figure_follows_figures_format(tmp_path, fake_data):
    """The image probes and grad_flow too (build.py hands the Figures to every probe)."""
    train(tmp_path, "dataset=mnist", f"dataset.root={fake_data}", "dataset.val_size=50", "epochs=1",
          "probe=[confusion,first_layer,misclassified,shift,grad_flow]", "probe.shift.max_shift=1",
          "figures.format=svg", "figures.dpi=30", "cpu_threads=1")
    written = sorted(p.name for p in (tmp_path / "run" / "plots").iterdir())
    assert written == ["confusion_matrix.svg", "first_layer_weights.svg", "grad_flow.svg",
                       "learning_curves.svg", "misclassified.svg", "shift_invariance.svg"]


def test_figures_of_a_config_without_the_node_are_pngs_at_their_own_resolution():
    """A run started before figures.* existed, resumed: its config has no `figures`."""
    assert plots.Figures.of(None) == plots.PNG == plots.Figures("png", None)
    assert plots.Figures.of({"format": "svg", "dpi": 300}).path("plots/a.png").name == "a.svg"
    assert plots.Figures("pdf", None).resolution(110) == 110
