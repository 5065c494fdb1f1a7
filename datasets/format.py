"""The reference HRM on-disk dataset format (sapientinc/HRM `dataset/common.py`, `puzzle_dataset.py`).

    <root>/identifiers.json                 id -> name, id 0 = "<blank>"
    <root>/<split>/dataset.json             PuzzleDatasetMetadata
    <root>/<split>/<set>__inputs.npy        [N_examples, seq_len]
    <root>/<split>/<set>__labels.npy        [N_examples, seq_len]
    <root>/<split>/<set>__puzzle_identifiers.npy   [N_puzzles] int32
    <root>/<split>/<set>__puzzle_indices.npy       [N_puzzles + 1] int32: puzzle p = examples [pi[p], pi[p+1])
    <root>/<split>/<set>__group_indices.npy        [N_groups + 1] int32: group g = puzzles [gi[g], gi[g+1])

Builders write through `DatasetWriter`, which stages everything in a temporary folder beside the
output (`.<name>.tmp-<pid>-...`) and renames it into place only on success, so an interrupted build
leaves no half dataset: a failed write (disk full, read-only) removes the staging and raises WriteError
(exit 4); staging a killed build left is removed by the next build of that output.
See docs/dataset-format.md for a worked example.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrm_datasets.errors import DatasetError
from hrm_datasets.files import clean_stale, json_kind, read_json, write_text_atomic, writing
from hrm_datasets.validate import check_arrays, check_fits_model, check_groups, check_metadata_fields

ARRAY_FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


@dataclass
class DatasetMetadata:
    """`dataset.json`, field for field as the reference's `PuzzleDatasetMetadata`."""

    pad_id: int
    ignore_label_id: int | None
    blank_identifier_id: int
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    total_groups: int
    mean_puzzle_examples: float
    sets: list[str] = field(default_factory=lambda: ["all"])

    @classmethod
    def from_json(cls, path: Path) -> "DatasetMetadata":
        """Read and check every field's type and range (datasets/validate.py): one line per problem."""
        data = check_metadata_fields(read_json(path, expect=None, error=DatasetError), path)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class SplitArrays:
    """The five arrays of one set of one split."""

    inputs: np.ndarray
    labels: np.ndarray
    puzzle_identifiers: np.ndarray
    puzzle_indices: np.ndarray
    group_indices: np.ndarray

    def validate(self, meta: DatasetMetadata, where: str) -> None:
        """Check the invariants every reader of the format relies on (dtypes, shapes, ranges: validate.py).

        `where` is the files' common prefix, `<root>/<split>/<set>`, so messages name the file.
        """
        check_arrays(self, meta, where)


