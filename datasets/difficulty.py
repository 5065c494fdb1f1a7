"""Per-puzzle difficulty beside a split: the side file an easy-to-hard curriculum reads.

    <root>/<split>/<set>__difficulty.npy   int32 [N_groups, 2]: column 0 the rating, column 1 the clue count

One row per group (an original puzzle; its augmentations are the same puzzle relabelled and permuted, so they
share both numbers). The rating is the exact solver's guesses to prove the unique solution (datasets/sudoku.py)
for generated puzzles and plain puzzle lists; a reference CSV keeps its own rating column (Sudoku-Extreme: its
source's backtrack count, another scale; 0 where the file has none). The reference loaders read only their five
arrays per set, so they ignore it; datasets built before it have none (`hrm data build` again writes it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hrm_datasets.errors import DatasetError
from hrm_datasets.files import writing
from hrm_datasets.format import DatasetWriter, load_metadata, load_npy

COLUMNS = ("rating", "clues")


def difficulty_path(root: str | Path, split: str, set_name: str = "all") -> Path:
    return Path(root) / split / f"{set_name}__difficulty.npy"


def difficulty_rows(puzzles: Sequence[tuple[np.ndarray, Any, int]]) -> np.ndarray:
    """[N, 2] int32 (rating, clues) of (puzzle, solution, rating) triples; a blank cell is 0."""
    rows = [(int(rating), int((np.asarray(q) > 0).sum())) for q, _, rating in puzzles]
    return np.array(rows, dtype=np.int32).reshape(len(rows), 2)


def write_difficulty(writer: DatasetWriter, split: str, puzzles: Sequence[tuple[np.ndarray, Any, int]],
                     set_name: str = "all") -> None:
    """The side file of one set, in the dataset being built (the puzzles in group order), staged with the rest."""
    relpath = f"{split}/{set_name}__difficulty.npy"
    with writing(f"dataset {writer.output} ({relpath})", writer.staging):
        (writer.staging / split).mkdir(parents=True, exist_ok=True)
        np.save(writer.staging / relpath, difficulty_rows(puzzles))


def load_difficulty(root: str | Path, split: str = "train") -> np.ndarray:
    """The split's (rating, clues) per group, checked against its dataset.json; DatasetError naming the rebuild
    command where the dataset has none."""
    meta = load_metadata(root, split)
    if len(meta.sets) != 1:
        raise DatasetError(f"{root}/{split}: the curriculum reads one set, found {', '.join(meta.sets)}")
    path = difficulty_path(root, split, meta.sets[0])
    if not path.is_file():
        raise DatasetError(f"curriculum=true needs the per-puzzle difficulty {path}, which this dataset lacks; "
                           f"rebuild it: {rebuild_command(root)} (or set curriculum=false)")
    rows = load_npy(path)
    if rows.ndim != 2 or rows.shape != (meta.total_groups, 2) or rows.dtype.kind not in "iu":
        raise DatasetError(f"{path}: expected integers of shape ({meta.total_groups}, 2) (rating, clues per group), "
                           f"got {rows.dtype} {rows.shape}; rebuild it: {rebuild_command(root)}")
    return rows


def easy_to_hard(rows: np.ndarray) -> np.ndarray:
    """Group indices from easiest to hardest: lower rating first, then more clues; ties keep their order."""
    return np.lexsort((-rows[:, 1].astype(np.int64), rows[:, 0].astype(np.int64)))


def rebuild_command(root: str | Path) -> str:
    """The `hrm data build sudoku` line that builds this dataset again (from its build.json), with the side file."""
    root = Path(root)
    try:
        record = json.loads((root / "build.json").read_text())
    except (OSError, ValueError):
        record = {}
    p = record.get("params") or {}
    if record.get("kind") != "sudoku":
        return f"hrm data build sudoku ... --output {root} --force (a Sudoku build writes the difficulty)"
    if p.get("train_csv"):
        args = [f"--train-csv {p['train_csv']}", f"--test-csv {p['test_csv']}"]
        args += [f"--min-rating {p['min_rating']}"] if p.get("min_rating") is not None else []
    else:
        args = [f"--size {p.get('size', 9)}", f"--difficulty {p.get('difficulty', 'hard')}",
                f"--count {p.get('count', 1000)}", f"--test-count {p.get('test_count', 200)}"]
    if p.get("subsample_size") is not None:
        args.append(f"--subsample-size {p['subsample_size']}")
    args += [f"--num-aug {p.get('num_aug', 0)}", f"--seed {p.get('seed', 0)}"]
    return f"hrm data build sudoku {' '.join(args)} --output {root} --force"
