"""Drawings of an answer segment by segment (`hrm solve --steps` and the dashboard's solve screen).

Each segment is its grid with the cells that changed since the previous segment highlighted, and
a line with the halting confidence and the forward residuals. With colour the changed cells are
styled; without (piped, NO_COLOR) they carry a `*` beside them, so the view reads the same in a log.
A maze is drawn as the puzzle's walls with the predicted path on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from hrm_datasets.render import ARC_PALETTE, MAZE_CHARS, default_box, sudoku_grid
from hrm_engine.solving.solve_trace import PuzzleTrace, SegmentTrace

CHANGED = "bold black on yellow"
PATH_TOKEN = MAZE_CHARS.index("o") + 1


def plain_markers(console: Console) -> bool:
    """Whether changes need a character of their own: no colour (piped, NO_COLOR, a dumb terminal)."""
    return console.no_color or console.color_system is None


def sudoku_step(inputs: np.ndarray, prediction: np.ndarray, changed: np.ndarray, box: tuple[int, int],
                marks: bool) -> Text:
    """The predicted digits with box lines; givens bold, changed cells highlighted (or `*` after them)."""
    digits = np.where(prediction >= 2, prediction - 1, 0)

    def cell(i: int, v: int) -> list[tuple[str, str]]:
        style = CHANGED if changed[i] else ("bold" if inputs[i] >= 2 else "cyan")
        return [(str(v) if v else ".", style if v or changed[i] else "dim"),
                ("*" if marks and changed[i] else " ", "")]
    return sudoku_grid(digits, box, cell)


def maze_step(inputs: np.ndarray, prediction: np.ndarray, changed: np.ndarray, marks: bool) -> Text:
    """The puzzle's maze with the predicted path on its open cells; cells that joined or left the path
    highlighted (a `*` in the cell when there is no colour)."""
    n = int(round(len(inputs) ** 0.5))
    styles = {"#": "white on grey23", " ": "", "S": "bold green", "G": "bold red", "o": "bold yellow"}
    text = Text()
    for r in range(n):
        for c in range(n):
            i = r * n + c
            ch = MAZE_CHARS[int(inputs[i]) - 1] if 1 <= inputs[i] <= 5 else "?"
            on_path = ch == " " and prediction[i] == PATH_TOKEN
            cell = "o" if on_path else ch
            draw = (cell if cell != "#" else "█") * 2
            style = styles.get(cell, "")
            if ch == "#" and prediction[i] == PATH_TOKEN:  # a route through a wall: show where
                draw, style = "xx", "bold red on grey23"
            if changed[i] and ch == " ":
                style = CHANGED
                if marks:
                    draw = cell + "*"
            text.append(draw, style=style)
        if r < n - 1:
            text.append("\n")
    return text


def arc_step(grid: np.ndarray, changed: np.ndarray | None, marks: bool) -> Text:
    """An ARC output grid as colour blocks; changed cells underlined and bold (or `*` without colour)."""
    text = Text()
    for r, row in enumerate(np.asarray(grid)):
        for c, v in enumerate(row):
            v = int(v)
            hit = changed is not None and bool(changed[r, c])
            style = f"black on {ARC_PALETTE[v]}" if 0 <= v <= 9 else ""
            if hit:
                style += " bold underline"
            text.append(f"{v}", style=style)
            text.append("*" if marks and hit else " ", style=style)
        text.append("\n")
    text.rstrip()
    return text


def shown_changes(kind: str, inputs: np.ndarray, seg: SegmentTrace) -> int:
    """How many cells the drawing highlights (a maze shows only the route over its open cells)."""
    if kind == "maze":
        return int(np.count_nonzero(seg.changed & (inputs == MAZE_CHARS.index(" ") + 1)))
    return int(np.count_nonzero(seg.changed))


def segment_grid(kind: str, inputs: np.ndarray, seg: SegmentTrace, previous: np.ndarray | None,
                 build: dict[str, Any], marks: bool) -> Text:
    """One segment's answer drawn for its kind."""
    if kind == "sudoku":
        box = tuple(build.get("box") or default_box(len(inputs)))
        return sudoku_step(inputs, seg.prediction, seg.changed, box, marks)  # type: ignore[arg-type]
    if kind == "maze":
        return maze_step(inputs, seg.prediction, seg.changed, marks)
    if kind == "arc":
        from hrm_datasets.arc import crop

        grid = crop(seg.prediction)
        before = crop(previous) if previous is not None else None
        changed = (grid != before) if before is not None and before.shape == grid.shape else None
        return arc_step(grid, changed, marks)
    n = int(round(len(inputs) ** 0.5))
    return Text("\n".join(" ".join(f"{v:2d}" for v in seg.prediction.reshape(n, n)[i]) for i in range(n)))


def confidence_text(seg: SegmentTrace) -> Text:
    """`halt 0.73 ✓`: sigmoid(q_halt − q_continue), with a mark where the Q head would halt."""
    return Text.assemble(("halt ", "dim"), (f"{seg.halt_confidence:.2f}", "bold green" if seg.wants_halt else ""),
                         (" ✓" if seg.wants_halt else ""))


def residuals(values: list[float]) -> str:
    return " ".join(f"{v:.3g}" for v in values)


def step_views(trace: PuzzleTrace, build: dict[str, Any], console: Console) -> RenderableType:
    """Every segment's grid side by side (as many as the width holds), each titled with its confidence,
    then a table of the residual norms: ‖Δz_H‖ per H step, ‖Δz_L‖ per L step grouped by H step."""
    from rich import box
    from rich.table import Table

    marks = plain_markers(console)
    sol = trace.solution
    panels = []
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), header_style="bold")
    for col, justify in (("segment", "right"), ("changed", "right"), ("halt", "right"), ("‖Δz_H‖ by H step", "left"),
                         ("‖Δz_L‖ by L step | H step", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    previous = None
    for seg in trace.segments:
        grid = segment_grid(sol.kind, sol.inputs, seg, previous, build, marks)
        halts = seg.segment == sol.halt_step
        title = f"segment {seg.segment}" + (" ◆" if halts else "")
        subtitle = confidence_text(seg)
        width = max(max((line.cell_len for line in grid.split()), default=0) + 4, subtitle.cell_len + 6,
                    len(title) + 6)  # titles whole: a panel shrunk to its grid cut them
        panels.append(Panel(grid, title=title, subtitle=subtitle, width=width))
        table.add_row(f"{seg.segment}{' ◆' if halts else ''}", str(shown_changes(sol.kind, sol.inputs, seg)),
                      Text(f"{seg.halt_confidence:.2f}", style="bold green" if seg.wants_halt else ""),
                      residuals(seg.residual_H),
                      " | ".join(residuals(row) for row in seg.residual_L))
        previous = seg.prediction
    legend = Text.assemble(("◆", "bold"), f" Q head halts ({sol.halt_step}) · ",
                           ("changed cells", CHANGED if not marks else ""), (" *" if marks else ""),
                           " · halt = sigmoid(q_halt − q_continue)", style="dim")
    return Group(Columns(panels), legend, table)
