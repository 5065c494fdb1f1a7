"""`hrm eval --samples/--verify` scoring: exact accuracy, wrong answers submitted and abstentions per K."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_datasets.build_sudoku import build_sudoku
from hrm_engine.run.checkpoint import load_checkpoint
from hrm_engine.solving.eval_samples import evaluate_samples, sample_counts
from hrm_engine.evaluate import evaluate_split
from tiny_runs import tiny_run


@pytest.fixture(scope="module")
def half_given(tmp_path_factory):
    """4x4 Sudoku whose first half of test puzzles is given in full: the copy model solves exactly those."""
    root = tmp_path_factory.mktemp("es")
    data = root / "s4"
    build_sudoku(data, size=4, difficulty="easy", count=32, test_count=8, seed=0)
    inputs = np.load(data / "test" / "all__inputs.npy")
    labels = np.load(data / "test" / "all__labels.npy")
    inputs[:4] = labels[:4]
    np.save(data / "test" / "all__inputs.npy", inputs)
    return root, data


def test_sample_counts():
    assert sample_counts(1) == [1] and sample_counts(8) == [1, 2, 4, 8] and sample_counts(12) == [1, 2, 4, 8, 12]


def test_verified_answers_are_never_wrong_and_k1_matches_plain_eval(half_given):
    root, data = half_given
    model = load_checkpoint(tiny_run(root, data, "copy", copy=True)).model
    plain, _ = evaluate_split(model, data, "test", batch_size=8, segments=3)
    res = evaluate_samples(model, data, "test", "sudoku", 4, segments=3, verify=True, batch_size=8)
    rows = {(r["samples"], r["verify"]): r for r in res["rows"]}
    assert set(rows) == {(k, v) for k in (1, 2, 4) for v in (False, True)} and res["segments"] == 3
    assert plain["exact_accuracy"] == rows[(1, False)]["exact_accuracy"] == 0.5
    for k in (1, 2, 4):
        assert rows[(k, False)] | {"samples": 0} == {"samples": 0, "verify": False, "count": 8, "exact_accuracy": 0.5,
                                                     "wrong": 0.5, "abstained": 0.0}
        assert (rows[(k, True)]["exact_accuracy"], rows[(k, True)]["wrong"], rows[(k, True)]["abstained"]) == (0.5, 0, 0.5)
    assert res["seconds_per_puzzle"] > 0


def test_an_untrained_model_abstains_rather_than_answering_wrong(half_given):
    root, data = half_given
    model = load_checkpoint(tiny_run(root, data, "untrained", steps=1)).model
    plain, _ = evaluate_split(model, data, "test", batch_size=8)
    res = evaluate_samples(model, data, "test", "sudoku", 8, verify=True, batch_size=16)  # 2 puzzles per batch
    rows = {(r["samples"], r["verify"]): r for r in res["rows"]}
    assert rows[(1, False)]["exact_accuracy"] == plain["exact_accuracy"]
    for k in (1, 8):
        r = rows[(k, True)]
        assert r["wrong"] == 0 and r["exact_accuracy"] + r["abstained"] == pytest.approx(1.0)
