"""The report charts, drawn with matplotlib's object API on the Agg canvas (headless, no pyplot).

Why the object API: `Figure` + `FigureCanvasAgg` never selects a backend, opens a window or touches
pyplot's global figure list, so a report written from a script, a test or a notebook leaves the user's
matplotlib state as it was. Each chart is built by a `*_figure` function that returns the `Figure`
(tests inspect its axes and tick labels) and saved by `save_png`; `bar_chart` and `line_chart` do both.

Conventions: axes that count things (items, evaluations, steps, examples) get integer ticks
(`MaxNLocator(integer=True)`); where the data carries an interval (a bootstrap or t interval) it is drawn,
as error bars on bars and as a shaded band around a line; the interval's meaning goes in the axis label or
the title. The PNG has no timestamp, so the same data give the same bytes with one matplotlib version.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 100


def _unpack(s: Sequence) -> tuple[str, list, list | None, list | None]:
    """A series is (name, values) or (name, values, lower, upper), one entry per group or x (None: none)."""
    if len(s) == 2:
        return s[0], list(s[1]), None, None
    if len(s) == 4:
        return s[0], list(s[1]), list(s[2]), list(s[3])
    raise ValueError(f"a series is (name, values) or (name, values, lower, upper); got {len(s)} items")


def _figure(width: int, height: int) -> Figure:
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def wrap_label(text: str, chars: int) -> str:
    """Break a tick label into lines of at most `chars` at spaces and after slashes (`suite/model (id)`);
    a word longer than `chars` is broken after its hyphens (`smollm2-135m-instruct`)."""
    lines: list[str] = []
    pieces = []
    for word in re.findall(r"[^\s/]*/|[^\s/]+", text):
        pieces.extend(re.findall(r"[^-]*-|[^-]+", word) if len(word) > chars else [word])
    for piece in pieces:
        sep = "" if lines and lines[-1].endswith(("/", "-")) else " "
        if lines and len(lines[-1]) + len(sep) + len(piece) <= chars:
            lines[-1] += sep + piece
        else:
            lines.append(piece)
    return "\n".join(lines)


def _nan(values: list) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def bar_figure(
    title: str,
    groups: list[str],
    series: list,
    ylabel: str = "",
    ymax: float | None = None,
    value_fmt: str = "{:.2f}",
    integer: bool = False,
    width: int = 760,
    height: int = 440,
) -> Figure:
    """Grouped bars: one group per label, one bar per series, the value on top, error bars where the
    series has (lower, upper). `integer`: the y axis counts things (integer ticks)."""
    fig = _figure(width, height)
    ax = fig.add_subplot()
    n = max(len(series), 1)
    bar_w = min(0.8 / n, 0.35)
    xs = list(range(len(groups)))
    for i, s in enumerate(series):
        name, vals, lo, hi = _unpack(s)
        vals = (vals + [None] * len(groups))[: len(groups)]
        offset = (i - (n - 1) / 2) * bar_w
        pos = [x + offset for x in xs]
        yerr = None
        if lo is not None and hi is not None:
            yerr = [
                [max(v - lo_, 0.0) if v is not None and lo_ is not None else 0.0 for v, lo_ in zip(vals, lo)],
                [max(hi_ - v, 0.0) if v is not None and hi_ is not None else 0.0 for v, hi_ in zip(vals, hi)],
            ]
        ax.bar(pos, _nan(vals), bar_w * 0.95, label=name, yerr=yerr, capsize=4 if yerr else 0,
               error_kw={"elinewidth": 1.2, "ecolor": "0.25"})
        for j, (x, v) in enumerate(zip(pos, vals)):  # the value above the bar, or above its error bar
            if v is not None:
                y = v + (yerr[1][j] if yerr else 0.0)
                ax.annotate(value_fmt.format(v), (x, y), xytext=(0, 3), textcoords="offset points",
                            ha="center", va="bottom", fontsize=8)
    # the axes get about three quarters of the figure's width (the legend sits to the right); ~8 px a character
    chars = max(10, int(0.75 * width / max(len(groups), 1) / 8))
    ax.set_xticks(xs, [wrap_label(g, chars) for g in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    top = ymax
    if top is None:
        peaks = [v for s in series for v in (_unpack(s)[3] or _unpack(s)[1]) if v is not None]
        top = max(peaks, default=1.0) * 1.15 or 1.0
    ax.set_ylim(0, top)
    if integer:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if series:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def line_figure(
    title: str,
    xs: list[float],
    series: list,
    shade_from: float | None = None,
    ylabel: str = "",
    xlabel: str = "",
    ylim: tuple[float, float] | None = (0.0, 1.0),
    integer_x: bool = True,
    integer_y: bool = False,
    width: int = 760,
    height: int = 440,
) -> Figure:
    """Lines with markers over `xs`, a shaded band where a series has (lower, upper), the region
    x >= shade_from greyed ("held out"). `integer_x`: x counts things (steps, evaluations, examples)."""
    fig = _figure(width, height)
    ax = fig.add_subplot()
    if shade_from is not None and xs and shade_from <= max(xs):
        step = min((b - a for a, b in zip(sorted(xs), sorted(xs)[1:]) if b > a), default=1.0)
        ax.axvspan(shade_from - step / 2, max(xs) + step / 2, color="0.93", zorder=0, label="held out")
    for s in series:
        name, vals, lo, hi = _unpack(s)
        (line,) = ax.plot(xs, _nan(vals), marker="o", markersize=4, linewidth=2, label=name)
        if lo is not None and hi is not None:
            ax.fill_between(xs, _nan(lo), _nan(hi), color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if integer_y:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write `fig` as a PNG of exactly its size in pixels (no tight bounding box), without a timestamp."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def bar_chart(path: str | Path, title: str, groups: list[str], series: list, **kw) -> Path:
    """`bar_figure` saved to `path`."""
    return save_png(bar_figure(title, groups, series, **kw), path)


def line_chart(path: str | Path, title: str, xs: list[float], series: list, **kw) -> Path:
    """`line_figure` saved to `path`."""
    return save_png(line_figure(title, xs, series, **kw), path)


def coverage_figure(
    title: str,
    series: list,
    width: int = 760,
    height: int = 440,
) -> Figure:
    """Accuracy among answered items against coverage, one line per series (name, coverages, accuracies,
    point labels): each point one vote threshold, labelled with it (`t=3`), coverage falling as t rises."""
    # the legend goes under the axes (one line per series), so many series lengthen the figure, never squeeze
    # the plot or clip its title
    fig = _figure(width, height + 16 * len(series))
    ax = fig.add_subplot()
    for name, xs, ys, labels in series:
        pts = [(x, y, lab) for x, y, lab in zip(xs, ys, labels) if x is not None and y is not None]
        if not pts:
            continue
        (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=4, linewidth=2,
                          label=name)
        for x, y, lab in pts:
            ax.annotate(lab, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7, color=line.get_color())
    ax.set_title(title)
    ax.set_xlabel("coverage (answered items / items)")
    ax.set_ylabel("accuracy among answered items")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False)
    return fig


def coverage_chart(path: str | Path, title: str, series: list, **kw) -> Path:
    """`coverage_figure` saved to `path`."""
    return save_png(coverage_figure(title, series, **kw), path)
