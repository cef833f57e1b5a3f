"""nnlab.plots: a run's own figures say which run they are, with whole-number epochs; figures
rendered by a pool of forked processes are the files drawn in turn; the standard figures (learning
curves, decision boundary) fit their texts without a layout pass, on a figure kept for the next
run."""

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


# --- the standard figures without a layout pass, on a reused figure ----------------------------


def _rows(epochs: int, loss=lambda e: 1 / e, splits=("train", "test")) -> list[dict]:
    return [{"epoch": str(e), **{f"{s}_loss": str(loss(e)) for s in splits},
             **{f"{s}_acc": str(min(1.0, 0.1 * e)) for s in splits}} for e in range(1, epochs + 1)]


CURVES = {
    "100 epochs": (_rows(100), "spiral / MLP\nseed=0 optimizer.lr=0.1"),
    "1 epoch": (_rows(1, splits=("train",)), "xor / MLP"),
    "log loss": (_rows(8, loss=lambda e: 10.0 ** -e, splits=("train", "val", "test")),
                 "a\nthree-line\ntitle " + "x=1 " * 20),
    "no title": (_rows(30), ""),
}


def _plane(name: str):
    from nnlab.data.toys import make_toy, make_xor

    return make_xor() if name == "xor" else make_toy(name, n_samples=120, seed=1)


def _model():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


BOUNDARIES = {"spiral": "spiral / MLP: test acc 0.640 (epoch 100)\nseed=3 optimizer.lr=0.003",
              "xor": "", "circle": "one\ntwo\nthree"}


def _draw_curves(case: str, path, figures=plots.PNG) -> None:
    rows, title = CURVES[case]
    plots.learning_curves(rows, path, title=title, figures=figures)


def _draw_boundary(case: str, path, figures=plots.PNG) -> None:
    plots.decision_boundary(_model(), _plane(case), path, "cpu", title=BOUNDARIES[case],
                            figures=figures)


def _shown_texts(fig) -> list:
    """Every text drawn outside the axes: the suptitle, titles, axis labels and tick labels in
    view."""
    texts = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            for minor in (False, True):
                locs, labels = axis.get_ticklocs(minor=minor), axis.get_ticklabels(minor=minor)
                texts += [label for loc, label in zip(locs, labels, strict=False)
                          if min(low, high) - 1e-9 <= loc <= max(low, high) + 1e-9]
    return [t for t in texts if t.get_visible() and t.get_text()]


def _assert_fits(fig) -> None:
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer).expanded(0.999, 0.999))
             for t in _shown_texts(fig)]
    panels = [ax.get_window_extent(renderer) for ax in fig.axes]
    for text, box in boxes:
        assert fig.bbox.x0 - 0.5 <= box.x0 and box.x1 <= fig.bbox.x1 + 0.5, f"{text!r} cut off"
        assert fig.bbox.y0 - 0.5 <= box.y0 and box.y1 <= fig.bbox.y1 + 0.5, f"{text!r} cut off"
        assert not any(box.overlaps(panel) for panel in panels), f"{text!r} over a panel"
    for i, (text, box) in enumerate(boxes):
        for other, other_box in boxes[i + 1:]:
            assert not box.overlaps(other_box), f"{text!r} over {other!r}"


@pytest.mark.parametrize("case", CURVES)
def test_learning_curves_fit_their_texts_without_a_layout_pass(tmp_path, drawn, case):
    """No layout engine (constrained layout drew every figure twice), and still every title, label
    and tick label inside the figure, none over a panel or another: with one line of title or
    three, none, a log axis, one epoch."""
    _draw_curves(case, tmp_path / "c.png")
    fig = drawn["c.png"]
    assert fig.get_layout_engine() is None
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes] == [("epoch", "loss"),
                                                                       ("epoch", "accuracy")]
    assert fig._suptitle.get_text() == CURVES[case][1]
    _assert_fits(fig)


@pytest.mark.parametrize("case", BOUNDARIES)
def test_decision_boundary_fits_its_texts_without_a_layout_pass(tmp_path, drawn, case):
    _draw_boundary(case, tmp_path / "b.png")
    fig = drawn["b.png"]
    assert fig.get_layout_engine() is None
    (ax,) = fig.axes
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == (BOUNDARIES[case], "x1", "x2")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    _assert_fits(fig)


def _in_new_thread(draw, *args) -> None:
    """`draw(*args)` on a figure of its own: each thread builds its own."""
    import threading

    errors = []
    thread = threading.Thread(target=lambda: _catching(errors, draw, *args))
    thread.start()
    thread.join()
    assert not errors, errors


