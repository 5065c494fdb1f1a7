"""Solver, generator and augmentation: every puzzle has exactly one solution, and it is the label."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hrm_datasets.errors import DatasetError
from hrm_datasets.sudoku import generate, is_valid_solution, parse_grid, rating, shuffle_sudoku, solve

EXTREME = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."  # a famous hard one


def test_solver_finds_the_unique_solution_of_a_hard_9x9():
    grid, n = parse_grid(EXTREME, "test")
    solutions, nodes = solve(grid, n, limit=2)
    assert len(solutions) == 1 and is_valid_solution(np.array(solutions[0]), 9)
    assert nodes > 20  # it had to search: hard for a solver


def test_solver_counts_multiple_solutions_and_rejects_conflicts():
    assert len(solve([0] * 16, 4, limit=2)[0]) == 2
    with pytest.raises(DatasetError, match="repeat"):
        solve([1, 1] + [0] * 14, 4)


@pytest.mark.parametrize("n", [4, 6, 9])
@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_generated_puzzles_are_unique_and_consistent(n, difficulty):
    rng = random.Random(n)
    for _ in range(3 if n == 9 else 10):
        puzzle, solution, score = generate(n, difficulty, rng)
        solutions, _ = solve(puzzle, n, limit=2)
        assert len(solutions) == 1 and np.array_equal(np.array(solutions[0]), solution)
        assert is_valid_solution(solution, n)
        givens = puzzle > 0
        assert np.array_equal(puzzle[givens], solution[givens])
        assert score == rating(puzzle, n)


def test_hard_means_fewer_clues_and_more_search_than_easy():
    rng = random.Random(1)
    easy = [generate(9, "easy", rng) for _ in range(3)]
    hard = [generate(9, "hard", rng) for _ in range(3)]
    assert max((p > 0).sum() for p, _, _ in hard) < min((p > 0).sum() for p, _, _ in easy)
    assert min(r for _, _, r in hard) >= 20 > max(r for _, _, r in easy)


@pytest.mark.parametrize("n", [4, 6, 9])
def test_augmentation_keeps_a_valid_puzzle_with_its_unique_solution(n):
    rng = random.Random(0)
    nrng = np.random.default_rng(0)
    puzzle, solution, _ = generate(n, "medium", rng)
    for _ in range(20):
        aq, aa = shuffle_sudoku(puzzle, solution, n, nrng)
        assert is_valid_solution(aa, n)
        solutions, _ = solve(aq, n, limit=2)
        assert len(solutions) == 1 and np.array_equal(np.array(solutions[0]), aa)
        assert (aq > 0).sum() == (puzzle > 0).sum()


def test_parse_grid_accepts_dots_zeros_and_box_drawing_and_rejects_bad_sizes():
    grid, n = parse_grid("1.3.|..1.\n.1..|2..0", "x")
    assert n == 4 and grid.tolist()[:4] == [1, 0, 3, 0]
    with pytest.raises(DatasetError, match="not a 4x4"):
        parse_grid("123", "x")
    with pytest.raises(DatasetError, match="out of range"):
        parse_grid("5" + "." * 15, "x")
