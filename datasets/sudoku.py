"""Sudoku: an exact solver, a unique-solution generator with a difficulty knob, and augmentation.

Grids are N x N with boxes of `box = (rows, cols)`: 4x4 (2x2), 6x6 (2x3), 9x9 (3x3). Cells hold
0 for blank and 1..N for digits. The solver is a bitmask depth-first search that always branches
on the cell with the fewest candidates; it counts solutions up to a limit (2 proves uniqueness)
and reports its effort (`nodes`: cells it had to guess on), which is the difficulty *rating*:
"hard" means hard for a solver (as Sudoku-Extreme rates its puzzles), not just few clues.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from hrm_datasets.errors import DatasetError

BOXES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}

# Clue-count target as a fraction of cells, and the minimum rating (solver guesses) per grid size.
# "hard"/"extreme" remove clues until none can go (a minimal puzzle) and then require a rating.
# Measured on minimal 9x9 puzzles: ratings spread from 3 to thousands, median about 50; 4x4
# puzzles never need a guess, so there "hard" means minimal.
DIFFICULTIES = {
    "easy": {"clue_fraction": 0.50, "min_rating": {4: 0, 6: 0, 9: 0}},
    "medium": {"clue_fraction": 0.38, "min_rating": {4: 0, 6: 0, 9: 0}},
    "hard": {"clue_fraction": 0.0, "min_rating": {4: 0, 6: 1, 9: 20}},
    "extreme": {"clue_fraction": 0.0, "min_rating": {4: 0, 6: 3, 9: 100}},
}


@dataclass(frozen=True)
class Geometry:
    """Cell peers and unit membership for one grid size."""

    n: int
    box: tuple[int, int]

    @property
    def cells(self) -> int:
        return self.n * self.n

    def box_of(self, r: int, c: int) -> int:
        br, bc = self.box
        return (r // br) * (self.n // bc) + c // bc


_GEOMS: dict[int, tuple[Geometry, list[tuple[int, int, int]]]] = {}


def geometry(n: int) -> tuple[Geometry, list[tuple[int, int, int]]]:
    """(Geometry, [(row, col, box) per cell]) for an N x N grid; N in 4, 6, 9."""
    if n not in BOXES:
        raise DatasetError(f"unsupported Sudoku size {n}; use 4, 6 or 9")
    if n not in _GEOMS:
        g = Geometry(n, BOXES[n])
        _GEOMS[n] = (g, [(i // n, i % n, g.box_of(i // n, i % n)) for i in range(n * n)])
    return _GEOMS[n]


def solve(grid: list[int] | np.ndarray, n: int, limit: int = 2, rng: random.Random | None = None
          ) -> tuple[list[list[int]], int]:
    """Up to `limit` solutions of `grid` (flat, 0 = blank) and the number of guesses made.

    With `rng`, candidate digits are tried in random order (used to make random full grids).
    Raises DatasetError if the givens already conflict.
    """
    g, units = geometry(n)
    full = (1 << (n + 1)) - 2  # bits 1..n
    rows, cols, boxes = [0] * n, [0] * n, [0] * n
    cells = [int(v) for v in grid]
    empty = []
    for i, v in enumerate(cells):
        r, c, b = units[i]
        if v:
            bit = 1 << v
            if rows[r] & bit or cols[c] & bit or boxes[b] & bit:
                raise DatasetError("the givens repeat a digit in a row, column or box")
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
        else:
            empty.append(i)
    solutions: list[list[int]] = []
    nodes = 0

    def search() -> bool:
        nonlocal nodes
        best, best_mask, best_count = -1, 0, n + 1
        for i in empty:
            if cells[i]:
                continue
            r, c, b = units[i]
            mask = full & ~(rows[r] | cols[c] | boxes[b])
            count = bin(mask).count("1")
            if count < best_count:
                best, best_mask, best_count = i, mask, count
                if count <= 1:
                    break
        if best < 0:
            solutions.append(cells.copy())
            return len(solutions) >= limit
        if best_count == 0:
            return False
        if best_count > 1:
            nodes += 1
        r, c, b = units[best]
        digits = [d for d in range(1, n + 1) if best_mask >> d & 1]
        if rng is not None:
            rng.shuffle(digits)
        for d in digits:
            bit = 1 << d
            cells[best] = d
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
            done = search()
            rows[r] ^= bit
            cols[c] ^= bit
            boxes[b] ^= bit
            cells[best] = 0
            if done:
                return True
        return False

    search()
    return solutions, nodes


def rating(puzzle: list[int] | np.ndarray, n: int) -> int:
    """Solver effort to prove the unique solution: guesses made while counting to 2 solutions."""
    return solve(puzzle, n, limit=2)[1]


def is_valid_solution(solution: np.ndarray, n: int) -> bool:
    """Every row, column and box holds 1..n exactly once."""
    g, _ = geometry(n)
    grid = np.asarray(solution).reshape(n, n)
    want = set(range(1, n + 1))
    br, bc = g.box
    units = [grid[r] for r in range(n)] + [grid[:, c] for c in range(n)]
    units += [grid[r:r + br, c:c + bc].ravel() for r in range(0, n, br) for c in range(0, n, bc)]
    return all(set(int(x) for x in u) == want for u in units)


def generate(n: int, difficulty: str, rng: random.Random) -> tuple[np.ndarray, np.ndarray, int]:
    """(puzzle, solution, rating) with a unique solution, as flat uint8 arrays."""
    if difficulty not in DIFFICULTIES:
        raise DatasetError(f"unknown difficulty {difficulty!r}; use {', '.join(DIFFICULTIES)}")
    spec = DIFFICULTIES[difficulty]
    target = int(round(spec["clue_fraction"] * n * n))
    for _attempt in range(200):
        solution = solve([0] * (n * n), n, limit=1, rng=rng)[0][0]
        puzzle = solution.copy()
        order = list(range(n * n))
        rng.shuffle(order)
        clues = n * n
        for i in order:
            if clues <= target:
                break
            keep = puzzle[i]
            puzzle[i] = 0
            if len(solve(puzzle, n, limit=2)[0]) != 1:
                puzzle[i] = keep
            else:
                clues -= 1
        score = rating(puzzle, n)
        if score >= spec["min_rating"][n]:
            return np.array(puzzle, np.uint8), np.array(solution, np.uint8), score
    raise DatasetError(f"could not generate a {difficulty} {n}x{n} puzzle; this size may not reach that rating")


def _generate_chunk(args: tuple[int, str, int, int]) -> list[tuple[np.ndarray, np.ndarray, int]]:
    n, difficulty, seed, count = args
    rng = random.Random(seed)
    return [generate(n, difficulty, rng) for _ in range(count)]


def generate_many(n: int, difficulty: str, count: int, seed: int, workers: int = 0,
                  on_progress=None) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """`count` puzzles, deterministic for a seed whatever the number of worker processes."""
    import multiprocessing as mp
    import os

    chunk = 25
    jobs = [(n, difficulty, seed * 100_003 + k, min(chunk, count - k * chunk)) for k in range(-(-count // chunk))]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    out: list[tuple[np.ndarray, np.ndarray, int]] = []
    if workers <= 1 or len(jobs) == 1:
        for job in jobs:
            out += _generate_chunk(job)
            if on_progress:
                on_progress(len(out))
        return out
    with mp.get_context("fork").Pool(workers) as pool:
        for part in pool.imap(_generate_chunk, jobs):
            out += part
            if on_progress:
                on_progress(len(out))
    return out


def shuffle_sudoku(puzzle: np.ndarray, solution: np.ndarray, n: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The reference's validity-preserving augmentation, generalised to rectangular boxes.

    Digits permuted; transposed with p = 1/2 (square boxes only: transposing 2x3 boxes breaks
    them); bands and rows within each band shuffled; likewise stacks and columns.
    """
    g, _ = geometry(n)
    br, bc = g.box
    mapping = np.concatenate([[0], rng.permutation(np.arange(1, n + 1))]).astype(np.uint8)
    transpose = br == bc and rng.random() < 0.5
    bands = rng.permutation(n // br)
    row_perm = np.concatenate([b * br + rng.permutation(br) for b in bands])
    stacks = rng.permutation(n // bc)
    col_perm = np.concatenate([s * bc + rng.permutation(bc) for s in stacks])

    def apply(x: np.ndarray) -> np.ndarray:
        grid = x.reshape(n, n)
        if transpose:
            grid = grid.T
        return mapping[grid[row_perm][:, col_perm]].reshape(-1)

    return apply(puzzle), apply(solution)


CELLS = "0123456789."  # ASCII only: str.isdigit() also accepts '١' (Arabic-Indic one) and '²', which int() reads or refuses
SEPARATORS = frozenset("|+-=_,;:'\"[](){}")  # drawn grids and lists of rows; whitespace and U+2500..U+257F too


def _is_separator(ch: str) -> bool:
    return ch.isspace() or ch in SEPARATORS or "\u2500" <= ch <= "\u257f"


def _where_in(text: str, index: int) -> str:
    """`position N` in one-line text, `line L, column C` in text of several lines (both counted from 1)."""
    if "\n" not in text:
        return f"position {index + 1}"
    line, column = text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)
    return f"line {line}, column {column}"


def parse_grid(text: str, where: str) -> tuple[np.ndarray, int]:
    """A puzzle string: N*N cells, each an ASCII digit ('0' or '.' blank); whitespace and box-drawing ignored.

    Any other character (a letter, a non-ASCII digit such as '١' or '²') is refused, named with its position.
    """
    chars = []
    for i, ch in enumerate(text):
        if ch in CELLS:
            chars.append(ch)
        elif not _is_separator(ch):
            shown = f"'{ch}'" if ch.isprintable() else ascii(ch)
            raise DatasetError(f"{where}: character {shown} (U+{ord(ch):04X}) at {_where_in(text, i)} is not a "
                               f"Sudoku cell; use the ASCII digits 0-9 and '.' (0 and '.' are blanks)")
    size = len(chars)
    n = int(round(size ** 0.5))
    if n * n != size or n not in BOXES:
        raise DatasetError(f"{where}: {size} cells is not a 4x4, 6x6 or 9x9 Sudoku (need 16, 36 or 81)")
    values = np.array([0 if ch == "." else int(ch) for ch in chars], np.uint8)
    if values.max() > n:
        bad = int(np.argmax(values > n))
        raise DatasetError(f"{where}: digit {values[bad]} at cell {bad + 1} is out of range 1..{n} for a {n}x{n} grid")
    return values, n
