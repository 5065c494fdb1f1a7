"""Build a Sudoku dataset in the reference format, from the built-in generator or a user's files.

The files are reference CSVs (source,q,a,rating) or plain puzzle lists as sets are published, one
puzzle a line: a listed puzzle's answer is the exact solver's (datasets/sudoku_files.py). A test
file alone builds a test split alone, to evaluate a checkpoint on a public set with `hrm eval`.

Tokens as the reference: 0 pad, 1 blank, 2..N+1 the digits 1..N (digit + 1); vocab N + 2;
seq_len N*N; every cell is supervised (ignore_label_id 0 never occurs); one puzzle identifier
(0, "<blank>"); every example is its own puzzle; a group is an original and its augmentations.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from hrm_datasets.difficulty import write_difficulty
from hrm_datasets.errors import DatasetError
from hrm_datasets.format import DatasetMetadata, DatasetWriter, SplitArrays
from hrm_datasets.sudoku import BOXES, generate_many, shuffle_sudoku
from hrm_datasets.sudoku_files import PuzzleFile, read_puzzle_file

Progress = Callable[[str, int, int], None]  # (phase, done, total)


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


def _from_files(train_csv: Path | None, test_csv: Path, on_invalid: str, min_rating: int | None,
                max_invalid: int | None) -> tuple[PuzzleFile | None, PuzzleFile]:
    """Both files read and checked (or the test file alone); they must hold one grid size."""
    train = read_puzzle_file(Path(train_csv), on_invalid, min_rating, max_invalid) if train_csv is not None else None
    test = read_puzzle_file(Path(test_csv), on_invalid, min_rating, max_invalid)
    if train is not None and test.size != train.size:
        raise DatasetError(f"{test_csv}: {test.size}x{test.size} grids but {train_csv} has {train.size}x{train.size}")
    return train, test


def build_sudoku(output: Path, *, size: int = 9, difficulty: str = "hard", count: int = 1000, test_count: int = 200,
                 train_csv: Path | None = None, test_csv: Path | None = None, min_rating: int | None = None,
                 on_invalid: str = "skip", max_invalid: int | None = None, subsample_size: int | None = None,
                 num_aug: int = 0, seed: int = 0, force: bool = False, progress: Progress | None = None) -> dict:
    """Build the dataset into `output` (atomically); returns the build record (also build.json).

    With `test_csv` alone only a test split is written (build.json says `"splits": ["test"]`).
    """
    if size not in BOXES:
        raise DatasetError(f"--size {size} is not supported; use 4, 6 or 9")
    if num_aug < 0 or count < 0 or test_count < 0:
        raise DatasetError("--count, --test-count and --num-aug must not be negative")
    if on_invalid not in ("skip", "fail"):
        raise DatasetError(f"--on-invalid must be skip or fail, got {on_invalid!r}")
    if max_invalid is not None and max_invalid < 0:
        raise DatasetError(f"--max-invalid must not be negative, got {max_invalid}")
    if train_csv is not None and test_csv is None:
        raise DatasetError("--train-csv needs --test-csv as well (the reference builds both splits)")
    test_only = test_csv is not None and train_csv is None
    if test_only and (num_aug or subsample_size is not None):
        flag = "--num-aug" if num_aug else "--subsample-size"
        raise DatasetError(f"{flag} applies to the train split, and --test-csv without --train-csv builds a test "
                           f"split only; drop {flag} or add --train-csv")
    started = time.perf_counter()
    with DatasetWriter(output, force=force) as writer:
        files: dict[str, PuzzleFile] = {}
        if test_csv is not None:
            train_file, test_file = _from_files(train_csv, test_csv, on_invalid, min_rating, max_invalid)
            files = {"test": test_file} if train_file is None else {"train": train_file, "test": test_file}
            size, source = test_file.size, "csv"
            train, test = train_file.puzzles if train_file else [], test_file.puzzles
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
        if (not train and not test_only) or not test:
            raise DatasetError("no puzzles left for a split; raise --count/--test-count or check the files' filters "
                               "and skipped rows")
        splits = (("test", test, 0),) if test_only else (("train", train, num_aug), ("test", test, 0))
        for split, puzzles, aug in splits:
            arrays = _split_arrays(puzzles, size, aug, rng)
            meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=size + 2,
                                   seq_len=size * size, num_puzzle_identifiers=1, total_groups=len(puzzles),
                                   mean_puzzle_examples=1.0, sets=["all"])
            writer.write_split(split, meta, {"all": arrays})
            write_difficulty(writer, split, puzzles)  # the side file a curriculum reads (difficulty.py)
            if progress:
                progress(f"{split} split written", len(arrays.inputs), len(arrays.inputs))
        writer.write_json("identifiers.json", ["<blank>"])
        skipped = [line for f in files.values() for line in f.skipped]
        stats = {split: {**_stats(puzzles), "examples": len(puzzles) * (1 + aug)} for split, puzzles, aug in splits}
        record = {
            "kind": "sudoku", "grid": [size, size], "box": list(BOXES[size]), "source": source,
            "splits": [split for split, _, _ in splits],
            "params": {"size": size, "difficulty": difficulty if source == "generator" else None, "count": count,
                       "test_count": test_count, "train_csv": str(train_csv) if train_csv else None,
                       "test_csv": str(test_csv) if test_csv else None, "min_rating": min_rating,
                       "on_invalid": on_invalid, "max_invalid": max_invalid,
                       "subsample_size": subsample_size, "num_aug": num_aug, "seed": seed},
            "stats": {**stats, "skipped_rows": len(skipped)},
            "files": {split: f.record() for split, f in files.items()},
            "seconds": round(time.perf_counter() - started, 3),
        }
        writer.write_json("build.json", record)
        writer.commit()
    record["skipped"] = skipped
    return record
