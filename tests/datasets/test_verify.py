"""Exact verifiers accept right answers and reject hand-made wrong ones, each with its reason."""

from __future__ import annotations

import random

import numpy as np

from hrm_datasets.maze import CHARSET, PATH, generate, shortest_path_label
from hrm_datasets.sudoku import generate as generate_sudoku
from hrm_datasets.verify import verify, verify_maze, verify_sudoku

# 4x4: tokens are digit + 1, blank 1
PUZZLE = np.array([2, 1, 1, 5, 1, 1, 2, 1, 1, 2, 1, 1, 5, 1, 1, 2])  # 1..4 / ..1. / .1.. / 4..1
SOLUTION = np.array([1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1]) + 1


def test_sudoku_accepts_the_solution():
    assert verify_sudoku(PUZZLE, SOLUTION).ok and verify("sudoku", PUZZLE, SOLUTION).ok


def test_sudoku_rejects_a_repeated_digit():
    wrong = SOLUTION.copy()
    wrong[1] = wrong[2]  # row 1 now holds 3 twice (cell 2 is not a given)
    verdict = verify_sudoku(PUZZLE, wrong)
    assert not verdict.ok and "repeats a digit" in verdict.reason


def test_sudoku_rejects_a_changed_given_even_when_the_grid_is_complete():
    relabelled = np.array([0, 1, 5, 4, 3, 2])[SOLUTION]  # digits 1<->4, 2<->3: still a valid grid
    verdict = verify_sudoku(PUZZLE, relabelled)
    assert not verdict.ok and "given at cell 1 changed" in verdict.reason


def test_sudoku_rejects_blanks_and_box_violations_in_6x6():
    assert "holds no digit" in verify_sudoku(PUZZLE, np.where(PUZZLE == 1, 1, SOLUTION)).reason
    puzzle, solution, _ = generate_sudoku(6, "easy", random.Random(0))
    q, a = puzzle.astype(np.int64) + 1, solution.astype(np.int64) + 1
    assert verify_sudoku(q, a).ok
    grid = a.reshape(6, 6).copy()
    grid[[1, 2]] = grid[[2, 1]]  # rows 2 and 3 swapped across a band: rows and columns fine, boxes not
    blank = np.ones(36, np.int64)
    verdict = verify_sudoku(blank, grid.reshape(-1))
    assert not verdict.ok and verdict.reason.startswith("box")


def _maze(rows: list[str]) -> np.ndarray:
    return np.array([CHARSET.index(ch) + 1 for ch in "".join(rows)])


MAZE = ["#########",
        "#S # G  #",
        "#  #    #",
        "#       #",
        "#       #",
        "#       #",
        "#       #",
        "#       #",
        "#########"]


def _marked(cells: list[tuple[int, int]]) -> np.ndarray:
    grid = _maze(MAZE).reshape(9, 9)
    for r, c in cells:
        grid[r, c] = PATH
    return grid.reshape(-1)


def test_maze_accepts_a_shortest_path():
    label, length = shortest_path_label(_maze(MAZE).reshape(9, 9))
    verdict = verify_maze(_maze(MAZE), label.reshape(-1))
    assert verdict.ok and verdict.shortest and length == 8


def test_maze_rejects_a_path_through_a_wall():
    verdict = verify_maze(_maze(MAZE), _marked([(1, 2), (1, 3), (1, 4)]))
    assert not verdict.ok and "through a wall at row 2, column 4" in verdict.reason


def test_maze_rejects_a_disconnected_path():
    label, _ = shortest_path_label(_maze(MAZE).reshape(9, 9))
    cells = [tuple(x) for x in np.argwhere(label == PATH)]
    gap = _marked(cells[:2] + cells[3:])
    assert not verify_maze(_maze(MAZE), gap).ok
    assert "not one path" in verify_maze(_maze(MAZE), gap).reason
    loop = _marked(cells + [(5, 5), (5, 6), (6, 5), (6, 6)])  # the path plus a separate ring of marks
    verdict = verify_maze(_maze(MAZE), loop)
    assert not verdict.ok and "disconnected" in verdict.reason


def test_maze_rejects_a_path_that_is_not_shortest():
    detour = [(2, 1), (3, 1), (4, 1), (4, 2), (4, 3), (4, 4), (4, 5), (3, 5), (2, 5)]
    verdict = verify_maze(_maze(MAZE), _marked(detour))
    assert not verdict.ok and verdict.shortest is False and "10 steps, the shortest has 8" in verdict.reason


def test_maze_rejects_a_changed_maze_and_stray_marks():
    label, _ = shortest_path_label(_maze(MAZE).reshape(9, 9))
    moved = label.reshape(-1).copy()
    moved[moved == CHARSET.index("G") + 1] = CHARSET.index(" ") + 1
    assert "changes the maze" in verify_maze(_maze(MAZE), moved).reason
    stray = label.copy()
    stray[6, 6] = PATH
    assert "stray mark" in verify_maze(_maze(MAZE), stray.reshape(-1)).reason


def test_generated_perfect_mazes_verify_and_arc_has_no_verifier():
    grid, label, _ = generate(15, 20, np.random.default_rng(2))
    assert verify_maze(grid.reshape(-1), label.reshape(-1)).ok
    assert verify("arc", np.zeros(900), np.zeros(900)) is None
