"""Build a Maze dataset in the reference format (maze-30x30-hard-1k layout), generated or from CSVs.

Tokens '# SGo' -> 1..5, pad 0, vocab 6, seq_len N*N, all cells supervised, puzzle id 0; each example
is its own puzzle and a group holds a maze with its dihedral copies (`--aug`, train only).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from hrm_datasets.errors import DatasetError
from hrm_datasets.format import DatasetMetadata, DatasetWriter, SplitArrays
from hrm_datasets.maze import dihedral, generate, read_csv


def _arrays(mazes: list[tuple[np.ndarray, np.ndarray, int]], aug: bool) -> SplitArrays:
    inputs, labels = [], []
    for grid, label, _ in mazes:
        for tid in range(8 if aug else 1):
            inputs.append(dihedral(grid, tid).reshape(-1))
            labels.append(dihedral(label, tid).reshape(-1))
    per = 8 if aug else 1
    count = len(inputs)
    return SplitArrays(inputs=np.stack(inputs).astype(np.uint8), labels=np.stack(labels).astype(np.uint8),
                       puzzle_identifiers=np.zeros(count, np.int32),
                       puzzle_indices=np.arange(count + 1, dtype=np.int32),
                       group_indices=np.arange(0, count + 1, per, dtype=np.int32))


def build_maze(output: Path, *, size: int = 30, count: int = 1000, test_count: int = 1000, min_path_length: int = 110,
               train_csv: Path | None = None, test_csv: Path | None = None, on_invalid: str = "skip",
               subsample_size: int | None = None, aug: bool = False, seed: int = 0, force: bool = False,
               progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Build into `output` atomically; returns the build record (also written as build.json)."""
    if on_invalid not in ("skip", "fail"):
        raise DatasetError(f"--on-invalid must be skip or fail, got {on_invalid!r}")
    if size < 5 or size > 64:
        raise DatasetError(f"--size {size} is out of range; use 5..64")
    if test_csv is not None and train_csv is None:
        raise DatasetError(f"--test-csv {test_csv} needs --train-csv as well (without both, the generator builds "
                           f"the data and --test-csv would be ignored)")
    started = time.perf_counter()
    with DatasetWriter(output, force=force) as writer:
        skipped: list[str] = []
        rng = np.random.default_rng(seed)
        if train_csv is not None:
            if test_csv is None:
                raise DatasetError("--train-csv needs --test-csv as well")
            train, bad_train = read_csv(Path(train_csv), on_invalid)
            test, bad_test = read_csv(Path(test_csv), on_invalid)
            skipped = bad_train + bad_test
            size = int(train[0][0].shape[0])
            if test[0][0].shape[0] != size:
                raise DatasetError(f"{test_csv}: mazes of another size than {train_csv}")
            source = "csv"
        else:
            train, test = [], []
            for split, n, out in (("train", count, train), ("test", test_count, test)):
                for i in range(n):
                    out.append(generate(size, min_path_length, rng))
                    if progress and (i % 25 == 0 or i == n - 1):
                        progress(f"{split} mazes", i + 1, n)
            source = "generator"
        if subsample_size is not None and subsample_size < len(train):
            keep = np.sort(rng.choice(len(train), subsample_size, replace=False))
            train = [train[i] for i in keep]
        if not train or not test:
            raise DatasetError("a split has no mazes; raise --count/--test-count")
        stats = {}
        for split, mazes, use_aug in (("train", train, aug), ("test", test, False)):
            arrays = _arrays(mazes, use_aug)
            meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=6,
                                   seq_len=size * size, num_puzzle_identifiers=1, total_groups=len(mazes),
                                   mean_puzzle_examples=1.0, sets=["all"])
            writer.write_split(split, meta, {"all": arrays})
            lengths = np.array([length for _, _, length in mazes])
            stats[split] = {"mazes": len(mazes), "examples": len(arrays.inputs), "path_length_mean": float(lengths.mean()),
                            "path_length_min": int(lengths.min()), "path_length_max": int(lengths.max())}
        writer.write_json("identifiers.json", ["<blank>"])
        record = {"kind": "maze", "grid": [size, size], "source": source, "charset": "# SGo",
                  "params": {"size": size, "count": count, "test_count": test_count, "min_path_length": min_path_length,
                             "train_csv": str(train_csv) if train_csv else None,
                             "test_csv": str(test_csv) if test_csv else None, "subsample_size": subsample_size,
                             "aug": aug, "seed": seed},
                  "stats": {**stats, "skipped_rows": len(skipped)}, "seconds": round(time.perf_counter() - started, 3)}
        writer.write_json("build.json", record)
        writer.commit()
    record["skipped"] = skipped
    return record
