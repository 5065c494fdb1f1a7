"""The solve screen: a checkpoint on one puzzle, segment by segment.

← → step through the ACT segments (the grid shows what changed since the previous one), n / p
pick another held-out puzzle of the run's dataset, i pastes one. The plot is the hierarchical
convergence of the HRM paper: the forward residual of z_H after each H step and of z_L after
each L step, falling within each H cycle and jumping when z_H moves. Loading and solving run in a
worker thread; the screen shows what comes back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static, TextArea

from hrm_cli.dashboard.plots import Line, MetricPlot, PlotSpec
from hrm_cli.dashboard.solve_session import Answer, Puzzle, SolveSession, residual_series, segment_answers
from hrm_cli.step_views import CHANGED, confidence_text, segment_grid, shown_changes

BLOCKS = "▁▂▃▄▅▆▇█"


def confidence_strip(trace: Any, current: int) -> Text:
    """One block per segment, as high as its halting confidence; the shown one reversed, ◆ the halt."""
    text = Text.assemble(("halt ", "bold"))
    for i, seg in enumerate(trace.segments):
        block = BLOCKS[min(int(seg.halt_confidence * len(BLOCKS)), len(BLOCKS) - 1)]
        style = ("bold green" if seg.wants_halt else "cyan") + (" reverse" if i == current else "")
        text.append(block, style=style)
    text.append(f" ◆{trace.solution.halt_step}\n", style="dim")
    return text


def convergence_spec(trace: Any, current: int) -> PlotSpec:
    hx, hy, lx, ly = residual_series(trace)
    h_per_seg = len(trace.segments[0].residual_H) if trace.segments else 1
    return PlotSpec("forward residuals vs H step",
                    (Line(hx, hy, "braille", "cyan", "‖Δz_H‖"), Line(lx, ly, "dot", "orange", "‖Δz_L‖")),
                    yscale="log", vlines=(float((current + 1) * h_per_seg),))


def _check_mark(ok: bool | None) -> Text:
    return Text("?", style="dim") if ok is None else Text("✓", style="green") if ok else Text("✗", style="red")


def answers_table(answers: list[Answer], current: np.ndarray | None, title: str, voted: bool) -> Table:
    """Distinct answers: which segments gave each (or how many samples voted), confidence, check;
    ◀ marks the one the grid shows."""
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold underline", box=None,
                  padding=(0, 1))
    table.add_column("#", no_wrap=True)
    table.add_column("votes" if voted else "segs", no_wrap=True)
    # segments: the best sigmoid(q_halt - q_continue); votes: the mean sigmoid(q_halt) of the voters
    table.add_column("q_halt" if voted else "halt", justify="right", no_wrap=True)
    table.add_column("ok", justify="center", no_wrap=True)
    for i, a in enumerate(answers[:6]):
        now = current is not None and np.array_equal(a.prediction, current)
        label = Text(f"{i + 1}" + ("◀" if now else ""), style="bold" if now else "")
        where = str(a.votes) if voted else _ranges(a.segments)
        table.add_row(label, where, f"{a.confidence:.2f}", _check_mark(a.correct))
    if len(answers) > 6:
        table.add_row(Text(f"+{len(answers) - 6} more", style="dim"), "", "", "")
    return table


def _ranges(segments: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3,7'."""
    parts, start = [], None
    for i, s in enumerate(segments):
        if start is None:
            start = s
        if i + 1 == len(segments) or segments[i + 1] != s + 1:
            parts.append(f"{start}-{s}" if s != start else f"{s}")
            start = None
    return ",".join(parts)


