"""Build a Sudoku dataset in the reference format, from the built-in generator or reference CSVs.

Tokens as the reference: 0 pad, 1 blank, 2..N+1 the digits 1..N (digit + 1); vocab N + 2;
seq_len N*N; every cell is supervised (ignore_label_id 0 never occurs); one puzzle identifier
(0, "<blank>"); every example is its own puzzle; a group is an original and its augmentations.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from hrm_datasets.csvfile import csv_rows
from hrm_datasets.errors import DatasetError
from hrm_datasets.format import DatasetMetadata, DatasetWriter, SplitArrays
from hrm_datasets.sudoku import BOXES, generate_many, parse_grid, shuffle_sudoku, solve

Progress = Callable[[str, int, int], None]  # (phase, done, total)


def read_csv(path: Path, on_invalid: str = "skip", min_rating: int | None = None
             ) -> tuple[list[tuple[np.ndarray, np.ndarray, int]], list[str], int]:
    """Rows of a reference CSV (source,q,a,rating) whose answer is the puzzle's unique solution.

    Returns (puzzles, skipped-row messages, grid size). `on_invalid="fail"` raises on the first bad row.
    """
    rows, skipped, size = [], [], None
    lines = csv_rows(path)  # UTF-8 line by line: a bad byte, a NUL or a broken quote is one line with its number
    _, header = next(lines, (0, None))
    if header is None:
        raise DatasetError(f"{path}: the file is empty; expected a header source,q,a,rating")
    if len(header) < 3 or header[1].strip().lower() not in ("q", "question", "puzzle"):
        raise DatasetError(f"{path}:1: expected a header source,q,a,rating (the reference layout), got {','.join(header)[:60]!r}")
    for line, fields in lines:
        if not fields or all(not f.strip() for f in fields):
            continue
        where = f"{path}:{line}"
        if len(fields) < 3:
            raise DatasetError(f"{where}: expected source,q,a,rating, got {len(fields)} fields")
        q, n = parse_grid(fields[1], where)
        a, n_a = parse_grid(fields[2], where)
        if n_a != n or (a == 0).any():
            raise DatasetError(f"{where}: the answer must be a complete {n}x{n} grid")
        if size is None:
            size = n
        elif n != size:
            raise DatasetError(f"{where}: a {n}x{n} grid in a file of {size}x{size} grids")
        try:
            rating = int(float(fields[3])) if len(fields) > 3 and fields[3].strip() else 0
        except (ValueError, OverflowError):
            raise DatasetError(f"{where}: the rating {fields[3]!r} is not a number") from None
        if min_rating is not None and rating < min_rating:
            continue
        problem = None
        try:
            solutions, _ = solve(q, n, limit=2)
        except DatasetError as exc:
            solutions, problem = [], str(exc)
        if problem is None and len(solutions) != 1:
            problem = "the puzzle has no solution" if not solutions else "the puzzle has more than one solution"
        elif problem is None and not np.array_equal(np.array(solutions[0], np.uint8), a):
            problem = "the answer is not the puzzle's solution"
        if problem:
            if on_invalid == "fail":
                raise DatasetError(f"{where}: {problem} (use --on-invalid skip to drop such rows)")
            skipped.append(f"{where}: {problem}")
            continue
        rows.append((q, a, rating))
    if size is None:
        raise DatasetError(f"{path}: no puzzle rows")
    return rows, skipped, size


def _held_out(size: int, difficulty: str, count: int, seed: int, train: list, on_progress: Callable[[int], None]
              ) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Test puzzles that never occur in the training set (small grids repeat often)."""
    seen = {q.tobytes() for q, _, _ in train}
    test: list[tuple[np.ndarray, np.ndarray, int]] = []
    for attempt in range(20):
        fresh = generate_many(size, difficulty, count + count // 4 + 1, seed + 7919 * (attempt + 1), on_progress=on_progress)
        for item in fresh:
            key = item[0].tobytes()
            if key not in seen and len(test) < count:
                seen.add(key)
                test.append(item)
        if len(test) >= count:
            break
    return test


def _split_arrays(puzzles: list[tuple[np.ndarray, np.ndarray, int]], n: int, num_aug: int,
                  rng: np.random.Generator) -> SplitArrays:
    inputs, labels, group_sizes = [], [], []
    for q, a, _ in puzzles:
        inputs.append(q)
        labels.append(a)
        for _ in range(num_aug):
            aq, aa = shuffle_sudoku(q, a, n, rng)
            inputs.append(aq)
            labels.append(aa)
        group_sizes.append(1 + num_aug)
    count = len(inputs)
    return SplitArrays(
        inputs=(np.stack(inputs) + 1).astype(np.uint8),
        labels=(np.stack(labels) + 1).astype(np.uint8),
        puzzle_identifiers=np.zeros(count, np.int32),
        puzzle_indices=np.arange(count + 1, dtype=np.int32),
        group_indices=np.concatenate([[0], np.cumsum(group_sizes)]).astype(np.int32),
    )


def _stats(puzzles: list[tuple[np.ndarray, np.ndarray, int]]) -> dict:
    clues = np.array([(q > 0).sum() for q, _, _ in puzzles]) if puzzles else np.zeros(1)
    ratings = np.array([r for _, _, r in puzzles]) if puzzles else np.zeros(1)
    return {"puzzles": len(puzzles), "clues_mean": float(clues.mean()), "clues_min": int(clues.min()),
            "clues_max": int(clues.max()), "rating_mean": float(ratings.mean()), "rating_median": float(np.median(ratings)),
            "rating_min": int(ratings.min()), "rating_max": int(ratings.max())}


def build_sudoku(output: Path, *, size: int = 9, difficulty: str = "hard", count: int = 1000, test_count: int = 200,
                 train_csv: Path | None = None, test_csv: Path | None = None, min_rating: int | None = None,
                 on_invalid: str = "skip", subsample_size: int | None = None, num_aug: int = 0, seed: int = 0,
                 force: bool = False, progress: Progress | None = None) -> dict:
    """Build the dataset into `output` (atomically); returns the build record (also build.json)."""
    if size not in BOXES:
        raise DatasetError(f"--size {size} is not supported; use 4, 6 or 9")
    if num_aug < 0 or count < 0 or test_count < 0:
        raise DatasetError("--count, --test-count and --num-aug must not be negative")
    if on_invalid not in ("skip", "fail"):
        raise DatasetError(f"--on-invalid must be skip or fail, got {on_invalid!r}")
    if test_csv is not None and train_csv is None:
        raise DatasetError(f"--test-csv {test_csv} needs --train-csv as well (without both, the generator builds "
                           f"the data and --test-csv would be ignored)")
    started = time.perf_counter()
    with DatasetWriter(output, force=force) as writer:
        skipped: list[str] = []
        if train_csv is not None:
            if test_csv is None:
                raise DatasetError("--train-csv needs --test-csv as well (the reference builds both splits)")
            train, bad_train, size = read_csv(Path(train_csv), on_invalid, min_rating)
            test, bad_test, test_size = read_csv(Path(test_csv), on_invalid, min_rating)
            if test_size != size:
                raise DatasetError(f"{test_csv}: {test_size}x{test_size} grids but {train_csv} has {size}x{size}")
            skipped = bad_train + bad_test
            source = "csv"
        else:
            def report(phase: str, total: int) -> Callable[[int], None]:
                return lambda done: progress(phase, done, total) if progress else None

            train = generate_many(size, difficulty, count, seed, on_progress=report("train puzzles", count))
            test = _held_out(size, difficulty, test_count, seed, train, report("test puzzles", test_count))
            source = "generator"
        rng = np.random.default_rng(seed)
        if subsample_size is not None and subsample_size < len(train):
            keep = np.sort(rng.choice(len(train), subsample_size, replace=False))
            train = [train[i] for i in keep]
        if not train or not test:
            raise DatasetError("no puzzles left for a split; raise --count/--test-count or check the CSV filters")
        for split, puzzles, aug in (("train", train, num_aug), ("test", test, 0)):
            arrays = _split_arrays(puzzles, size, aug, rng)
            meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=size + 2,
                                   seq_len=size * size, num_puzzle_identifiers=1, total_groups=len(puzzles),
                                   mean_puzzle_examples=1.0, sets=["all"])
            writer.write_split(split, meta, {"all": arrays})
            if progress:
                progress(f"{split} split written", len(arrays.inputs), len(arrays.inputs))
        writer.write_json("identifiers.json", ["<blank>"])
        record = {
            "kind": "sudoku", "grid": [size, size], "box": list(BOXES[size]), "source": source,
            "params": {"size": size, "difficulty": difficulty if source == "generator" else None, "count": count,
                       "test_count": test_count, "train_csv": str(train_csv) if train_csv else None,
                       "test_csv": str(test_csv) if test_csv else None, "min_rating": min_rating,
                       "subsample_size": subsample_size, "num_aug": num_aug, "seed": seed},
            "stats": {"train": {**_stats(train), "examples": len(train) * (1 + num_aug)},
                      "test": {**_stats(test), "examples": len(test)}, "skipped_rows": len(skipped)},
            "seconds": round(time.perf_counter() - started, 3),
        }
        writer.write_json("build.json", record)
        writer.commit()
    record["skipped"] = skipped
    return record