class DatasetWriter:
    """Stage a dataset in a temporary folder; `commit()` renames it to `output` atomically.

    Use as a context manager: leaving the block with an exception removes the staging folder.
    """

    def __init__(self, output: str | Path, force: bool = False) -> None:
        self.output = Path(output)
        if self.output.exists() and not force:
            raise DatasetError(f"output {self.output} already exists; choose another --output or pass --force")
        if self.output.exists() and not self.output.is_dir():
            raise DatasetError(f"output {self.output} exists and is not a folder")
        self.force = force
        parent = self.output.resolve().parent
        with writing(f"dataset {self.output}", parent):
            parent.mkdir(parents=True, exist_ok=True)
            clean_stale(parent, only=f".{self.output.name}.")  # what a killed build of this output left
            self.staging = Path(tempfile.mkdtemp(prefix=f".{self.output.name}.tmp-{os.getpid()}-", dir=parent))
        self._committed = False

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None or not self._committed:
            shutil.rmtree(self.staging, ignore_errors=True)

    def write_split(self, split: str, meta: DatasetMetadata, sets: dict[str, SplitArrays]) -> None:
        """Write `<split>/dataset.json` and every set's arrays (validated first)."""
        folder = self.staging / split
        meta.sets = list(sets)
        for set_name, arrays in sets.items():
            arrays.validate(meta, f"{split}/{set_name}")
        with self._writing(f"{split}/"):
            folder.mkdir(parents=True, exist_ok=True)
        for set_name, arrays in sets.items():
            for name in ARRAY_FIELDS:
                with self._writing(f"{split}/{set_name}__{name}.npy"):
                    np.save(folder / f"{set_name}__{name}.npy", getattr(arrays, name))
        self.write_json(f"{split}/dataset.json", asdict(meta))

    def write_json(self, relpath: str, data: Any, indent: int | None = 2) -> None:
        with self._writing(relpath):
            write_json(self.staging / relpath, data, indent)

    def _writing(self, relpath: str) -> Any:
        """A failed write names the dataset being built (the staging is removed on the way out)."""
        return writing(f"dataset {self.output} ({relpath})", self.staging)

    def commit(self) -> Path:
        """Move the staged dataset into place; an existing output is replaced only with force."""
        old = None
        with writing(f"dataset {self.output}", self.staging):
            if self.output.exists():
                old = self.output.with_name(f".{self.output.name}.old-{os.getpid()}")
                os.replace(self.output, old)
            os.replace(self.staging, self.output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._committed = True
        return self.output


def write_json(path: Path, data: Any, indent: int | None = 2) -> None:
    """Write JSON via a temporary file and rename, so readers never see half a file (`indent` None:
    compact, as ARC's own task files are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=indent, separators=None if indent is not None else (",", ":"))
    write_text_atomic(path, text + "\n")


def load_metadata(root: str | Path, split: str) -> DatasetMetadata:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; build one with `hrm data build`")
    path = root / split / "dataset.json"
    if not path.is_file():
        splits = sorted(p.name for p in root.iterdir() if (p / "dataset.json").is_file())
        hint = f"available splits: {', '.join(splits)}" if splits else "is this a dataset folder?"
        if splits == ["test"]:
            hint += (" (a test split only, for `hrm eval`: `hrm data build sudoku --test-csv` alone, or `hrm data build"
                     " arc` from held-out tasks alone, builds one)")
        raise DatasetError(f"{root} has no split '{split}' ({path} missing); {hint}")
    return DatasetMetadata.from_json(path)


def load_split(root: str | Path, split: str, mmap: bool = True) -> tuple[DatasetMetadata, dict[str, SplitArrays]]:
    """Metadata and arrays of every set in a split (inputs/labels memory-mapped by default), all checked."""
    root = Path(root)
    meta = load_metadata(root, split)
    sets = {}
    for set_name in meta.sets:
        arrays = {}
        for name in ARRAY_FIELDS:
            path = root / split / f"{set_name}__{name}.npy"
            arrays[name] = load_npy(path, mmap=mmap and name in ("inputs", "labels"))
        sets[set_name] = SplitArrays(**arrays)
        sets[set_name].validate(meta, f"{root}/{split}/{set_name}")
    check_groups(sets, meta, root / split / "dataset.json")
    return meta, sets


def check_eval_split(root: str | Path, model_config: Any, split: str = "test") -> None:
    """The evaluation split, read and checked before training starts rather than when the first evaluation runs."""
    meta, _ = load_split(root, split)
    check_fits_model(meta, model_config, f"{root}/{split}")


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """One `.npy` array (memory-mapped with `mmap`); a missing, empty, truncated or foreign file is one line naming it.

    NumPy raises EOFError for an empty file, which click would turn into a bare `aborted`.
    """
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise DatasetError(f"cannot read {path}: the file is missing; {_REBUILD}") from None
    except EOFError:
        raise DatasetError(f"cannot read {path}: the file is empty; {_REBUILD}") from None
    except ValueError as exc:
        text = str(exc)
        if "pickled" in text:
            problem = "not a NumPy .npy array (damaged, or another format)"
        elif any(s in text for s in ("EOF", "mmap length", "Failed to read all data", "cannot reshape")):
            problem = "truncated (shorter than its header says; a write was cut off?)"
        else:
            problem = f"not a readable .npy array ({text.splitlines()[0] if text else type(exc).__name__})"
        raise DatasetError(f"cannot read {path}: {problem}; {_REBUILD}") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None


_REBUILD = "rebuild the dataset with `hrm data build`"


def load_identifiers(root: str | Path, num_puzzle_identifiers: int | None = None) -> list[str]:
    """identifiers.json: puzzle id -> name, a list of strings (["<blank>"] when absent).

    With `num_puzzle_identifiers` (from dataset.json), the list must name every id the split may hold.
    """
    path = Path(root) / "identifiers.json"
    if not path.is_file():
        return ["<blank>"]
    names = read_json(path, expect=list, error=DatasetError, fix=_REBUILD)
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise DatasetError(f"{path}: entry {i} must be a puzzle name (a string), got {json_kind(name)}; {_REBUILD}")
    if num_puzzle_identifiers is not None and len(names) < num_puzzle_identifiers:
        raise DatasetError(f"{path}: {len(names)} names for {num_puzzle_identifiers} puzzle identifiers "
                           f"(num_puzzle_identifiers in dataset.json); {_REBUILD}")
    return names
