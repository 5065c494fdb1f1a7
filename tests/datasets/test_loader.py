"""The batch loader: reference group sampling, sharding, exact resume, eval padding.

Most tests use a synthetic dataset whose inputs hold each example's own index, so a batch can be
traced back to the examples, puzzles and groups it was drawn from.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrm_datasets.build_sudoku import build_sudoku
from hrm_datasets.errors import DatasetError
from hrm_datasets.format import DatasetMetadata, DatasetWriter, SplitArrays
from hrm_datasets.loader import TrainSampler, examples_per_epoch, iter_eval

N_GROUPS = 12


def _traceable(root, split="train"):
    """Groups of 1..3 puzzles, puzzles of 1..4 examples; inputs[i] = [i, i], labels 0 on odd examples."""
    puzzles_per_group = [g % 3 + 1 for g in range(N_GROUPS)]
    n_puzzles = sum(puzzles_per_group)
    examples_per_puzzle = [p % 4 + 1 for p in range(n_puzzles)]
    n_ex = sum(examples_per_puzzle)
    idx = np.arange(n_ex, dtype=np.int32)
    arrays = SplitArrays(
        inputs=np.stack([idx, idx], axis=1),
        labels=np.stack([np.where(idx % 2, 0, idx), idx], axis=1),
        puzzle_identifiers=np.arange(1, n_puzzles + 1, dtype=np.int32),  # puzzle p has id p + 1
        puzzle_indices=np.concatenate([[0], np.cumsum(examples_per_puzzle)]).astype(np.int32),
        group_indices=np.concatenate([[0], np.cumsum(puzzles_per_group)]).astype(np.int32),
    )
    meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=n_ex, seq_len=2,
                           num_puzzle_identifiers=n_puzzles + 1, total_groups=N_GROUPS,
                           mean_puzzle_examples=n_ex / n_puzzles)
    with DatasetWriter(root) as writer:
        writer.write_split(split, meta, {"all": arrays})
        writer.write_json("identifiers.json", ["<blank>"] + [f"p{p}" for p in range(n_puzzles)])
        writer.commit()
    return arrays


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    root = tmp_path_factory.mktemp("t") / "traced"
    arrays = _traceable(root)
    _traceable(root.with_name("traced-test"), split="test")
    return root, arrays


def _segments(batch):
    """Runs of rows with the same puzzle identifier: [(puzzle, [example indices])]."""
    ids, ex = batch["puzzle_identifiers"], batch["inputs"][:, 0]
    out = []
    for i, pid in enumerate(ids):
        if out and out[-1][0] == pid - 1:
            out[-1][1].append(int(ex[i]))
        else:
            out.append((int(pid) - 1, [int(ex[i])]))
    return out


def _first_pass(sampler):
    """The batches of the sampler's first pass (the batch that starts pass 2 is dropped)."""
    batches = []
    while True:
        batch = sampler.next_batch()
        if sampler.state_dict()["pass"] > 1:
            return batches
        batches.append(batch)


def test_batches_are_packed_group_by_group_as_the_reference(traced):
    root, arrays = traced
    pi, gi = arrays.puzzle_indices, arrays.group_indices
    group_of = np.repeat(np.arange(N_GROUPS), np.diff(gi))
    groups = []
    for batch in _first_pass(TrainSampler(root, 5, seed=3)):
        assert {k: v.dtype for k, v in batch.items()} == {k: np.dtype(np.int32) for k in batch}
        assert batch["inputs"].shape == (5, 2) and batch["puzzle_identifiers"].shape == (5,)
        segments = _segments(batch)
        for k, (puzzle, examples) in enumerate(segments):
            assert all(pi[puzzle] <= e < pi[puzzle + 1] for e in examples)  # the examples belong to the puzzle
            assert len(set(examples)) == len(examples)  # drawn without replacement
            if k < len(segments) - 1:  # only the last puzzle of a batch may be cut short
                assert len(examples) == pi[puzzle + 1] - pi[puzzle]
            groups.append(int(group_of[puzzle]))
        ex = batch["inputs"][:, 0]  # ignored labels (0) became -100, others are kept
        assert np.array_equal(batch["labels"][:, 0], np.where((ex % 2 == 1) | (ex == 0), -100, ex))  # label 0 is the ignore id
    assert groups and len(set(groups)) == len(groups)  # a group at most once per epoch


def test_each_group_is_used_once_per_epoch_and_the_last_partial_batch_is_dropped(traced):
    root, arrays = traced
    group_of = np.repeat(np.arange(N_GROUPS), np.diff(arrays.group_indices))
    for epochs_per_iter in (1, 2):
        batches = _first_pass(TrainSampler(root, 4, seed=7, epochs_per_iter=epochs_per_iter))
        used = [int(group_of[p]) for b in batches for p, _ in _segments(b)]
        assert np.bincount(used, minlength=N_GROUPS).max() <= epochs_per_iter
        # the pass ended only because the groups left could not fill a batch (each gives >= 1 example)
        assert 0 <= epochs_per_iter * N_GROUPS - len(used) < 4


