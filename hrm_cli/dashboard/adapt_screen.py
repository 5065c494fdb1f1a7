"""The adaptation view: best demonstration score found against model evaluations, one line per method.

Reads the points a search writes (hrm_engine.adapt.points: `hrm eval --adapt` appends one task's lines
when the task is done, `hrm solve --adapt --points FILE` writes one task's). Each method's line is the
mean over tasks of the best score found by evaluation n (score = demonstration exact share + token
accuracy, 0..2); none and mean, which do not search, are flat lines. A measurement still running is
re-read whenever its file grows.
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
from hrm_cli.dashboard.training_screen import fmt
from hrm_engine.errors import HRMError

METHOD_STYLE = {"bopro": ("braille", "red"), "random": ("dot", "cyan"), "gradient": ("+", "green"),
                "none": ("x", "white"), "mean": ("x", "yellow"), "trained": ("+", "magenta")}


def points_file(path: Path) -> Path:
    """A points.jsonl, or a measurement folder holding one; one line if neither."""
    path = Path(path)
    found = path / "points.jsonl" if path.is_dir() else path
    if not found.is_file():
        raise HRMError(f"{path}: no points file; give the points.jsonl of `hrm eval --adapt` (or its folder) "
                       f"or of `hrm solve --adapt --points FILE`")
    return found


def adapt_spec(curves: dict[str, list[float]], tasks: int) -> PlotSpec:
    """One line per method: mean best demonstration score against evaluations 1..N."""
    lines = []
    for method, ys in curves.items():
        marker, colour = METHOD_STYLE.get(method, ("dot", "blue"))
        xs = [float(n) for n in range(1, len(ys) + 1)]
        lines.append(Line(xs, [float(y) for y in ys], marker, colour, method))
    title = (f"best demonstration score (exact + token) vs evaluations, mean over {tasks} task{'s' if tasks != 1 else ''}"
             if lines else "no points yet")
    return PlotSpec(title, tuple(lines), (0.0, 2.0), xlabel="model evaluations")


class AdaptScreen(FollowingScreen):
    """Best demonstration score against evaluations per method, from a points file that may still grow."""

    DEFAULT_CSS = """
    #adapt-plot { height: 1fr; min-height: 8; }
    #adapt-summary { height: auto; max-height: 9; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = points_file(path)
        self.records: list[dict[str, Any]] = []
        self.curves: dict[str, list[float]] = {}
        self._mtime: float | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="topline")
        yield MetricPlot(id="adapt-plot")
        yield Static(id="adapt-summary")
        yield Footer()

    def on_mount(self) -> None:
        self.start_following()

    def collect(self) -> tuple[dict[str, Any] | None, bool]:
        from hrm_engine.adapt.points import best_score_curves, read_points

        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return None, False
        self._mtime = mtime
        records = read_points(self.path)
        return {"records": records, "curves": best_score_curves(records)}, False

    def apply(self, payload: dict[str, Any]) -> None:
        self.records, self.curves = payload["records"], payload["curves"]
        tasks = len({r.get("task") for r in self.records})
        self.query_one("#adapt-plot", MetricPlot).show(adapt_spec(self.curves, tasks))
        where = "/".join(self.path.parts[-2:])
        self.query_one("#title", Static).update(Text.assemble(
            ("adaptation", "bold"), f"  {tasks} task{'s' if tasks != 1 else ''}, {len(self.records)} points  ",
            (where, "dim"), no_wrap=True, overflow="ellipsis"))
        self.query_one("#adapt-summary", Static).update(self.summary())

    def summary(self) -> Table:
        """Per method: tasks, evaluations, best score at the end, and the share of tasks whose demos it solved."""
        table = Table(box=None, padding=(0, 1), header_style="bold")
        for name in ("method", "tasks", "evaluations", "best score", "demos solved"):
            table.add_column(name, justify="left" if name == "method" else "right", no_wrap=True)
        for method, ys in self.curves.items():
            mine = [r for r in self.records if r.get("method") == method]
            by_task: dict[str, float] = {}
            for r in mine:
                by_task[r["task"]] = max(by_task.get(r["task"], 0.0), float(r.get("exact", 0.0)))
            solved = sum(1 for v in by_task.values() if v >= 1.0)
            table.add_row(Text(method, style=METHOD_STYLE.get(method, ("", "blue"))[1]), str(len(by_task)),
                          str(max((int(r.get("evaluation", 0)) for r in mine), default=0)), fmt(ys[-1] if ys else None),
                          f"{solved}/{len(by_task)}")
        return table

    def action_back(self) -> None:
        self.app.pop_screen()
