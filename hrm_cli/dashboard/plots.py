"""Metric plots drawn by plotext (through textual-plotext), built off the UI thread.

plotext takes 10-50 ms to draw one plot, and turning its output into terminal lines as much again;
five plots redrawn in the UI thread on every refresh would stall the interface. A `PlotSpec` is plain
data; `draw_plot` turns it into ready-made lines (Strips) with a fresh plotext figure (nothing shared),
so the reading thread draws and the UI thread only swaps the lines in (the Line API: `render_line`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot


_PLAIN = Style()


@dataclass(frozen=True)
class Line:
    xs: list[float]
    ys: list[float]
    marker: str
    color: str
    label: str
    scatter: bool = False


@dataclass(frozen=True)
class PlotSpec:
    title: str
    lines: tuple[Line, ...]
    ylim: tuple[float, float] | None = None
    yscale: str = "linear"  # or "log" (residual norms span decades)
    vlines: tuple[float, ...] = ()  # x positions to mark (the solve screen's current segment)
    xlabel: str = ""


# how plotext draws each marker, for the legend line below the plot
MARKER_GLYPHS = {"braille": "⢕", "dot": "•", "hd": "▞", "fhd": "🬗", "sd": "█"}
# plotext colour names rich does not know
RICH_COLORS = {"orange": "dark_orange"}


def legend_text(spec: PlotSpec, width: int) -> Text:
    """`⢕⢕ train  oo eval`: drawn under the plot, so it never covers the data (plotext's sits on it)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, line in enumerate(spec.lines):
        glyph = MARKER_GLYPHS.get(line.marker, line.marker[:1] or "•")
        if i:
            text.append("  ")
        text.append(glyph * 2, style=RICH_COLORS.get(line.color, line.color))
        text.append(f" {line.label}")
    text.truncate(width, overflow="ellipsis")
    return text


def build_plot(spec: PlotSpec, width: int, height: int, theme: str) -> Text:
    """The plot as styled text of `width` x `height` cells (no legend: see `draw_plot`).

    plotext silently drops a title wider than the plot area; then the title's first words are used
    ("learning rate vs step" -> "learning rate"), so every plot keeps a name in small cells."""
    text = _build(spec, spec.title, width, height, theme)
    short = spec.title.split(" vs ")[0]
    if short != spec.title and spec.title not in text.plain.split("\n", 1)[0]:
        text = _build(spec, short, width, height, theme)
    return text


def _build(spec: PlotSpec, title: str, width: int, height: int, theme: str) -> Text:
    plt = Plot()
    for line in spec.lines:
        draw = plt.scatter if line.scatter else plt.plot
        draw(line.xs, line.ys, marker=line.marker, color=line.color)
    for x in spec.vlines:
        plt.vline(x, "gray")
    plt.title(title)
    if spec.xlabel:
        plt.xlabel(spec.xlabel)
    if spec.ylim is not None:
        plt.ylim(*spec.ylim)
    if spec.yscale != "linear":
        plt.yscale(spec.yscale)
    plt.plotsize(width, height)
    plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue #5)
    plt.theme(theme)
    return Text.from_ansi(plt.build())


def draw_plot(spec: PlotSpec, width: int, height: int, theme: str, console: Console) -> list[Strip]:
    """The plot as `height` terminal lines of `width` cells: the plot, then one legend line."""
    legend = height >= 6 and any(line.label for line in spec.lines)
    plot_h = height - 1 if legend else height
    text = build_plot(spec, width, plot_h, theme)
    options = console.options.update(width=width, height=plot_h, no_wrap=True, overflow="crop")
    lines = console.render_lines(text, options, pad=True)[:plot_h]
    if legend:
        lines += console.render_lines(legend_text(spec, width), options.update(height=1), pad=True)[:1]
    # every segment needs a Style: Textual's filters (NO_COLOR's Monochrome) read it
    return [Strip([Segment(s.text, s.style or _PLAIN) for s in line], width) for line in lines]


class MetricPlot(PlotextPlot):
    """Shows lines drawn elsewhere while its size still fits them, and draws itself otherwise."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec: PlotSpec | None = None
        self._drawn: tuple[tuple[int, int], PlotSpec, list[Strip]] | None = None
        self.cells = (0, 0)  # the size, recorded on the UI thread for the drawing thread
        self._theme = "default"
        self._plot_console: Console | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self._plot_console = self.app.console
        self._theme = self._get_plotext_theme_name(self.app.theme)

    def _register_theme(self, app_theme_name: str) -> None:
        super()._register_theme(app_theme_name)
        self._theme = self._get_plotext_theme_name(app_theme_name)

    def on_resize(self) -> None:
        self.cells = (self.size.width, self.size.height)

    def draw(self, spec: PlotSpec, size: tuple[int, int]) -> list[Strip]:
        """Callable from a worker thread: uses nothing of the UI's but the console's settings."""
        return draw_plot(spec, size[0], size[1], self._theme, self._plot_console or Console())

    def show(self, spec: PlotSpec, drawn: tuple[tuple[int, int], list[Strip]] | None = None) -> None:
        self.spec = spec
        self._drawn = (drawn[0], spec, drawn[1]) if drawn else None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        size = (self.size.width, self.size.height)
        if self.spec is None or size[0] <= 0 or size[1] <= 0:
            return Strip.blank(size[0], _PLAIN)
        if self._drawn is None or self._drawn[0] != size or self._drawn[1] is not self.spec:
            self._drawn = (size, self.spec, self.draw(self.spec, size))
        lines = self._drawn[2]
        return lines[y] if y < len(lines) else Strip.blank(size[0], _PLAIN)