class PasteScreen(ModalScreen[str | None]):
    """Paste a puzzle as `hrm solve` reads it; ctrl+s solves it, esc cancels."""

    BINDINGS = [Binding("ctrl+s", "submit", "Solve"), Binding("escape", "cancel", "Cancel")]

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def compose(self) -> ComposeResult:
        hint = {"sudoku": "a Sudoku: digits with . or 0 for blanks, as one line or a drawn grid",
                "maze": "a maze: rows of '#' wall, ' ' open, 'S' start, 'G' goal",
                "arc": "an ARC task JSON (its first test input is solved)"}.get(self.kind, "a puzzle")
        with Vertical(id="paste"):
            yield Static(Text.assemble(("Paste ", "bold"), hint, ("   ctrl+s solve · esc cancel", "dim")))
            yield TextArea(id="paste-text")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_submit(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SolveScreen(Screen):
    """One checkpoint solving one puzzle at a time; `session` is injectable (tests, snapshots)."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("right", "segment(1)", "Segment", key_display="←→"),
        Binding("left", "segment(-1)", "Segment", show=False),
        Binding("home", "first", "First", show=False, priority=True),
        Binding("end", "last", "Last", show=False, priority=True),
        Binding("n", "puzzle(1)", "Next puzzle"),
        Binding("p", "puzzle(-1)", "Prev", show=False),
        Binding("i", "paste", "Paste"),
    ]

    def __init__(self, run_path: Path, session: Any = None) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.session = session
        self.index = 0
        self.puzzle: Puzzle | None = None
        self.trace: Any = None
        self.answers: list[Answer] = []
        self.votes: list[Answer] | None = None
        self.segment = 0
        self.status = "loading the checkpoint…"
        self.error: Exception | None = None
        self._request = 0  # which solve the shown results belong to (n pressed twice: the last wins)
        self.solved = 0  # completed solves, for tests that wait for one

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="topline")
        with Horizontal(id="solve-body"):
            with ScrollableContainer(id="solve-left"):  # a 30x30 maze is wider than 80 columns
                yield Static(id="solve-grid")
                yield Static(id="solve-strip")
                yield Static(id="solve-answers")
            yield MetricPlot(id="convergence")
        yield Footer()

    def on_mount(self) -> None:
        if self.session is None:
            self.session = SolveSession(self.run_path, self.app.runs_dir)
        self._redraw()
        self.run_worker(self._open, thread=True, group="solve", exit_on_error=False)

    # -- work (threads) ----------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            self.session.open()
        except Exception as exc:  # a damaged checkpoint must not take the UI down: say it in one line
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._opened)

    def _solve(self, request: int, puzzle: Puzzle) -> None:
        try:
            trace = self.session.trace(puzzle)
            answers = segment_answers(trace, self.session.check(puzzle))
            self.app.call_from_thread(self._solved, request, puzzle, trace, answers, None)
            votes = self.session.votes(puzzle)  # after the trace: the segments show while the vote runs
            if votes is not None:
                self.app.call_from_thread(self._voted, request, votes)
        except Exception as exc:
            self.app.call_from_thread(self._failed, exc)

    # -- results (UI thread) -------------------------------------------------------------------------
    def _failed(self, exc: Exception) -> None:
        self.error = exc
        self.status = str(exc) or type(exc).__name__
        self.notify(self.status, severity="error")
        self._redraw()

    def _opened(self) -> None:
        self.status = self.session.note
        if self.session.puzzles:
            self._start(self.session.puzzles[0])
        self._redraw()

    def _start(self, puzzle: Puzzle) -> None:
        self._request += 1
        request = self._request
        self.puzzle, self.status = puzzle, f"solving {puzzle.name}…"
        self.run_worker(lambda: self._solve(request, puzzle), thread=True, group="solve", exit_on_error=False)
        self._redraw()

    def _solved(self, request: int, puzzle: Puzzle, trace: Any, answers: list[Answer], votes: Any) -> None:
        if request != self._request or not self.is_attached:
            return
        self.trace, self.answers, self.votes = trace, answers, votes
        self.segment = len(trace.segments) - 1  # the answer first; ← walks back through how it formed
        self.status = ""
        self.solved += 1
        self._redraw()

    def _voted(self, request: int, votes: list[Answer]) -> None:
        if request == self._request and self.is_attached:
            self.votes = votes
            self._redraw()

    # -- drawing -----------------------------------------------------------------------------------
    def _redraw(self) -> None:
        self.query_one("#title", Static).update(self._title())
        left, width, strip, answers = self._panels()
        grid = self.query_one("#solve-grid", Static)
        grid.update(left)
        # as wide as the drawing (a 30x30 maze is 64 columns), so the panel scrolls instead of wrapping it
        grid.styles.width = width or "100%"
        self.query_one("#solve-strip", Static).update(strip)
        self.query_one("#solve-answers", Static).update(answers)
        plot = self.query_one("#convergence", MetricPlot)
        if self.trace is not None and self.trace.segments:
            plot.show(convergence_spec(self.trace, self.segment))
        else:
            plot.show(PlotSpec("forward residuals: nothing solved yet", ()))

    def _title(self) -> Text:
        parts: list[Any] = [("solve ", "bold"), (self.run_path.name, "bold")]
        s = self.session
        if s is not None and s.loaded is not None:
            parts.append(f"  step {s.step:,}  {s.kind}")
        if self.puzzle is not None:
            count = len(s.puzzles) if s is not None else 0
            where = f" ({self.index + 1}/{count})" if self.puzzle.name != "pasted" and count else ""
            parts.append(f"  {self.puzzle.name}{where}")
        if self.status:
            parts.append((f"  {self.status}", "italic"))
        return Text.assemble(*parts, no_wrap=True, overflow="ellipsis")

    def _right(self) -> bool | None:
        """Whether the shown segment's answer is right (None: unknown, or nothing solved)."""
        if self.trace is None:
            return None
        pred = self.trace.segments[self.segment].prediction
        return next((a.correct for a in self.answers if np.array_equal(a.prediction, pred)), None)

    def _panels(self) -> tuple[Any, int | None, Any, Any]:
        """The grid (and its width in cells), the confidence strip, the answer tables."""
        if self.trace is None or self.puzzle is None:
            empty = Text(self.status or "nothing to show", style="italic")
            return empty, None, Text(""), Text("")
        seg = self.trace.segments[self.segment]
        previous = self.trace.segments[self.segment - 1].prediction if self.segment else None
        marks = self.app.no_color
        grid = segment_grid(self.trace.solution.kind, self.puzzle.inputs, seg, previous, self.session.build, marks)
        changed = shown_changes(self.trace.solution.kind, self.puzzle.inputs, seg)
        halts = " ◆" if seg.segment == self.trace.solution.halt_step else ""
        head = Text.assemble((f"segment {seg.segment}/{len(self.trace.segments)}{halts}  ", "bold"),
                             confidence_text(seg))
        right = self._right()
        title = None if right is None else Text("right", "bold green") if right else Text("wrong", "bold red")
        # the subtitle is also the legend: styled as the changed cells are (or naming their mark)
        subtitle = Text(f"{changed} changed" + (" *" if marks else ""), style="bold" if marks else CHANGED)
        box_width = max(max((line.cell_len for line in grid.split()), default=0) + 4, subtitle.cell_len + 6)
        panel = Group(head, Panel(grid, title=title, subtitle=subtitle, width=box_width))  # expands to box_width
        width = max(box_width, head.cell_len)
        strip = confidence_strip(self.trace, self.segment)
        tables: list[Any] = [answers_table(self.answers, seg.prediction, "answers by segment", voted=False)]
        if self.votes is not None:
            tables += [Text(""), answers_table(self.votes, seg.prediction,
                                               f"vote of {sum(v.votes for v in self.votes)} copies", voted=True)]
        return panel, width, strip, Group(*tables)

    # -- actions -----------------------------------------------------------------------------------
    def on_unmount(self) -> None:
        close = getattr(self.session, "close", None)
        if close is not None:
            close()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_segment(self, delta: int) -> None:
        if self.trace is not None:
            self.segment = max(0, min(len(self.trace.segments) - 1, self.segment + delta))
            self._redraw()

    def action_first(self) -> None:
        self.action_segment(-10**6)

    def action_last(self) -> None:
        self.action_segment(10**6)

    def action_puzzle(self, delta: int) -> None:
        puzzles = self.session.puzzles if self.session is not None else []
        if not puzzles:
            self.notify(self.session.note if self.session is not None and self.session.note else "no puzzles")
            return
        self.index = (self.index + delta) % len(puzzles)
        self._start(puzzles[self.index])

    def action_paste(self) -> None:
        if self.session is None or self.session.loaded is None:
            self.notify("the checkpoint is still loading")
            return

        def pasted(text: str | None) -> None:
            if not text or not text.strip():
                return
            from hrm_engine.errors import HRMError

            try:
                puzzle = self.session.parse(text)
            except HRMError as exc:
                self.notify(str(exc), severity="error")
                return
            self._start(puzzle)

        self.app.push_screen(PasteScreen(self.session.kind), pasted)
