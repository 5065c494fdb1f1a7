"""Invertible test-time transforms on token rows: Sudoku symmetries, the maze's dihedral group, ARC's.

A transform maps a puzzle's tokens to an equivalent puzzle whose solution is the transformed
solution; `invert` maps a prediction for the transformed puzzle back onto the original. Voting over
several transformed copies then pools evidence that one forward pass lacks.

- Sudoku (tokens 0 pad, 1 blank, 2..N+1 digits): relabel the digits (pad and blank stay), transpose
  (square boxes only: 2x3 boxes do not survive it), permute the rows within each band and the bands,
  likewise the columns within each stack and the stacks. The group is large (3,072 for 4x4), so
  samples are random draws.
- Maze: the 8 symmetries of the square (`hrm_datasets.maze.dihedral`), tokens unchanged.
- ARC: a dihedral transform of the colours' permutation (0 fixed), as the builder augments.

Sample 0 is always the identity, so K = 1 is exactly the plain forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrm_datasets.errors import DatasetError
from hrm_datasets.maze import DIHEDRAL_INVERSE, dihedral
from hrm_datasets.sudoku import BOXES


@dataclass(frozen=True)
class SudokuTransform:
    """new[i, j] = token_map[(old or old.T)[row_perm[i], col_perm[j]]] on an n x n grid of tokens."""

    n: int
    token_map: np.ndarray  # [n + 2]: 0 and 1 fixed, digit tokens permuted
    transpose: bool
    row_perm: np.ndarray
    col_perm: np.ndarray

    def apply(self, tokens: np.ndarray) -> np.ndarray:
        grid = np.asarray(tokens).reshape(self.n, self.n)
        if self.transpose:
            grid = grid.T
        return self.token_map[grid[self.row_perm][:, self.col_perm]].reshape(-1)

    def invert(self, tokens: np.ndarray) -> np.ndarray:
        moved = np.argsort(self.token_map)[np.asarray(tokens).reshape(self.n, self.n)]
        grid = np.empty_like(moved)
        grid[np.ix_(self.row_perm, self.col_perm)] = moved
        return (grid.T if self.transpose else grid).reshape(-1)


@dataclass(frozen=True)
class DihedralTransform:
    """One of the 8 square symmetries (the reference's tid numbering) on an n x n grid of tokens."""

    n: int
    tid: int

    def apply(self, tokens: np.ndarray) -> np.ndarray:
        return dihedral(np.asarray(tokens).reshape(self.n, self.n), self.tid).reshape(-1)

    def invert(self, tokens: np.ndarray) -> np.ndarray:
        return dihedral(np.asarray(tokens).reshape(self.n, self.n), DIHEDRAL_INVERSE[self.tid]).reshape(-1)


@dataclass(frozen=True)
class ArcTransform:
    """dihedral(colour_map[grid], tid) on an ARC colour grid (not a canvas); colour 0 stays 0."""

    tid: int
    colour_map: np.ndarray  # [10]

    def apply(self, grid: np.ndarray) -> np.ndarray:
        return dihedral(self.colour_map[np.asarray(grid)], self.tid).astype(np.uint8)

    def invert(self, grid: np.ndarray) -> np.ndarray:
        from hrm_datasets.arc import inverse_transform

        return inverse_transform(grid, self.tid, self.colour_map)


def sudoku_identity(n: int) -> SudokuTransform:
    return SudokuTransform(n, np.arange(n + 2), False, np.arange(n), np.arange(n))


def random_sudoku_transform(n: int, rng: np.random.Generator) -> SudokuTransform:
    """A uniform draw from the validity-preserving group for n x n Sudoku with its box shape."""
    if n not in BOXES:
        raise DatasetError(f"unsupported Sudoku size {n}; use 4, 6 or 9")
    br, bc = BOXES[n]
    token_map = np.concatenate([[0, 1], 1 + rng.permutation(np.arange(1, n + 1))])
    transpose = br == bc and bool(rng.random() < 0.5)
    row_perm = np.concatenate([b * br + rng.permutation(br) for b in rng.permutation(n // br)])
    col_perm = np.concatenate([s * bc + rng.permutation(bc) for s in rng.permutation(n // bc)])
    return SudokuTransform(n, token_map, transpose, row_perm, col_perm)


def sudoku_transforms(n: int, k: int, seed: int = 0) -> list[SudokuTransform]:
    """k transforms: the identity, then k - 1 random draws (seeded, so runs repeat)."""
    rng = np.random.default_rng(seed)
    return [sudoku_identity(n)] + [random_sudoku_transform(n, rng) for _ in range(k - 1)]


def maze_transforms(n: int, k: int) -> list[DihedralTransform]:
    """The first min(k, 8) dihedral transforms: the model is deterministic, so repeats add nothing."""
    return [DihedralTransform(n, tid) for tid in range(min(k, 8))]


def arc_transforms(k: int, seed: int = 0) -> list[ArcTransform]:
    """k distinct (tid, colour map) pairs, the identity first; colour 0 (background) stays fixed."""
    rng = np.random.default_rng(seed)
    out = [ArcTransform(0, np.arange(10))]
    seen = {(0, tuple(range(10)))}
    for _ in range(50 * k):
        if len(out) >= k:
            break
        tid = int(rng.integers(8))
        cmap = np.concatenate([[0], rng.permutation(np.arange(1, 10))])
        if (tid, tuple(cmap)) not in seen:
            seen.add((tid, tuple(cmap)))
            out.append(ArcTransform(tid, cmap))
    return out
