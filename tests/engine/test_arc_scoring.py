"""ARC voting across augmentations and pass@K, on hand-made predictions."""

from __future__ import annotations

import json

import numpy as np

from hrm_datasets.build_arc import build_arc
from hrm_datasets.format import load_split
from hrm_engine.solving.arc_scoring import pass_at_k, score_arc_predictions, vote


def test_votes_then_mean_q_break_ties():
    rows = [{"task": "t", "input_hash": "i", "pred_hash": "A", "q": 0.9},
            {"task": "t", "input_hash": "i", "pred_hash": "B", "q": 0.2},
            {"task": "t", "input_hash": "i", "pred_hash": "B", "q": 0.3},
            {"task": "t", "input_hash": "i", "pred_hash": "C", "q": 0.95}]
    ranked = vote(rows)[("t", "i")]
    assert [h for h, _, _ in ranked] == ["B", "C", "A"]  # 2 votes first; then 0.95 beats 0.9


def test_pass_at_k_needs_every_test_input():
    ranked = {("t1", "a"): [("X", 3, 0.5), ("Y", 1, 0.5)], ("t1", "b"): [("Z", 2, 0.1)],
              ("t2", "c"): [("Q", 1, 0.1), ("R", 1, 0.0)]}
    labels = {("t1", "a"): "Y", ("t1", "b"): "Z", ("t2", "c"): "Q"}
    assert pass_at_k(ranked, labels, ks=(1, 2)) == {"1": 0.5, "2": 1.0}


def _collected(root, split, preds_from_labels=True, corrupt_names=()):
    _, sets = load_split(root, split)
    arr = sets["all"]
    owner = np.repeat(np.arange(len(arr.puzzle_identifiers)), np.diff(arr.puzzle_indices))
    labels = np.asarray(arr.labels).astype(np.int64)
    preds = labels.copy()
    names = json.loads((root / "identifiers.json").read_text())
    pids = arr.puzzle_identifiers[owner]
    for k, pid in enumerate(pids):
        if names[pid] in corrupt_names:
            preds[k][0] = 3 if preds[k][0] != 3 else 4
    return {"inputs": np.asarray(arr.inputs).astype(np.int64), "labels": labels, "preds": preds,
            "q_halt": np.zeros(len(labels)), "puzzle_identifiers": pids}


def test_score_pipeline_on_a_built_dataset(tmp_path):
    build_arc(tmp_path / "a", source="arc-agi-1", num_aug=3, subsample_size=30, seed=0)
    perfect = score_arc_predictions(tmp_path / "a", "test", _collected(tmp_path / "a", "test"))
    assert perfect["tasks"] > 0 and perfect["pass_at"]["1"] == 1.0
    # corrupt the prediction of every un-augmented version: the 3 augmented versions outvote it
    names = json.loads((tmp_path / "a" / "identifiers.json").read_text())
    originals = [n for n in names[1:] if "_" not in n]
    broken = score_arc_predictions(tmp_path / "a", "test", _collected(tmp_path / "a", "test", corrupt_names=originals))
    assert broken["pass_at"]["1"] == 1.0
    assert perfect["vote_margin_mean"] > broken["vote_margin_mean"] > 0  # one dissenting vote narrows the lead
    # corrupt every version: nothing is solved
    every = [n for n in names[1:]]
    none = score_arc_predictions(tmp_path / "a", "test", _collected(tmp_path / "a", "test", corrupt_names=every))
    assert none["pass_at"]["1000"] == 0.0
