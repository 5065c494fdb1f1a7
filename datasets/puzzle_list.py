"""Plain Sudoku puzzle lists, the way puzzle sets are published: one puzzle a line, usually no answers.

    # comment lines and blank lines are skipped
    4.....8.5.3..........7......2.....6.....8.4......1.......6.3.7.5..2.....1.4......
    000000010400000000020000000000050407008000300001090000300400200050100000000806000   a note
    quizzes,solutions                            an optional first line naming the columns
    <81 cells>,<81 digits>                       a solution column (checked against the exact solver)

A puzzle is 81 characters (16 or 36 for 4x4 and 6x6): the ASCII digits, '.' or '0' for a blank. After it,
separated by whitespace, ',' or ';', may come a solution of the same length (a field of cells at least half
the puzzle's length is read as one), then anything (a rating, a note). The layout of a file is told by its
first line that is neither blank nor a comment: a puzzle (or a line mostly of cells), or a header whose first
column names puzzles, makes it a list; anything else is read as the reference CSV.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from hrm_datasets.csvfile import text_lines
from hrm_datasets.errors import DatasetError

SIZES = {16: 4, 36: 6, 81: 9}  # cells per line -> grid side
CELLS = frozenset("0123456789.")
HEADER_NAMES = frozenset({"puzzle", "puzzles", "quiz", "quizzes", "question", "questions", "sudoku", "grid"})
LINE_FORMAT = "one puzzle a line: 81 characters (16 or 36 for 4x4, 6x6), the digits with '.' or '0' for blanks"
_FIELD = re.compile(r"[^\s,;]+")


@dataclass(frozen=True)
class ListedPuzzle:
    """One puzzle line: its number, the flat grid (0 = blank), the solution column if any, the grid side."""

    line: int
    puzzle: np.ndarray
    solution: np.ndarray | None
    size: int


def _fields(text: str) -> list[re.Match]:
    """The line's fields up to a comment; none for a blank or comment line."""
    fields = []
    for match in _FIELD.finditer(text):
        if match.group().startswith("#"):
            break
        fields.append(match)
    return fields


def _is_cells(text: str) -> bool:
    return bool(text) and all(ch in CELLS for ch in text)


def _looks_like_puzzle(text: str) -> bool:
    """Cells only, or a puzzle's length mostly of cells (a typo there is then named by its column)."""
    return _is_cells(text) or (len(text) >= min(SIZES) and 2 * sum(ch in CELLS for ch in text) >= len(text))


def is_puzzle_list(path: Path) -> bool:
    """Whether `path` is a plain puzzle list (else the reference CSV); a file with no puzzle line is refused."""
    empty, lines = True, text_lines(path)
    try:
        for _, text in lines:
            empty = False
            fields = _fields(text)
            if fields:
                first = fields[0].group()
                return _looks_like_puzzle(first) or first.lower() in HEADER_NAMES
    finally:
        lines.close()
    what = "the file is empty" if empty else "only blank and comment lines"
    raise DatasetError(f"{path}: {what}; expected {LINE_FORMAT}, or the reference CSV with a header source,q,a,rating")


def _grid(field: re.Match, where: str, what: str) -> np.ndarray:
    """The cells of one field; a bad character or length names its column."""
    text = field.group()
    for i, ch in enumerate(text):
        if ch not in CELLS:
            shown = f"'{ch}'" if ch.isprintable() else ascii(ch)
            raise DatasetError(f"{where}: character {shown} at column {field.start() + i + 1} of the {what} is not "
                               f"a Sudoku cell; expected {LINE_FORMAT}")
    if len(text) not in SIZES:
        raise DatasetError(f"{where}: the {what} has {len(text)} cells, not 81 (or 16, 36); expected {LINE_FORMAT}")
    n = SIZES[len(text)]
    values = np.frombuffer(text.replace(".", "0").encode("ascii"), np.uint8) - ord("0")
    if values.max() > n:
        bad = int(np.argmax(values > n))
        raise DatasetError(f"{where}: digit {values[bad]} at column {field.start() + bad + 1} is out of range 1..{n} "
                           f"for a {n}x{n} puzzle")
    return values.astype(np.uint8)


def list_puzzles(path: Path) -> Iterator[ListedPuzzle]:
    """Every puzzle line of a plain list, checked for form only (the solver checks the rest); one line per problem."""
    size, first_line, header_allowed = None, 0, True
    for line, text in text_lines(path):
        fields = _fields(text)
        if not fields:
            continue
        if header_allowed and fields[0].group().lower() in HEADER_NAMES:
            header_allowed = False
            continue
        header_allowed = False
        where = f"{path}:{line}"
        puzzle = _grid(fields[0], where, "puzzle")
        n = SIZES[len(puzzle)]
        if size is None:
            size, first_line = n, line
        elif n != size:
            raise DatasetError(f"{where}: a {n}x{n} puzzle in a list of {size}x{size} puzzles (line {first_line}); "
                               f"one file holds one grid size")
        solution = None
        if len(fields) > 1 and _is_cells(fields[1].group()) and 2 * len(fields[1].group()) >= len(puzzle):
            solution = _grid(fields[1], where, "solution column")
            if len(solution) != len(puzzle) or not solution.all():
                raise DatasetError(f"{where}: the solution column must be a complete {n}x{n} grid ({n * n} digits "
                                   f"1..{n}); drop the column to have the exact solver answer")
        yield ListedPuzzle(line, puzzle, solution, n)
