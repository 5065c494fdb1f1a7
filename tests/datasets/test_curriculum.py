"""Per-puzzle difficulty beside a split, the competence curriculum's sampler and the fading hints."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_datasets.build_sudoku import build_sudoku
from hrm_datasets.curriculum import CurriculumSampler, Hints, competence
from hrm_datasets.difficulty import difficulty_path, easy_to_hard, load_difficulty
from hrm_datasets.errors import DatasetError
from hrm_datasets.format import load_split
from hrm_datasets.loader import IGNORE_LABEL_ID, TrainSampler
from hrm_datasets.sudoku import rating


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("d") / "s6"
    build_sudoku(out, size=6, difficulty="medium", count=120, test_count=10, num_aug=2, seed=0)
    return out


def test_the_build_records_rating_and_clues_per_puzzle_beside_each_split(data):
    for split in ("train", "test"):
        rows = load_difficulty(data, split)
        _, sets = load_split(data, split)
        arrays = sets["all"]
        firsts = arrays.puzzle_indices[arrays.group_indices[:-1]]  # each group's original puzzle
        originals = np.asarray(arrays.inputs[firsts]).astype(np.int64) - 1  # tokens back to 0 = blank
        assert rows.shape == (len(arrays.group_indices) - 1, 2) and rows.dtype == np.int32
        assert np.array_equal(rows[:, 1], (originals > 0).sum(1))  # clue counts
        assert [rating(q, 6) for q in originals] == rows[:, 0].tolist()  # the exact solver's guesses
    assert len(set(load_difficulty(data)[:, 0].tolist())) > 1  # 6x6 medium: the rating varies


def test_easiest_first_is_lower_rating_then_more_clues():
    rows = np.array([[3, 20], [0, 18], [1, 25], [0, 22], [1, 25]], np.int32)
    assert easy_to_hard(rows).tolist() == [3, 1, 2, 4, 0]


def test_a_dataset_without_the_side_file_is_refused_naming_the_rebuild(data, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(data, old)
    difficulty_path(old, "train").unlink()
    load_split(old, "train")  # the format's readers never needed it
    with pytest.raises(DatasetError) as err:
        CurriculumSampler(old, 16, total_steps=100, start=0.3, steps=0.5)
    message = str(err.value)
    assert "curriculum=true" in message and "curriculum=false" in message and "\n" not in message
    assert (f"hrm data build sudoku --size 6 --difficulty medium --count 120 --test-count 10 --num-aug 2 --seed 0 "
            f"--output {old} --force") in message


def test_early_batches_come_from_the_easiest_puzzles_then_from_all(data):
    total = 40
    sampler = CurriculumSampler(data, 16, total_steps=total, start=0.25, steps=0.5, seed=3)
    groups = load_split(data, "train")[1]["all"].group_indices
    easy_first = easy_to_hard(load_difficulty(data))
    seen_late = set()
    for k in range(total):
        allowed = sampler.allowed_groups(k)
        assert allowed == min(120, int(np.ceil(competence(k, total, 0.25, 0.5) * 120)))
        _, pz = sampler.next_indices()
        drawn = np.searchsorted(groups, pz, side="right") - 1  # the group of each drawn puzzle
        assert len(drawn) == 16 and len(set(drawn.tolist())) == 16  # no group twice in a batch
        assert set(drawn.tolist()) <= set(easy_first[:allowed].tolist())
        if k >= 20:
            seen_late |= set(drawn.tolist())
    assert sampler.allowed_groups(0) == 30 and sampler.allowed_groups(20) == 120
    assert len(seen_late - set(easy_first[:30].tolist())) > 0  # the hard ones come in
    assert sampler.epoch == pytest.approx(total * 16 / 120)


def test_the_curriculum_sampler_resumes_to_the_batch(data):
    a = CurriculumSampler(data, 16, total_steps=30, start=0.3, steps=0.5, seed=1)
    for _ in range(7):
        a.next_batch()
    b = CurriculumSampler(data, 16, total_steps=30, start=0.3, steps=0.5, seed=1)
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        x, y = a.next_batch(), b.next_batch()
        assert all(np.array_equal(x[k], y[k]) for k in x)
    with pytest.raises(DatasetError, match="saved without curriculum"):
        b.load_state_dict(TrainSampler(data, 16).state_dict())


def test_hints_reveal_a_fading_share_of_the_cells_to_fill_and_nothing_else(data):
    batch = TrainSampler(data, 64, seed=0).next_batch()
    hints = Hints(start=0.5, steps=0.5, total_steps=100, seed=0)
    assert [hints.fraction(k) for k in (0, 25, 50, 99)] == [0.5, 0.25, 0.0, 0.0]
    to_fill = (batch["inputs"] != batch["labels"]) & (batch["labels"] != IGNORE_LABEL_ID)
    shown = hints.apply(batch, 0)
    changed = shown["inputs"] != batch["inputs"]
    assert np.array_equal(shown["labels"], batch["labels"]) and shown["inputs"].dtype == batch["inputs"].dtype
    assert not (changed & ~to_fill).any()  # givens and pads untouched
    assert np.array_equal(shown["inputs"][changed], batch["labels"][changed])  # a revealed cell shows its answer
    assert abs(changed.sum() / to_fill.sum() - 0.5) < 0.05
    assert abs((hints.apply(batch, 25)["inputs"] != batch["inputs"]).sum() / to_fill.sum() - 0.25) < 0.05
    assert hints.apply(batch, 60) is batch
    assert np.array_equal(hints.apply(batch, 0)["inputs"], shown["inputs"])  # a function of the step: resumable
    assert not np.array_equal(hints.apply(batch, 1)["inputs"], shown["inputs"])


def test_two_processes_show_the_cells_one_process_would(data):
    batch = TrainSampler(data, 64, seed=0).next_batch()
    hints = Hints(start=0.5, steps=0.5, total_steps=100, seed=0)
    whole = hints.apply(batch, 3)["inputs"]
    halves = [hints.apply({k: v[r * 32:(r + 1) * 32] for k, v in batch.items()}, 3, rank=r, world_size=2)["inputs"]
              for r in (0, 1)]
    assert np.array_equal(np.concatenate(halves), whole)
