"""`hrm data stats`: a dataset summarised split by split, after checking everything the summary reports on.

Both splits are read and checked in full (`load_split`), as `hrm train` and `hrm eval` read them:
the format has a train and a test split, training evaluates on the test split, so a missing,
empty or truncated test split is refused in one line, never left out of the table. The test split
must fit the train split (vocabulary, length, no more puzzle ids), and `identifiers.json`, when
present, must name every puzzle id; a dataset without one gets a stated note. A dataset whose build.json
says `"splits": ["test"]` (`hrm data build sudoku --test-csv` alone, for `hrm eval`) has a test split only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hrm_datasets.errors import DatasetError
from hrm_datasets.format import DatasetMetadata, SplitArrays, load_identifiers, load_split

SPLITS = ("train", "test")


def check_test_fits_train(train: DatasetMetadata, test: DatasetMetadata, root: Path) -> None:
    """The test split has the train split's vocabulary and length, and no more puzzle identifiers."""
    for field in ("vocab_size", "seq_len"):
        if getattr(test, field) != getattr(train, field):
            raise DatasetError(f"{root}/test/dataset.json: {field}={getattr(test, field)} but the train split has "
                               f"{getattr(train, field)}; rebuild the dataset with `hrm data build`")
    if test.num_puzzle_identifiers > train.num_puzzle_identifiers:
        raise DatasetError(f"{root}/test/dataset.json: {test.num_puzzle_identifiers} puzzle identifiers, more than "
                           f"the train split's {train.num_puzzle_identifiers}; rebuild the dataset with `hrm data build`")


def _split_summary(meta: DatasetMetadata, sets: dict[str, SplitArrays], built: Any, build_path: Path,
                   split: str) -> dict[str, Any]:
    if built is not None and not isinstance(built, dict):
        raise DatasetError(f"{build_path}: 'stats.{split}' must be an object; rebuild the dataset or delete the file")
    arrays = next(iter(sets.values()))
    return {
        "examples": int(sum(len(a.inputs) for a in sets.values())),
        "puzzles": int(sum(len(a.puzzle_identifiers) for a in sets.values())),
        "groups": int(sum(len(a.group_indices) - 1 for a in sets.values())),
        "seq_len": meta.seq_len, "vocab_size": meta.vocab_size,
        "num_puzzle_identifiers": meta.num_puzzle_identifiers, "mean_puzzle_examples": meta.mean_puzzle_examples,
        "sets": meta.sets, "blank_input_fraction": float(np.mean(np.asarray(arrays.inputs[:2000]) == 1)),
        **(built or {}),
    }


def summarise(root: str | Path, build: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], int | None, list[str]]:
    """(per-split summary, number of puzzle names or None, notes) of a checked dataset; DatasetError otherwise."""
    root = Path(root)
    splits_built = ("test",) if build.get("splits") == ["test"] else SPLITS
    loaded = {split: load_split(root, split) for split in splits_built}
    if "train" in loaded:
        check_test_fits_train(loaded["train"][0], loaded["test"][0], root)
    built = build.get("stats") or {}
    splits = {split: _split_summary(meta, sets, built.get(split), root / "build.json", split)
              for split, (meta, sets) in loaded.items()}
    notes = []
    if (root / "identifiers.json").is_file():
        names: int | None = len(load_identifiers(root, next(iter(loaded.values()))[0].num_puzzle_identifiers))
    else:
        names = None
        notes.append(f"{root} has no identifiers.json: puzzles are known by number only "
                     f"(`hrm data build` writes one)")
    return splits, names, notes
