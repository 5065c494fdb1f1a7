"""Exact verifiers for candidate answers: a checked answer can be trusted, an unchecked one cannot.

Work on token rows as the datasets store them (see build_sudoku.py and maze.py):

- Sudoku: every cell a digit, the givens kept, every row, column and box a permutation of 1..N.
  For a puzzle with a unique solution (every built puzzle) passing means the answer is right.
- Maze: the maze unchanged outside the path marks, marks only on free cells, and S, the marks and
  G forming one chain of 4-neighbours (S and G with one neighbour in it, every mark with two);
  separately, whether the path is a shortest one (its steps equal the BFS distance). `ok` needs
  both: the labels are shortest paths. On a perfect maze (the generator's) the path is unique.
- ARC: no verifier is possible (the rule that maps input to output is what is being guessed);
  `ARC_NOTE` says so, and callers report the vote margin instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrm_datasets.maze import GOAL, OPEN, PATH, START, WALL, bfs
from hrm_datasets.sudoku import BOXES

ARC_NOTE = "ARC has no exact verifier (the task's rule is what the model guesses); the vote margin is the only evidence"


@dataclass(frozen=True)
class Verdict:
    """Whether a candidate passed, and if not the first reason found (for one line of output)."""

    ok: bool
    reason: str = ""
    shortest: bool | None = None  # mazes: the path's length equals the BFS distance


def verify_sudoku(inputs: np.ndarray, candidate: np.ndarray) -> Verdict:
    """A candidate token row (2..N+1 digits) against the puzzle's token row (1 blank, 2..N+1 givens)."""
    inputs, candidate = np.asarray(inputs).reshape(-1), np.asarray(candidate).reshape(-1)
    n = int(round(len(inputs) ** 0.5))
    if n not in BOXES or n * n != len(inputs) or len(candidate) != len(inputs):
        return Verdict(False, f"not an NxN Sudoku of a supported size ({len(inputs)} cells)")
    digits = candidate.astype(np.int64) - 1
    if np.any((digits < 1) | (digits > n)):
        return Verdict(False, f"cell {int(np.argmax((digits < 1) | (digits > n))) + 1} holds no digit")
    givens = inputs >= 2
    changed = givens & (digits != inputs.astype(np.int64) - 1)
    if changed.any():
        return Verdict(False, f"given at cell {int(np.argmax(changed)) + 1} changed")
    grid = digits.reshape(n, n)
    br, bc = BOXES[n]
    units = [("row", r + 1, grid[r]) for r in range(n)] + [("column", c + 1, grid[:, c]) for c in range(n)]
    units += [("box", i + 1, grid[r:r + br, c:c + bc].ravel())
              for i, (r, c) in enumerate((r, c) for r in range(0, n, br) for c in range(0, n, bc))]
    for name, index, unit in units:
        if len(set(unit.tolist())) != n:
            return Verdict(False, f"{name} {index} repeats a digit")
    return Verdict(True)


def verify_maze(inputs: np.ndarray, candidate: np.ndarray) -> Verdict:
    """A candidate token row ('o' marks the path) against the maze's token row ('# SG', no marks)."""
    inputs, candidate = np.asarray(inputs).reshape(-1), np.asarray(candidate).reshape(-1)
    n = int(round(len(inputs) ** 0.5))
    if n * n != len(inputs) or len(candidate) != len(inputs):
        return Verdict(False, f"not a square maze ({len(inputs)} cells)")
    maze, cand = inputs.reshape(n, n), candidate.reshape(n, n)
    if (maze == START).sum() != 1 or (maze == GOAL).sum() != 1:
        return Verdict(False, "the maze needs exactly one start and one goal")
    marks = cand == PATH
    if np.any(marks & (maze == WALL)):
        r, c = np.argwhere(marks & (maze == WALL))[0]
        return Verdict(False, f"the path goes through a wall at row {r + 1}, column {c + 1}")
    if np.any(marks & (maze != OPEN)) or not np.array_equal(np.where(marks, OPEN, cand), maze):
        return Verdict(False, "the answer changes the maze outside the path")
    start = tuple(int(x) for x in np.argwhere(maze == START)[0])
    goal = tuple(int(x) for x in np.argwhere(maze == GOAL)[0])
    chain = marks | (maze == START) | (maze == GOAL)
    padded = np.pad(chain, 1).astype(np.int64)
    degree = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    if degree[start] != 1 or degree[goal] != 1 or np.any(degree[marks] != 2):
        return Verdict(False, "the marked cells are not one path from start to goal (a gap, a branch or a stray mark)")
    walk = np.where(chain, OPEN, WALL)
    steps = bfs(walk, start)
    if steps[goal] < 0 or np.any(steps[chain] < 0):
        return Verdict(False, "the path is disconnected: start and goal are not joined by the marks")
    shortest = int(bfs(maze, start)[goal])
    length = int(marks.sum()) + 1
    if length != shortest:
        return Verdict(False, f"the path has {length} steps, the shortest has {shortest}", shortest=False)
    return Verdict(True, shortest=True)


def verify(kind: str, inputs: np.ndarray, candidate: np.ndarray) -> Verdict | None:
    """The verifier for a puzzle kind; None where none exists (ARC)."""
    if kind == "sudoku":
        return verify_sudoku(inputs, candidate)
    if kind == "maze":
        return verify_maze(inputs, candidate)
    return None