def test_epoch_counts_passes_times_epochs_per_iter(traced):
    root, _ = traced
    sampler = TrainSampler(root, 4, seed=0, epochs_per_iter=2)
    assert sampler.epoch == 0.0
    sampler.next_batch()
    assert 0.0 < sampler.epoch <= 2.0
    while sampler.state_dict()["pass"] < 3:
        sampler.next_batch()
    assert 4.0 < sampler.epoch <= 6.0


def test_ranks_split_every_global_batch(traced):
    root, _ = traced
    full = TrainSampler(root, 8, seed=2)
    shards = [TrainSampler(root, 8, seed=2, rank=r, world_size=4) for r in range(4)]
    for _ in range(12):  # crosses pass boundaries
        whole = full.next_batch()
        parts = [s.next_batch() for s in shards]
        assert all(p["inputs"].shape == (2, 2) for p in parts)
        for key in whole:
            assert np.array_equal(np.concatenate([p[key] for p in parts]), whole[key])
    with pytest.raises(DatasetError, match="multiple"):
        TrainSampler(root, 6, world_size=4)


def test_resume_gives_the_identical_batch_sequence(traced):
    root, _ = traced
    for stop in (0, 1, 5, 9):  # includes a stop before the first batch and one past a pass boundary
        a = TrainSampler(root, 4, seed=5)
        for _ in range(stop):
            a.next_batch()
        state = json.loads(json.dumps(a.state_dict()))  # JSON-serialisable
        expected = [a.next_batch() for _ in range(8)]
        b = TrainSampler(root, 4, seed=5)
        b.load_state_dict(state)
        got = [b.next_batch() for _ in range(8)]
        for x, y in zip(expected, got):
            assert all(np.array_equal(x[k], y[k]) for k in x)
        assert a.epoch == b.epoch and a.state_dict() == b.state_dict()
    # a different seed (or batch size) would silently change the sequence: refused
    with pytest.raises(DatasetError, match="seed"):
        TrainSampler(root, 4, seed=6).load_state_dict(state)


def test_different_seeds_give_different_orders(traced):
    root, _ = traced
    a = [TrainSampler(root, 4, seed=s).next_batch()["inputs"] for s in (0, 1, 2)]
    assert not (np.array_equal(a[0], a[1]) and np.array_equal(a[1], a[2]))


def test_eval_batches_are_sequential_padded_and_sharded(traced):
    root, arrays = traced
    test_root = root.with_name("traced-test")
    n_ex = len(arrays.inputs)
    batches = list(iter_eval(test_root, "test", batch_size=8))
    assert [c for _, c in batches] == [8] * (n_ex // 8) + ([n_ex % 8] if n_ex % 8 else [])
    rows = np.concatenate([b["inputs"][:c] for b, c in batches])
    assert np.array_equal(rows[:, 0], np.arange(n_ex))  # every example once, in order
    owner = np.repeat(np.arange(len(arrays.puzzle_identifiers)), np.diff(arrays.puzzle_indices))
    ids = np.concatenate([b["puzzle_identifiers"][:c] for b, c in batches])
    assert np.array_equal(ids, arrays.puzzle_identifiers[owner])
    last, count = batches[-1]
    assert last["inputs"].shape == (8, 2)
    assert np.all(last["inputs"][count:] == 0) and np.all(last["labels"][count:] == -100)
    assert np.all(last["puzzle_identifiers"][count:] == 0)
    # two ranks: each takes its half of every global batch
    sharded = [list(iter_eval(test_root, "test", batch_size=8, rank=r, world_size=2)) for r in range(2)]
    for (b0, c0), (b1, c1), (whole, c) in zip(*sharded, batches):
        assert c0 == c1 == c
        merged = np.concatenate([b0["inputs"], b1["inputs"]])
        assert np.array_equal(merged[:c], whole["inputs"][:c])


def test_examples_per_epoch_and_batch_size_checks(traced, tmp_path):
    root, arrays = traced
    sampler = TrainSampler(root, 4)
    assert examples_per_epoch(sampler.metadata) == pytest.approx(len(arrays.inputs) / len(arrays.puzzle_identifiers) * N_GROUPS)
    with pytest.raises(DatasetError, match="global_batch_size"):
        TrainSampler(root, 10_000)
    with pytest.raises(DatasetError, match="no split"):
        TrainSampler(root, 4, split="validation")


def test_sudoku_batches_supervise_every_cell(tmp_path):
    out = tmp_path / "s4"
    build_sudoku(out, size=4, difficulty="easy", count=12, test_count=3, num_aug=3, seed=0)
    batch = TrainSampler(out, 8, seed=1).next_batch()  # 12 groups -> 12 examples per epoch
    assert batch["inputs"].shape == (8, 16)
    assert batch["labels"].min() >= 2  # digits are tokens 2..5, nothing ignored
    givens = batch["inputs"] > 1
    assert np.array_equal(batch["inputs"][givens], batch["labels"][givens])
