"""Batches for training and evaluation, sampled exactly as the reference `puzzle_dataset.py`.

Training: each pass k draws a Philox(seed + k) generator, concatenates `epochs_per_iter` random
permutations of the groups, and fills each global batch group by group: a random puzzle of the
group, then min(#examples, room) of its examples without replacement. A batch that cannot be
filled ends the pass (drop last). Rank r of `world_size` takes rows [r*B, (r+1)*B).

One deliberate difference: the reference picks examples inside a puzzle with NumPy's *global*
(unseeded) RNG; we use the pass generator, so a run is reproducible and resumable to the batch.
Resuming replays the index sampling of the current pass (cheap: no data is read) up to the
saved batch, so `state_dict()` is a few integers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from hrm_datasets.errors import DatasetError
from hrm_datasets.format import DatasetMetadata, SplitArrays, load_split

IGNORE_LABEL_ID = -100


def examples_per_epoch(meta: DatasetMetadata) -> float:
    """Examples in one nominal epoch (the reference's `total_groups * mean_puzzle_examples`)."""
    return meta.total_groups * meta.mean_puzzle_examples


def collate(meta: DatasetMetadata, inputs: np.ndarray, labels: np.ndarray, puzzle_ids: np.ndarray,
            batch_size: int) -> dict[str, np.ndarray]:
    """int32 arrays, ignored labels -> -100, short batches padded (pad_id, -100, blank id)."""
    batch = {
        "inputs": np.asarray(inputs, dtype=np.int32),
        "labels": np.array(labels, dtype=np.int32),
        "puzzle_identifiers": np.asarray(puzzle_ids, dtype=np.int32),
    }
    if meta.ignore_label_id is not None:
        batch["labels"][batch["labels"] == meta.ignore_label_id] = IGNORE_LABEL_ID
    pad = batch_size - len(batch["puzzle_identifiers"])
    if pad > 0:
        values = {"inputs": meta.pad_id, "labels": IGNORE_LABEL_ID, "puzzle_identifiers": meta.blank_identifier_id}
        batch = {
            k: np.pad(v, ((0, pad),) + ((0, 0),) * (v.ndim - 1), constant_values=values[k]) for k, v in batch.items()
        }
    return batch


def sample_batch(rng: np.random.Generator, group_order: np.ndarray, arrays: SplitArrays, start: int,
                  global_batch_size: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(next start, example indices, puzzle indices) of one global batch, as the reference packs it."""
    examples, puzzles, size = [], [], 0
    pi, gi = arrays.puzzle_indices, arrays.group_indices
    while start < group_order.size and size < global_batch_size:
        group = group_order[start]
        puzzle = int(rng.integers(gi[group], gi[group + 1]))
        start += 1
        first, count = int(pi[puzzle]), int(pi[puzzle + 1] - pi[puzzle])
        take = min(count, global_batch_size - size)
        examples.append(first + rng.choice(count, take, replace=False))
        puzzles.append(np.full(take, puzzle, dtype=np.int32))
        size += take
    if not examples:
        return start, np.zeros(0, np.int64), np.zeros(0, np.int32)
    return start, np.concatenate(examples), np.concatenate(puzzles)


class TrainSampler:
    """Endless training batches over passes; resumable from a small `state_dict()`."""

    def __init__(self, root: str | Path, global_batch_size: int, *, seed: int = 0, epochs_per_iter: int = 1,
                 rank: int = 0, world_size: int = 1, split: str = "train") -> None:
        if global_batch_size % world_size:
            raise DatasetError(f"global batch size {global_batch_size} must be a multiple of {world_size} processes")
        self.metadata, sets = load_split(root, split)
        if len(sets) != 1:
            raise DatasetError(f"{root}/{split}: training reads one set, found {', '.join(sets)}")
        self.arrays = next(iter(sets.values()))
        n_groups = len(self.arrays.group_indices) - 1
        if examples_per_epoch(self.metadata) < global_batch_size:
            raise DatasetError(
                f"{root}/{split} has about {int(examples_per_epoch(self.metadata))} examples per epoch, fewer than "
                f"global_batch_size={global_batch_size}; lower global_batch_size or build more data"
            )
        self.global_batch_size, self.seed, self.epochs_per_iter = global_batch_size, seed, epochs_per_iter
        self.rank, self.world_size = rank, world_size
        self.local_batch_size = global_batch_size // world_size
        self._n_groups = n_groups
        self._pass = 0  # passes started (the reference's `_iters`)
        self._batches_in_pass = 0
        self._start = 0
        self._order: np.ndarray | None = None
        self._rng: np.random.Generator | None = None

    def _begin_pass(self) -> None:
        self._pass += 1
        self._rng = np.random.Generator(np.random.Philox(seed=self.seed + self._pass))
        self._order = np.concatenate([self._rng.permutation(self._n_groups) for _ in range(self.epochs_per_iter)])
        self._start, self._batches_in_pass = 0, 0

    def next_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """(example indices, puzzle indices) of the next global batch (curriculum.py's sampler draws its own)."""
        while True:
            if self._order is None or self._start >= self._order.size:
                self._begin_pass()
            assert self._rng is not None and self._order is not None
            self._start, ex, pz = sample_batch(self._rng, self._order, self.arrays, self._start, self.global_batch_size)
            if ex.size < self.global_batch_size:  # drop last: the pass is over
                self._start = self._order.size
                continue
            self._batches_in_pass += 1
            return ex, pz

    def next_batch(self) -> dict[str, np.ndarray]:
        """The next batch for this rank: inputs/labels [B_local, S], puzzle_identifiers [B_local], int32."""
        ex, pz = self.next_indices()
        lo, hi = self.rank * self.local_batch_size, (self.rank + 1) * self.local_batch_size
        ex, pz = ex[lo:hi], pz[lo:hi]
        order = np.argsort(ex, kind="stable")  # memory-mapped reads go faster in file order
        inputs = np.empty((len(ex), self.metadata.seq_len), dtype=self.arrays.inputs.dtype)
        labels = np.empty_like(inputs, dtype=self.arrays.labels.dtype)
        inputs[order] = self.arrays.inputs[ex[order]]
        labels[order] = self.arrays.labels[ex[order]]
        return collate(self.metadata, inputs, labels, self.arrays.puzzle_identifiers[pz], self.local_batch_size)

    @property
    def epoch(self) -> float:
        """Nominal epochs consumed: whole passes times epochs_per_iter plus the current pass's fraction."""
        if self._order is None:
            return 0.0
        done = (self._pass - 1) * self.epochs_per_iter
        return done + self.epochs_per_iter * min(1.0, self._start / max(1, self._order.size))

    def state_dict(self) -> dict[str, int]:
        return {"pass": self._pass, "batches_in_pass": self._batches_in_pass, "seed": self.seed,
                "epochs_per_iter": self.epochs_per_iter, "global_batch_size": self.global_batch_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Replay the current pass's index sampling up to the saved batch (reads no data).

        The state must come from a sampler with the same seed, global batch size and epochs_per_iter
        (otherwise the replayed sequence would silently differ); world_size and rank may change.
        """
        for key in ("seed", "epochs_per_iter", "global_batch_size"):
            if key in state and int(state[key]) != getattr(self, key):
                raise DatasetError(f"cannot resume the data sampler: saved {key}={state[key]}, now {getattr(self, key)}; "
                                   f"resume with the same {key}")
        self._pass, self._order, self._start, self._batches_in_pass = int(state["pass"]) - 1, None, 0, 0
        if int(state["pass"]) <= 0:
            self._pass = 0
            return
        self._begin_pass()
        for _ in range(int(state["batches_in_pass"])):
            self._start, ex, _ = sample_batch(self._rng, self._order, self.arrays, self._start, self.global_batch_size)
        self._batches_in_pass = int(state["batches_in_pass"])


def iter_eval(root: str | Path, split: str = "test", batch_size: int = 256, *, rank: int = 0,
              world_size: int = 1) -> Iterator[tuple[dict[str, np.ndarray], int]]:
    """Sequential batches over every set of a split; the last is padded. Yields (batch, true global count)."""
    meta, sets = load_split(root, split)
    local = batch_size // world_size
    for arrays in sets.values():
        total = len(arrays.inputs)
        # puzzle index of every example, for its identifier
        owner = np.repeat(np.arange(len(arrays.puzzle_identifiers)), np.diff(arrays.puzzle_indices))
        for start in range(0, total, batch_size):
            end = min(total, start + batch_size)
            lo, hi = start + rank * local, min(start + (rank + 1) * local, end)
            lo = min(lo, hi)
            yield (
                collate(meta, arrays.inputs[lo:hi], arrays.labels[lo:hi], arrays.puzzle_identifiers[owner[lo:hi]], local),
                end - start,
            )
