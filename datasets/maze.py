"""Mazes: a generator of perfect mazes with a hardness filter, BFS labels, CSV import, dihedral augmentation.

Characters as the reference (`# SGo` -> tokens 1..5): '#' wall, ' ' open, 'S' start, 'G' goal,
'o' the shortest path (labels only). Generated mazes are *perfect* (a random spanning tree over a
lattice of cells), so the shortest path is the only path and every label is unambiguous;
"hard" keeps mazes whose shortest path has at least `min_path_length` steps, as the
reference's maze-30x30-hard set filters on path length.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np

from hrm_datasets.csvfile import csv_rows
from hrm_datasets.errors import DatasetError

CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = (CHARSET.index(c) + 1 for c in CHARSET)
DIHEDRAL_INVERSE = [0, 3, 2, 1, 4, 5, 6, 7]


def dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """The 8 symmetries of the square, numbered as the reference's `dihedral_transform`."""
    ops = {
        0: lambda a: a, 1: lambda a: np.rot90(a, 1), 2: lambda a: np.rot90(a, 2), 3: lambda a: np.rot90(a, 3),
        4: np.fliplr, 5: np.flipud, 6: lambda a: a.T, 7: lambda a: np.fliplr(np.rot90(a, 1)),
    }
    return np.ascontiguousarray(ops[tid](grid))


def carve(n: int, rng: np.random.Generator) -> np.ndarray:
    """An n x n grid of tokens: a perfect maze carved by randomised depth-first search."""
    grid = np.full((n, n), WALL, np.uint8)
    cells = (n - 1) // 2  # lattice cells at odd coordinates 1, 3, ..., leaving a wall border
    if cells < 2:
        raise DatasetError(f"maze size {n} is too small; use at least 5")
    seen = np.zeros((cells, cells), bool)
    stack = [(int(rng.integers(cells)), int(rng.integers(cells)))]
    seen[stack[0]] = True
    grid[2 * stack[0][0] + 1, 2 * stack[0][1] + 1] = OPEN
    while stack:
        r, c = stack[-1]
        nbrs = [(r + dr, c + dc) for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0))
                if 0 <= r + dr < cells and 0 <= c + dc < cells and not seen[r + dr, c + dc]]
        if not nbrs:
            stack.pop()
            continue
        nr, nc = nbrs[int(rng.integers(len(nbrs)))]
        seen[nr, nc] = True
        grid[2 * nr + 1, 2 * nc + 1] = OPEN
        grid[r + nr + 1, c + nc + 1] = OPEN  # the wall between them
        stack.append((nr, nc))
    return grid


