"""Terminal drawings of puzzles: Sudoku with box lines, Maze with its path, ARC in the ARC palette.

Every function returns a rich renderable (`rich.text.Text` or a table of them), so the same
drawing serves `hrm data show` and `hrm solve`; rich drops the colours when piped or NO_COLOR.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from rich.columns import Columns
from rich.console import Group
from rich.panel import Panel
from rich.text import Text

ARC_PALETTE = ["#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B",
               "#7FDBFF", "#870C25"]
MAZE_CHARS = "# SGo"  # tokens 1..5, as the reference's maze charset


def sudoku_grid(values: np.ndarray, box: tuple[int, int],
                cell: Callable[[int, int], list[tuple[str, str]]]) -> Text:
    """A Sudoku grid with box lines; `cell(index, value)` gives each cell's (text, style) pieces."""
    values = np.asarray(values).reshape(-1)
    n = int(round(len(values) ** 0.5))
    br, bc = box
    text = Text()
    horizontal = "+-".join("-" * (2 * bc) for _ in range(n // bc))
    for r in range(n):
        if r and r % br == 0:
            text.append(horizontal + "\n", style="dim")
        for c in range(n):
            if c and c % bc == 0:
                text.append("| ", style="dim")
            i = r * n + c
            for piece, style in cell(i, int(values[i])):
                text.append(piece, style=style)
        if r < n - 1:
            text.append("\n")
    return text


def sudoku_text(cells: np.ndarray, box: tuple[int, int], givens: np.ndarray | None = None,
                wrong: np.ndarray | None = None) -> Text:
    """A Sudoku grid (values 0..N, 0 blank) with box lines; givens bold, wrong cells red."""
    def cell(i: int, v: int) -> list[tuple[str, str]]:
        style = "bold" if givens is not None and givens[i] else "cyan"
        if wrong is not None and wrong[i]:
            style = "bold red"
        return [((str(v) if v else ".") + " ", style if v else "dim")]
    return sudoku_grid(cells, box, cell)


def maze_text(tokens: np.ndarray, path: np.ndarray | None = None) -> Text:
    """A maze from tokens 1..5 ('# SGo'); `path` marks cells to draw as the route (on a wall: `xx`)."""
    n = int(round(len(tokens) ** 0.5))
    grid = np.asarray(tokens).reshape(n, n)
    marks = None if path is None else np.asarray(path).reshape(n, n)
    styles = {"#": "white on grey23", " ": "", "S": "bold green", "G": "bold red", "o": "bold yellow"}
    text = Text()
    for r in range(n):
        for c in range(n):
            ch = MAZE_CHARS[int(grid[r, c]) - 1] if 1 <= grid[r, c] <= 5 else "?"
            if marks is not None and marks[r, c] and ch == " ":
                ch = "o"
            if marks is not None and marks[r, c] and ch == "#":  # a route through a wall: show where
                text.append("xx", style="bold red on grey23")
                continue
            text.append((ch if ch != "#" else "█") * 2, style=styles.get(ch, ""))
        if r < n - 1:
            text.append("\n")
    return text


def arc_text(grid: np.ndarray) -> Text:
    """An ARC grid (colours 0..9) as coloured blocks; digits when colour is unavailable."""
    text = Text()
    for row in np.asarray(grid):
        for v in row:
            v = int(v)
            text.append(f"{v} ", style=f"black on {ARC_PALETTE[v]}" if 0 <= v <= 9 else "")
        text.append("\n")
    text.rstrip()
    return text


def arc_tokens_to_grid(tokens: np.ndarray) -> np.ndarray:
    """Crop a square token canvas (pad 0, EOS 1, colour+2; 30x30 or smaller) to its grid (the reference's crop)."""
    n = int(round(np.asarray(tokens).size ** 0.5))
    canvas = np.asarray(tokens).reshape(n, n)
    best_area, best = 0, (0, 0)
    width = n
    for r in range(n):
        row = canvas[r]
        bad = np.nonzero((row < 2) | (row > 11))[0]
        width = min(width, int(bad[0]) if len(bad) else n)
        area = (r + 1) * width
        if area > best_area:
            best_area, best = area, (r + 1, width)
    h, w = best
    return canvas[:h, :w] - 2


def render_example(kind: str, inputs: np.ndarray, labels: np.ndarray, build: dict[str, Any],
                   prediction: np.ndarray | None = None, titles: tuple[str, ...] | None = None) -> Any:
    """Input and label (and optionally a prediction) side by side for a dataset kind."""
    titles = list(titles or ["puzzle", "solution"] + (["prediction"] if prediction is not None else []))
    rows = [inputs, labels] + ([prediction] if prediction is not None else [])
    if kind == "sudoku":
        box = tuple(build.get("box") or default_box(len(inputs)))
        givens = inputs > 1
        panels = [sudoku_text(np.where(r > 1, r - 1, 0), box, givens,
                              None if t != "prediction" else (r != labels)) for r, t in zip(rows, titles)]
    elif kind == "maze":
        # every answer drawn as its route on the puzzle's own walls ('o' is the path token)
        panels = [maze_text(inputs, path=np.asarray(r) == MAZE_CHARS.index("o") + 1) for r in rows]
    elif kind == "arc":
        panels = [arc_text(arc_tokens_to_grid(np.where(r < 0, 0, r))) for r in rows]
    else:
        n = int(round(len(inputs) ** 0.5))
        panels = [Text("\n".join(" ".join(f"{v:2d}" for v in r.reshape(n, n)[i]) for i in range(n))) for r in rows]
    return Columns([Panel(p, title=t, expand=False) for p, t in zip(panels, titles)])


def default_box(cells: int) -> tuple[int, int]:
    """The Sudoku box (rows, columns) of a grid of `cells` cells: 2x2, 2x3, 3x3, else the whole grid."""
    n = int(round(cells ** 0.5))
    return {4: (2, 2), 6: (2, 3), 9: (3, 3)}.get(n, (n, n))


def group(*items: Any) -> Group:
    return Group(*items)