def _catching(errors, draw, *args):
    try:
        draw(*args)
    except Exception as ex:  # noqa: BLE001 - handed to the test's thread
        errors.append(ex)


@pytest.mark.parametrize(("draw", "cases"), [(_draw_curves, CURVES), (_draw_boundary, BOUNDARIES)])
def test_a_standard_figure_redrawn_for_another_run_is_the_one_drawn_new(tmp_path, draw, cases):
    """The figure kept from the last run draws the next one as a new figure would, whatever the
    last one showed (a log axis, one epoch, another plane, a longer title)."""
    for case in cases:
        _in_new_thread(draw, case, tmp_path / "new" / f"{case}.png")
    for case in [*cases, *reversed(cases)]:
        draw(case, tmp_path / "kept" / f"{case}.png")
        assert ((tmp_path / "kept" / f"{case}.png").read_bytes()
                == (tmp_path / "new" / f"{case}.png").read_bytes()), case


def test_standard_figures_drawn_in_parallel_are_the_ones_drawn_in_turn(tmp_path):
    """The pool's workers build them from their data (no model, no torch there)."""
    for case in CURVES:
        _draw_curves(case, tmp_path / "turn" / f"curves {case}.png")
    for case in BOUNDARIES:
        _draw_boundary(case, tmp_path / "turn" / f"boundary {case}.png")
    with plots.rendering_in_parallel(workers=2):
        for case in CURVES:
            _draw_curves(case, tmp_path / "pool" / f"curves {case}.png")
        for case in BOUNDARIES:
            _draw_boundary(case, tmp_path / "pool" / f"boundary {case}.png")
    names = sorted(p.name for p in (tmp_path / "turn").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "pool").iterdir()) and len(names) == 7
    for name in names:
        assert (tmp_path / "pool" / name).read_bytes() == (tmp_path / "turn" / name).read_bytes()


def test_standard_figures_keep_their_size_dpi_and_formats(tmp_path):
    """10 x 4 and 5.5 x 5.5 inches at their own 120 dpi or at figures.dpi; PDF and SVG too;
    nothing at all with figures off."""
    _draw_curves("100 epochs", tmp_path / "curves.png")
    _draw_boundary("spiral", tmp_path / "boundary.png")
    assert _png_size(tmp_path / "curves.png") == (1200, 480)
    assert _png_size(tmp_path / "boundary.png") == (660, 660)
    _draw_curves("1 epoch", tmp_path / "curves50.png", plots.Figures("png", 50))
    _draw_boundary("xor", tmp_path / "boundary50.png", plots.Figures("png", 50))
    assert _png_size(tmp_path / "curves50.png") == (500, 200)
    assert _png_size(tmp_path / "boundary50.png") == (275, 275)
    for fmt, head in (("pdf", b"%PDF-"), ("svg", b"<?xml")):
        _draw_curves("log loss", tmp_path / "curves.png", plots.Figures(fmt))
        _draw_boundary("circle", tmp_path / "boundary.png", plots.Figures(fmt))
        for name in ("curves", "boundary"):
            assert (tmp_path / f"{name}.{fmt}").read_bytes()[:5] == head
    with plots.drawing(False):
        _draw_curves("100 epochs", tmp_path / "off" / "curves.png")
        _draw_boundary("spiral", tmp_path / "off" / "boundary.png")
    assert not (tmp_path / "off").exists()


def test_run_title_reads_a_runs_record_once_until_it_changes(tmp_path, monkeypatch):
    """A run's figures all name it: its Hydra record (a sweep's multirun.yaml with it) is parsed
    once for them, and again once it changes."""
    hydra = tmp_path / "run" / ".hydra"
    hydra.mkdir(parents=True)
    (hydra / "config.yaml").write_text("dataset: {name: spiral}\nmodel: {_target_: nnlab.models.MLP}\n")
    (hydra / "overrides.yaml").write_text("- optimizer.lr=0.1\n")
    reads, read = [], plots.run_settings
    monkeypatch.setattr(plots, "run_settings", lambda path: reads.append(path) or read(path))
    assert plots.run_title(tmp_path / "run", "curves") == "spiral / MLP: curves\noptimizer.lr=0.1"
    assert plots.run_title(tmp_path / "run", "boundary") == "spiral / MLP: boundary\noptimizer.lr=0.1"
    assert len(reads) == 1
    (hydra / "overrides.yaml").write_text("- optimizer.lr=0.25\n- seed=3\n")
    assert plots.run_title(tmp_path / "run") == "spiral / MLP\noptimizer.lr=0.25 seed=3"
    assert len(reads) == 2
