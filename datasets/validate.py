"""A dataset checked against its `dataset.json` on load: metadata types, array dtypes, shapes and ranges.

Datasets are often handed to us (the reference's builders, a user's script), and the model
trusts them: a puzzle identifier past the embedding table crashes the process (SIGSEGV in the
gather, no message), and float or out-of-vocabulary tokens train to nonsense with exit code 0.
So every reader refuses a bad file with one line naming it and the problem, before any work.
The rules are the format's (docs/dataset-format.md, the reference's `PuzzleDatasetMetadata`):

    inputs, labels        2-D integer arrays [N_examples, seq_len]; inputs in [0, vocab_size),
                          labels too, or ignore_label_id, or -100 (the loss's own ignore label)
    puzzle_identifiers    1-D integers in [0, num_puzzle_identifiers)
    puzzle_indices        1-D, from 0 up to N_examples, never falling, one entry per puzzle + 1
    group_indices         1-D, from 0 up to N_puzzles, rising (a group holds at least one puzzle)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from hrm_datasets.errors import DatasetError

INT_FIELDS = ("pad_id", "blank_identifier_id", "vocab_size", "seq_len", "num_puzzle_identifiers", "total_groups")
REBUILD = "rebuild the dataset with `hrm data build`"
IGNORE_LABEL_ID = -100  # the loss ignores it whatever dataset.json says (losses.py, loader.py; the reference's too)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_metadata_fields(data: Any, path: Path) -> dict[str, Any]:
    """The fields of a `dataset.json` object, each of the type and range the format defines."""
    from hrm_datasets.files import json_kind

    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected an object of dataset fields, got {json_kind(data)}; {REBUILD}")
    missing = sorted((set(INT_FIELDS) | {"ignore_label_id", "mean_puzzle_examples"}) - set(data))
    if missing:
        raise DatasetError(f"{path}: missing fields {', '.join(missing)}; {REBUILD}")
    for key in INT_FIELDS:
        if not _is_int(data[key]):
            raise DatasetError(f"{path}: '{key}' must be an integer, got {data[key]!r}; {REBUILD}")
    if data["ignore_label_id"] is not None and not _is_int(data["ignore_label_id"]):
        raise DatasetError(f"{path}: 'ignore_label_id' must be an integer or null, got {data['ignore_label_id']!r}")
    mean = data["mean_puzzle_examples"]
    if isinstance(mean, bool) or not isinstance(mean, (int, float)) or not math.isfinite(mean) or mean < 0:
        raise DatasetError(f"{path}: 'mean_puzzle_examples' must be a finite number >= 0, got {mean!r}; {REBUILD}")
    sets = data.get("sets", ["all"])
    if not isinstance(sets, list) or not sets or not all(_is_set_name(s) for s in sets):
        raise DatasetError(f"{path}: 'sets' must be a non-empty list of set names (like [\"all\"]), got {sets!r}")
    _check_sizes(data, path)
    return data


def _is_set_name(name: Any) -> bool:
    return isinstance(name, str) and bool(name) and not any(ch in name for ch in "/\\") and name not in (".", "..")


def _check_sizes(data: dict[str, Any], path: Path) -> None:
    for key in ("vocab_size", "seq_len", "num_puzzle_identifiers"):
        if data[key] < 1:
            raise DatasetError(f"{path}: '{key}' must be at least 1, got {data[key]}; {REBUILD}")
    if data["total_groups"] < 0:
        raise DatasetError(f"{path}: 'total_groups' must not be negative, got {data['total_groups']}")
    if not 0 <= data["pad_id"] < data["vocab_size"]:
        raise DatasetError(f"{path}: 'pad_id' {data['pad_id']} is outside the vocabulary [0, {data['vocab_size']})")
    if not 0 <= data["blank_identifier_id"] < data["num_puzzle_identifiers"]:
        raise DatasetError(f"{path}: 'blank_identifier_id' {data['blank_identifier_id']} is outside "
                           f"[0, {data['num_puzzle_identifiers']}) (num_puzzle_identifiers)")


def _file(where: str, name: str) -> str:
    return f"{where}__{name}.npy"


def _check_dtype_and_shape(arrays: Any, where: str) -> None:
    for name, ndim in (("inputs", 2), ("labels", 2), ("puzzle_identifiers", 1), ("puzzle_indices", 1),
                       ("group_indices", 1)):
        arr = getattr(arrays, name)
        if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.integer):
            kind = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
            raise DatasetError(f"{_file(where, name)}: holds {kind} values; it must be an integer array "
                               f"(uint8/int32 tokens and indices); {REBUILD}")
        if arr.ndim != ndim:
            raise DatasetError(f"{_file(where, name)}: has shape {arr.shape}, expected {ndim} dimension(s)")
    if arrays.inputs.shape != arrays.labels.shape:
        raise DatasetError(f"{_file(where, 'labels')}: shape {arrays.labels.shape} differs from inputs "
                           f"{arrays.inputs.shape}")


def _outside(arr: np.ndarray, low: int, high: int, allowed: tuple[int | None, ...] = ()) -> tuple[int, ...] | None:
    """Index of the first value outside [low, high) and not in `allowed`, or None; one pass when all are inside."""
    if arr.size == 0:
        return None
    lo, hi = int(arr.min()), int(arr.max())
    if lo >= low and hi < high:
        return None
    bad = (arr < low) | (arr >= high)
    for value in allowed:
        if value is not None:
            bad &= arr != value
    hits = np.argwhere(bad)
    return tuple(int(i) for i in hits[0]) if len(hits) else None


def _check_indices(arrays: Any, where: str) -> None:
    n_ex, n_puz = len(arrays.inputs), len(arrays.puzzle_identifiers)
    pi, gi = arrays.puzzle_indices, arrays.group_indices
    if len(pi) != n_puz + 1:
        raise DatasetError(f"{_file(where, 'puzzle_indices')}: {len(pi)} entries for {n_puz} puzzles; it needs one "
                           f"more entry than puzzle_identifiers")
    if pi[0] != 0 or pi[-1] != n_ex or np.any(np.diff(pi) < 0):
        raise DatasetError(f"{_file(where, 'puzzle_indices')}: must rise from 0 to {n_ex} (the number of examples) "
                           f"without falling")
    if len(gi) < 2 or gi[0] != 0 or gi[-1] != n_puz or np.any(np.diff(gi) <= 0):
        raise DatasetError(f"{_file(where, 'group_indices')}: must rise from 0 to {n_puz} (the number of puzzles), "
                           f"every group holding at least one puzzle")


def check_arrays(arrays: Any, meta: Any, where: str) -> None:
    """One set's five arrays against the split's metadata; `where` is the files' common prefix (folder/set)."""
    _check_dtype_and_shape(arrays, where)
    if arrays.inputs.shape[1] != meta.seq_len:
        raise DatasetError(f"{_file(where, 'inputs')}: rows have length {arrays.inputs.shape[1]}, dataset.json "
                           f"says seq_len {meta.seq_len}")
    _check_indices(arrays, where)
    vocab = meta.vocab_size
    at = _outside(arrays.inputs, 0, vocab)
    if at is not None:
        raise DatasetError(f"{_file(where, 'inputs')}: token {int(arrays.inputs[at])} at example {at[0]}, position "
                           f"{at[1]} is outside the vocabulary [0, {vocab}) of dataset.json; {REBUILD}")
    at = _outside(arrays.labels, 0, vocab, (meta.ignore_label_id, IGNORE_LABEL_ID))
    if at is not None:
        ignore = f", the ignore_label_id {meta.ignore_label_id}" if meta.ignore_label_id is not None else ""
        raise DatasetError(f"{_file(where, 'labels')}: label {int(arrays.labels[at])} at example {at[0]}, position "
                           f"{at[1]} is outside the vocabulary [0, {vocab}) and is not an ignore label{ignore} or "
                           f"{IGNORE_LABEL_ID}; {REBUILD}")
    at = _outside(arrays.puzzle_identifiers, 0, meta.num_puzzle_identifiers)
    if at is not None:
        raise DatasetError(f"{_file(where, 'puzzle_identifiers')}: id {int(arrays.puzzle_identifiers[at])} of puzzle "
                           f"{at[0]} is outside [0, {meta.num_puzzle_identifiers}) (num_puzzle_identifiers in "
                           f"dataset.json)")


def check_groups(sets: dict[str, Any], meta: Any, path: Path) -> None:
    """total_groups in dataset.json counts the groups of every set (an epoch's length is computed from it)."""
    groups = sum(len(a.group_indices) - 1 for a in sets.values())
    if groups != meta.total_groups:
        raise DatasetError(f"{path}: total_groups is {meta.total_groups} but the group_indices arrays hold {groups} "
                           f"groups; {REBUILD}")


def check_fits_model(meta: Any, model_config: Any, where: str) -> None:
    """A split the model will read: the same vocabulary and length, ids within its embedding table."""
    for field in ("vocab_size", "seq_len"):
        if getattr(meta, field) != getattr(model_config, field):
            raise DatasetError(f"{where} has {field}={getattr(meta, field)} but the model was built for "
                               f"{getattr(model_config, field)}; use data of the same kind and size")
    if meta.num_puzzle_identifiers > model_config.num_puzzle_identifiers:
        raise DatasetError(f"{where} uses {meta.num_puzzle_identifiers} puzzle identifiers, the model's table holds "
                           f"{model_config.num_puzzle_identifiers}; use the dataset the model was trained with")

