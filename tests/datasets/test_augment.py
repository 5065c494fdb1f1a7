"""Test-time transforms: each inverse restores the grid exactly, and valid solutions map to valid solutions."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hrm_datasets.arc import crop, encode
from hrm_datasets.augment import arc_transforms, maze_transforms, sudoku_transforms
from hrm_datasets.maze import generate as generate_maze
from hrm_datasets.maze import shortest_path_label
from hrm_datasets.sudoku import generate as generate_sudoku
from hrm_datasets.verify import verify_maze, verify_sudoku


@pytest.mark.parametrize("n", [4, 6, 9])
def test_sudoku_transforms_invert_and_keep_solutions_valid(n):
    puzzle, solution, _ = generate_sudoku(n, "easy", random.Random(n))
    q, a = puzzle.astype(np.int64) + 1, solution.astype(np.int64) + 1  # tokens: 1 blank, 2..n+1 digits
    transforms = sudoku_transforms(n, 12, seed=n)
    assert np.array_equal(transforms[0].apply(q), q)  # sample 0 is the identity
    moved = 0
    for t in transforms:
        tq, ta = t.apply(q), t.apply(a)
        assert np.array_equal(t.invert(tq), q) and np.array_equal(t.invert(ta), a)
        assert np.array_equal(tq == 1, t.apply(np.where(q == 1, 1, 2)) == 1), "blanks stay blanks"
        assert verify_sudoku(tq, ta).ok, "a transformed solution solves the transformed puzzle"
        moved += not np.array_equal(tq, q)
    assert moved >= 10
    pad = np.zeros(n * n, np.int64)  # pad tokens are never relabelled
    assert all(np.array_equal(t.apply(pad), pad) for t in transforms)


def test_sudoku_6x6_never_transposes_and_9x9_sometimes_does():
    assert not any(t.transpose for t in sudoku_transforms(6, 40))
    assert any(t.transpose for t in sudoku_transforms(9, 40))


def test_maze_dihedral_group_inverts_and_keeps_shortest_paths():
    maze, label, _ = generate_maze(11, 10, np.random.default_rng(3))
    transforms = maze_transforms(11, 32)
    assert [t.tid for t in transforms] == list(range(8))  # repeats would add nothing
    for t in transforms:
        tm, tl = t.apply(maze.reshape(-1)), t.apply(label.reshape(-1))
        assert np.array_equal(t.invert(tm), maze.reshape(-1)) and np.array_equal(t.invert(tl), label.reshape(-1))
        assert verify_maze(tm, tl).ok
        relabelled, _ = shortest_path_label(tm.reshape(11, 11))
        assert np.array_equal(relabelled.reshape(-1), tl)


def test_arc_transforms_invert_on_grids_and_canvases():
    grid = np.random.default_rng(0).integers(0, 10, (3, 5)).astype(np.uint8)
    transforms = arc_transforms(16, seed=1)
    assert len({(t.tid, tuple(t.colour_map)) for t in transforms}) == 16 and transforms[0].tid == 0
    for t in transforms:
        assert t.colour_map[0] == 0
        moved = t.apply(grid)
        assert np.array_equal(t.invert(moved), grid)
        assert np.array_equal(t.invert(crop(encode(moved, moved)[0])), grid)
