"""The report charts (`agent/bench/plots.py`): real matplotlib figures on the Agg canvas, written as PNGs of
the promised size; count axes carry integer ticks; intervals are drawn. Figures are inspected through
their artists, not their pixels."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from PIL import Image

from hrm_agent.bench.plots import bar_chart, bar_figure, line_figure, save_png, wrap_label


def _ticks(axis) -> list[float]:
    """Tick positions inside the axis' view: what a reader sees labelled."""
    lo, hi = sorted(axis.get_view_interval())
    return [t for t in axis.get_majorticklocs() if lo - 1e-9 <= t <= hi + 1e-9]


def _tick_labels(fig, axis_name: str) -> list[str]:
    fig.canvas.draw()  # tick labels are formatted at draw time
    ax = fig.axes[0]
    axis = ax.yaxis if axis_name == "y" else ax.xaxis
    lo, hi = sorted(axis.get_view_interval())
    i = 1 if axis_name == "y" else 0
    return [t.get_text() for t in axis.get_ticklabels() if lo - 1e-9 <= t.get_position()[i] <= hi + 1e-9]


def test_count_bars_have_integer_ticks_and_labels_and_the_png_has_the_figure_size(tmp_path):
    # small counts are where a default locator puts ticks at 0.5, 1.5, ...
    series = [("hierarchical", [1, 2, 0]), ("flat", [3, 1, 2])]
    fig = bar_figure("failure categories", ["wrong answer", "timeout", "tool misuse"], series,
                     ylabel="failed items", value_fmt="{:.0f}", integer=True)
    ticks = _ticks(fig.axes[0].yaxis)
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks)
    labels = _tick_labels(fig, "y")
    assert labels and all(lab.replace("\N{MINUS SIGN}", "-").lstrip("-").isdigit() for lab in labels), labels
    assert fig.axes[0].get_ylabel() == "failed items"
    bar_texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(bar_texts) == sorted(["1", "2", "0", "3", "1", "2"])  # values on top, no "0.00"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["hierarchical", "flat"]

    path = save_png(fig, tmp_path / "counts.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (760, 440)
        pixels = np.asarray(im.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # something was drawn
    assert save_png(bar_figure("failure categories", ["a"], [("x", [1])], integer=True),
                    tmp_path / "a.png").read_bytes() == save_png(
        bar_figure("failure categories", ["a"], [("x", [1])], integer=True), tmp_path / "b.png").read_bytes()


def test_bars_draw_their_intervals_as_error_bars(tmp_path):
    series = [("hierarchical", [0.5], [0.3], [0.7]), ("flat", [0.2], [0.1], [0.4])]
    fig = bar_figure("pass@1", ["run"], series, ymax=1.0)
    ax = fig.axes[0]
    caps = [c for c in ax.containers if hasattr(c, "errorbar") and c.errorbar is not None]
    assert len(caps) == 2
    segs = caps[0].errorbar.lines[2][0].get_segments()
    assert [round(float(y), 6) for y in segs[0][:, 1]] == [0.3, 0.7]
    assert ax.get_ylim() == (0.0, 1.0)
    path = bar_chart(tmp_path / "p.png", "pass@1", ["run"], [("a", [0.5])], width=400, height=300)
    with Image.open(path) as im:
        assert im.size == (400, 300)


def test_lines_draw_bands_shade_held_out_and_count_x_ticks_are_integers():
    xs = [2, 3, 4, 5, 6]
    fig = line_figure("accuracy vs steps", xs, [("curriculum", [0.9, 0.8, 0.6, 0.4, 0.3],
                                                 [0.8, 0.7, 0.5, 0.3, 0.2], [1.0, 0.9, 0.7, 0.5, 0.4])],
                      shade_from=5, xlabel="depth (steps)", ylabel="pass@1")
    ax = fig.axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1  # the interval band
    assert any(p.get_label() == "held out" for p in ax.patches)
    ticks = _ticks(ax.xaxis)
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert all("." not in lab for lab in _tick_labels(fig, "x"))
    assert ax.get_xlabel() == "depth (steps)" and ax.get_ylim() == (0.0, 1.0)


def test_plots_leave_pyplot_alone():
    """Drawing a report neither imports pyplot nor selects a backend for the user."""
    import matplotlib

    before = matplotlib.get_backend() if "matplotlib.pyplot" in sys.modules else None
    line_figure("x", [1, 2], [("a", [0.1, 0.2])])
    if before is None:
        assert "matplotlib.pyplot" not in sys.modules
    else:
        assert matplotlib.get_backend() == before


def test_a_bad_series_is_rejected():
    with pytest.raises(ValueError, match="a series is"):
        bar_figure("t", ["a"], [("x", [1], [0])])


def test_report_png_sizes_are_what_the_docs_say(tmp_path: Path):
    path = bar_chart(tmp_path / "r.png", "t", ["a", "b"], [("x", [1, 2])], integer=True)
    with Image.open(path) as im:
        assert im.size == (760, 440)


def test_long_run_labels_wrap_after_slashes_and_spaces_without_losing_text():
    label = "humaneval/smollm2-135m-instruct (e1-humaneval14)"
    lines = wrap_label(label, 23).split("\n")
    assert lines == ["humaneval/", "smollm2-135m-instruct", "(e1-humaneval14)"]
    assert wrap_label("math/smollm2 (x)", 40) == "math/smollm2 (x)"  # fits: one line, slash kept in place
    assert wrap_label("a b c", 3) == "a b\nc"
    # four runs side by side: the model's name is longer than a column and breaks after its hyphens
    assert wrap_label("coding/smollm2-135m-instruct (e1c-coding)", 17).split("\n") == [
        "coding/smollm2-", "135m-instruct", "(e1c-coding)"]
