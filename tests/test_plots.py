"""nnlab.plots: figures rendered by a pool of forked processes are the files drawn in turn."""

from __future__ import annotations

import pytest

from nnlab import plots


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
