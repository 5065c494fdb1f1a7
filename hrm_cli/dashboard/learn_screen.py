"""The learn-curve view: held-out exact accuracy against training seconds or steps, one line per curve file.

Curve files come from `hrm bench learn` and benchmarks/learn_vs_reference.py (engine/bench/learn.py's format).
Several files are overlaid on the same axes, which is how the side-by-side comparison is read; a file that is
still being written (it is rewritten after every evaluation) is re-read when it changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from hrm_cli.dashboard.follow import FollowingScreen
from hrm_cli.dashboard.plots import Line, MetricPlot, PlotSpec
from hrm_cli.dashboard.training_screen import RUN_COLORS, RUN_GLYPHS, RUN_MARKERS, fmt
from hrm_engine.errors import HRMError
from hrm_engine.bench.learn import CURVE_FORMAT, read_curve

# (x key, x label), (y key, y label): `x` and `y` switch between them
X_AXES = [("train_seconds", "training seconds"), ("step", "step")]
Y_AXES = [("exact_accuracy", "exact accuracy"), ("accuracy", "token accuracy")]
LEVELS = (0.5, 0.9)  # the summary's "time to" columns


def curve_files(paths: list[Path]) -> list[Path]:
    """Each path a curve file, or a folder whose curve files (by their format field) are taken in name order."""
    import json

    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for child in sorted(path.glob("*.json")):
            try:
                if json.loads(child.read_text(encoding="utf-8")).get("format") == CURVE_FORMAT:
                    found.append(child)
            except (OSError, ValueError, AttributeError):
                continue  # summary.json and other files beside the curves
    return found


def check_learn_paths(paths: list[Path]) -> list[Path]:
    """Before the UI starts: every path a readable curve file or a folder holding some (one line otherwise)."""
    for path in paths:
        if path.is_dir():
            if not curve_files([path]):
                raise HRMError(f"{path} holds no learn curve files; write some with `hrm bench learn --out {path}/NAME.json`")
        else:
            read_curve(path)
    return curve_files(paths)


def learn_specs(curves: list[dict[str, Any]], x_key: str, x_label: str, y_key: str, y_label: str) -> PlotSpec:
    """Every curve's points on one plot (markers told apart without colour, as the training compare view)."""
    lines = []
    for i, curve in enumerate(curves):
        points = [p for p in curve["points"] if isinstance(p.get(y_key), (int, float))]
        if points:
            lines.append(Line([float(p[x_key]) for p in points], [float(p[y_key]) for p in points],
                              RUN_MARKERS[i % 4], RUN_COLORS[i % 4], str(curve.get("label") or i)[:28]))
    title = f"{y_label} vs {x_label}" if lines else f"{y_label}: no evaluations yet"
    return PlotSpec(title, tuple(lines), (0.0, 1.0), xlabel=x_label)


def time_to(curve: dict[str, Any], level: float) -> str:
    """Training time at which a curve first reached `level` (exact accuracy), as 1m30s; '-' if never."""
    hit = next((p for p in curve["points"] if p["exact_accuracy"] >= level), None)
    if hit is None:
        return "-"
    minutes, secs = divmod(int(round(hit["train_seconds"])), 60)
    return f"{minutes}m{secs:02d}s"


class LearnScreen(FollowingScreen):
    """Learn curves overlaid; `x` plots against steps instead of seconds, `y` token accuracy instead of exact."""

    DEFAULT_CSS = """
    #learn-plot { height: 1fr; min-height: 8; }
    #learn-summary { height: auto; max-height: 8; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("x", "switch_x", "Seconds/steps"),
        Binding("y", "switch_y", "Exact/token"),
    ]

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self.paths = paths
        self.x_index = 0
        self.y_index = 0
        self.curves: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self._read: dict[Path, tuple[float, dict[str, Any] | None, str | None]] = {}  # path -> (mtime, curve, error)
        self._plot: MetricPlot | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="topline")
        yield MetricPlot(id="learn-plot")
        yield Static(id="learn-summary")
        yield Footer()

    def on_mount(self) -> None:
        self._plot = self.query_one("#learn-plot", MetricPlot)
        self.start_following()

    # -- reading (worker thread) ---------------------------------------------------------------------------
    def collect(self) -> tuple[dict[str, Any], bool]:
        curves, problems, changed = [], [], False
        for path in curve_files(self.paths):
            try:
                mtime = path.stat().st_mtime
            except OSError as exc:
                mtime, cached = -1.0, (None, f"{path}: {exc.strerror or exc}")
            else:
                seen = self._read.get(path)
                if seen is not None and seen[0] == mtime:
                    cached = seen[1:]
                else:
                    try:
                        cached = (read_curve(path), None)
                    except HRMError as exc:  # one line, shown in the title; the other curves still plot
                        cached = (None, str(exc).replace(str(path), path.name))  # the name, not a long path
                    changed = True
            self._read[path] = (mtime, *cached)
            if cached[0] is not None:
                curves.append(cached[0])
            if cached[1] is not None:
                problems.append(cached[1])
        return {"curves": curves, "problems": problems, "changed": changed or not self.curves}, False

    # -- showing (UI thread) ---------------------------------------------------------------------------
    def apply(self, payload: dict[str, Any]) -> None:
        if not payload["changed"] and payload["problems"] == self.problems:
            return
        self.curves, self.problems = payload["curves"], payload["problems"]
        self._redraw()

    def _redraw(self) -> None:
        x_key, x_label = X_AXES[self.x_index]
        y_key, y_label = Y_AXES[self.y_index]
        if self._plot is not None:
            self._plot.show(learn_specs(self.curves, x_key, x_label, y_key, y_label))
        self.query_one("#title", Static).update(self._title())
        self.query_one("#learn-summary", Static).update(self._summary())

    def _title(self) -> Text:
        n = len(self.curves)
        text = Text.assemble(("learn curves", "bold"), f"  {n} file{'s' if n != 1 else ''}  ",
                             (f"{Y_AXES[self.y_index][1]} vs {X_AXES[self.x_index][1]}", "dim"),
                             no_wrap=True, overflow="ellipsis")
        if not n and not self.problems:
            text.append("  no curve files found", style="yellow")
        for problem in self.problems[:2]:
            text.append(f"\n{problem}", style="yellow")
        return text

    def _summary(self) -> Table:
        table = Table(box=None, padding=(0, 1), header_style="bold")
        table.add_column("", no_wrap=True)
        table.add_column("curve", no_wrap=True, overflow="ellipsis", max_width=30)
        for name in ("best", "steps", "train", "eval", "steps/s", *(f"to {lv:g}" for lv in LEVELS), "stop"):
            table.add_column(name, justify="right", no_wrap=True)
        for i, c in enumerate(self.curves):
            points = c["points"]
            best = max((p["exact_accuracy"] for p in points), default=None)
            table.add_row(Text(RUN_GLYPHS[i % 4] * 2, style=RUN_COLORS[i % 4].replace("orange", "dark_orange")),
                          str(c.get("label") or "?"), fmt(best), fmt(c.get("steps")),
                          f"{fmt(c.get('train_seconds'))}s", f"{fmt(c.get('eval_seconds'))}s",
                          fmt(c.get("steps_per_s")), *(time_to(c, lv) for lv in LEVELS),
                          str(c.get("stop_reason") or "running"))
        return table

    # -- actions ---------------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_switch_x(self) -> None:
        self.x_index = (self.x_index + 1) % len(X_AXES)
        self._redraw()

    def action_switch_y(self) -> None:
        self.y_index = (self.y_index + 1) % len(Y_AXES)
        self._redraw()
