"""datasets/sudoku_files.py: every puzzle of a user's file checked by the exact solver, answers from it for lists."""

from __future__ import annotations

import random

import numpy as np
import pytest

import hrm_datasets.sudoku_files as sudoku_files
from hrm_datasets.errors import DatasetError
from hrm_datasets.sudoku import generate, solve
from hrm_datasets.sudoku_files import read_puzzle_file


def _text(grid, blank: str = ".") -> str:
    return "".join(str(int(v)) if v else blank for v in grid)


def _no_solution(q: np.ndarray, a: np.ndarray) -> str:
    """The puzzle with one blank filled by a digit that breaks no rule yet is not the solution's: no solution."""
    for i in np.flatnonzero(q == 0):
        for d in range(1, 10):
            if d == a[i]:
                continue
            bad = q.copy()
            bad[i] = d
            try:
                if not solve(bad, 9, limit=1)[0]:
                    return _text(bad)
            except DatasetError:  # d repeats a given
                continue
    raise AssertionError("no such digit")


@pytest.fixture(scope="module")
def puzzles():
    rng = random.Random(3)
    return [generate(9, "medium", rng) for _ in range(6)]


def test_a_list_gets_the_solvers_answers_and_ratings_and_skips_the_rest(tmp_path, puzzles):
    q0, a0, _ = puzzles[0]
    lines = [_text(q, "." if i % 2 else "0") for i, (q, _, _) in enumerate(puzzles)]
    lines += [_no_solution(q0, a0), "." * 81, "11" + "." * 79, f"{_text(q0)},{_text(a0[::-1])}"]
    path = tmp_path / "list.txt"
    path.write_text("\n".join(lines) + "\n")
    got = read_puzzle_file(path)
    assert got.layout == "puzzle list" and got.answers == "exact solver" and got.size == 9
    assert len(got.puzzles) == 6
    for (q, a, _), (gq, ga, rating) in zip(puzzles, got.puzzles):
        assert np.array_equal(gq, q) and np.array_equal(ga, a) and ga.dtype == np.uint8
        assert rating == solve(q, 9, limit=2)[1]  # the solver's guesses
    assert got.skipped == [f"{path}:7: the puzzle has no solution", f"{path}:8: the puzzle has more than one solution",
                           f"{path}:9: the givens repeat a digit in a row, column or box",
                           f"{path}:10: the answer is not the puzzle's solution"]
    assert got.record()["skipped_by_reason"] == {"the puzzle has no solution": 1,
                                                 "the puzzle has more than one solution": 1,
                                                 "the givens repeat a digit in a row, column or box": 1,
                                                 "the answer is not the puzzle's solution": 1}
    low = read_puzzle_file(path, min_rating=max(r for _, _, r in got.puzzles))
    assert 1 <= len(low.puzzles) < 6 and low.below_min_rating == 6 - len(low.puzzles)
    with pytest.raises(DatasetError, match=r"list.txt:7: the puzzle has no solution \(use --on-invalid skip"):
        read_puzzle_file(path, on_invalid="fail")
    with pytest.raises(DatasetError, match=r"list.txt:9: more than 2 puzzles without exactly one solution"):
        read_puzzle_file(path, max_invalid=2)


def test_solving_in_processes_keeps_the_files_order(tmp_path, puzzles, monkeypatch):
    lines = [_text(q) for q, _, _ in puzzles] * 5 + ["." * 81]
    path = tmp_path / "many.txt"
    path.write_text("\n".join(lines) + "\n")
    alone = read_puzzle_file(path)
    monkeypatch.setattr(sudoku_files, "PARALLEL_FROM", 4)
    monkeypatch.setattr(sudoku_files, "CHUNK", 3)
    monkeypatch.setattr(sudoku_files, "BLOCK", 7)
    spread = read_puzzle_file(path)
    assert len(spread.puzzles) == 30 and spread.skipped == [f"{path}:31: the puzzle has more than one solution"]
    for (q, a, r), (sq, sa, sr) in zip(alone.puzzles, spread.puzzles):
        assert np.array_equal(q, sq) and np.array_equal(a, sa) and r == sr