def bfs(grid: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """Steps from `start` to every reachable non-wall cell (-1 where unreachable)."""
    n, m = grid.shape
    dist = np.full((n, m), -1, np.int32)
    dist[start] = 0
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < n and 0 <= nc < m and dist[nr, nc] < 0 and grid[nr, nc] != WALL:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def shortest_path_label(grid: np.ndarray) -> tuple[np.ndarray, int]:
    """The label (path cells marked PATH) and the path length in steps; S and G must be present."""
    start, goal = _find(grid, START), _find(grid, GOAL)
    dist = bfs(grid, start)
    if dist[goal] < 0:
        raise DatasetError("the goal cannot be reached from the start")
    label = grid.copy()
    r, c = goal
    while (r, c) != start:  # walk back along decreasing distance
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < grid.shape[0] and 0 <= nc < grid.shape[1] and dist[nr, nc] == dist[r, c] - 1:
                r, c = nr, nc
                break
        if (r, c) != start:
            label[r, c] = PATH
    return label, int(dist[goal])


def _find(grid: np.ndarray, token: int) -> tuple[int, int]:
    where = np.argwhere(grid == token)
    if len(where) != 1:
        raise DatasetError(f"a maze needs exactly one {CHARSET[token - 1]!r}, found {len(where)}")
    return int(where[0][0]), int(where[0][1])


def check_label(inputs: np.ndarray, label: np.ndarray) -> str | None:
    """None if `label` marks a shortest S->G path on `inputs`, else what is wrong."""
    if not np.array_equal(np.where(label == PATH, OPEN, label), inputs):
        return "the label differs from the maze outside the path"
    try:
        _, length = shortest_path_label(inputs)
    except DatasetError as exc:
        return str(exc)
    cells = np.argwhere(label == PATH)
    if len(cells) != length - 1:
        return f"the marked path has {len(cells) + 1} steps, the shortest has {length}"
    walkable = np.where(label == PATH, OPEN, WALL).astype(np.uint8)
    walkable[label == START], walkable[label == GOAL] = START, GOAL
    if bfs(walkable, _find(label, START))[_find(label, GOAL)] != length:
        return "the marked cells do not connect start to goal"
    return None


def generate(n: int, min_path_length: int, rng: np.random.Generator, max_tries: int = 200
             ) -> tuple[np.ndarray, np.ndarray, int]:
    """(maze, label, path length) with a path of at least `min_path_length` steps."""
    best = None
    for _ in range(max_tries):
        grid = carve(n, rng)
        open_cells = np.argwhere(grid == OPEN)
        s = tuple(open_cells[rng.integers(len(open_cells))])
        dist = bfs(grid, s)
        far = np.argwhere(dist >= min_path_length)
        if len(far):
            g = tuple(far[rng.integers(len(far))])
        else:
            g = tuple(np.unravel_index(int(np.argmax(dist)), dist.shape))
            if best is None or dist[g] > best:
                best = int(dist[g])
            continue
        grid[s], grid[g] = START, GOAL
        label, length = shortest_path_label(grid)
        return grid, label, length
    raise DatasetError(f"no {n}x{n} maze reached a path of {min_path_length} steps (longest seen {best}); "
                       "lower --min-path-length")


def parse_rows(text: str, where: str) -> np.ndarray:
    """A maze from text rows in the charset; every row the same length, a square grid."""
    rows = [r for r in text.splitlines() if r]
    if not rows or any(len(r) != len(rows[0]) for r in rows) or len(rows) != len(rows[0]):
        raise DatasetError(f"{where}: a maze must be a square of equal-length rows")
    bad = sorted({ch for r in rows for ch in r} - set(CHARSET))
    if bad:
        raise DatasetError(f"{where}: characters {''.join(bad)!r} are not in the maze charset {CHARSET!r}")
    return np.array([[CHARSET.index(ch) + 1 for ch in r] for r in rows], np.uint8)


def read_csv(path: Path, on_invalid: str) -> tuple[list[tuple[np.ndarray, np.ndarray, int]], list[str]]:
    """Rows source,question,answer,rating (N*N characters each) whose answer is a shortest path."""
    out, skipped = [], []
    lines = csv_rows(path)  # UTF-8 line by line: a bad byte, a NUL or a broken quote is one line with its number
    if next(lines, None) is None:
        raise DatasetError(f"{path}: the file is empty; expected a header source,question,answer,rating")
    size = None
    for line, fields in lines:
        if not fields:
            continue
        if len(fields) < 3:
            raise DatasetError(f"{path}:{line}: expected source,question,answer,rating")
        q, a = fields[1], fields[2]
        n = int(round(len(q) ** 0.5))
        if n * n != len(q) or len(a) != len(q):
            raise DatasetError(f"{path}:{line}: question and answer must be the same square length, got {len(q)}/{len(a)}")
        if size not in (None, n):
            raise DatasetError(f"{path}:{line}: a {n}x{n} maze in a file of {size}x{size} mazes")
        size = n
        grid = parse_rows("\n".join(q[i:i + n] for i in range(0, len(q), n)), f"{path}:{line}")
        label = parse_rows("\n".join(a[i:i + n] for i in range(0, len(a), n)), f"{path}:{line}")
        problem = check_label(grid, label)
        if problem:
            if on_invalid == "fail":
                raise DatasetError(f"{path}:{line}: {problem} (use --on-invalid skip to drop such rows)")
            skipped.append(f"{path}:{line}: {problem}")
            continue
        out.append((grid, label, int((label == PATH).sum()) + 1))
    if not out:
        raise DatasetError(f"{path}: no valid maze rows")
    return out, skipped
