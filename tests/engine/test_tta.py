"""Test-time samples through real MLX numerics: one shared rollout, predictions mapped back exactly."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_datasets.augment import maze_transforms, sudoku_transforms
from hrm_datasets.format import DatasetMetadata
from hrm_engine.act import rollout
from hrm_engine.config import resolve_config
from hrm_engine.models.hrm import HRM, ModelConfig
from hrm_engine.solving.tta import run_rows, sample_predictions
from tiny_runs import TINY, make_copy_model


def tiny_model(vocab: int, seq_len: int) -> HRM:
    meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=vocab, seq_len=seq_len,
                           num_puzzle_identifiers=1, total_groups=1, mean_puzzle_examples=1.0, sets=["all"])
    return HRM(ModelConfig.from_config(resolve_config("hrm-tiny", None, TINY), meta))


PUZZLES = np.array([[2, 1, 1, 5, 1, 1, 2, 1, 1, 2, 1, 1, 5, 1, 1, 2],
                    [1, 3, 1, 1, 4, 1, 1, 2, 1, 1, 5, 1, 2, 1, 1, 1]])


def test_rollout_runs_more_segments_than_training_and_reports_each():
    model = tiny_model(6, 16)
    seen = []
    carry, outputs = rollout(model, {"inputs": PUZZLES, "labels": PUZZLES, "puzzle_identifiers": np.zeros(2, np.int32)},
                             segments=5, on_segment=lambda s, c, o: seen.append((s, int(c["steps"][0]))))
    assert seen == [(s, s) for s in range(1, 6)] and bool(carry["halted"].all())  # halt_max_steps is 2
    assert outputs["logits"].shape == (2, 16, 6)
    assert run_rows(model, PUZZLES).segments == 2 and run_rows(model, PUZZLES, segments=5).segments == 5


def test_sample_predictions_map_each_answer_back_through_its_inverse():
    model = tiny_model(6, 16)
    transforms = sudoku_transforms(4, 6, seed=3)
    out = sample_predictions(model, PUZZLES, transforms, max_rows=12)  # both puzzles in one batch of 12 rows
    raw = run_rows(model, np.stack([t.apply(x) for x in PUZZLES for t in transforms]))
    for b in range(2):
        for j, t in enumerate(transforms):
            assert np.array_equal(t.apply(out.preds[b, j]), raw.preds[b * 6 + j])
    assert out.confidence.shape == (2, 6) and np.allclose(out.confidence.reshape(-1), raw.confidence)
    assert np.array_equal(out.preds[:, 0], run_rows(model, PUZZLES).preds)  # sample 0: the plain pass


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
def test_an_equivariant_model_gets_unanimous_votes(kind):
    """The copy model commutes with every symmetry, so every sample maps back to the same answer."""
    if kind == "sudoku":
        model, inputs, transforms = tiny_model(6, 16), PUZZLES, sudoku_transforms(4, 8)
    else:
        model = tiny_model(6, 25)
        inputs = np.random.default_rng(0).integers(1, 6, (2, 25))
        transforms = maze_transforms(5, 8)
    make_copy_model(model)
    out = sample_predictions(model, inputs, transforms, segments=3, max_rows=8)  # one puzzle per batch
    assert np.array_equal(out.preds, np.repeat(inputs[:, None], len(transforms), axis=1))
    assert out.segments == 3 and np.all(out.halt_step == 1) and np.all(out.confidence > 0.9)
