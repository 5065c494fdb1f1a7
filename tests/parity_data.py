"""Datasets and checks built from a parity fixture (tests/fixtures/parity, trm_parity): shared by the HRM and TRM
parity tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def dataset_from_fixture(root: Path, fixture: Path) -> Path:
    """A dataset whose train and test splits are exactly the fixture's batch (one example per puzzle)."""
    from hrm_datasets.format import DatasetMetadata, DatasetWriter, SplitArrays

    cfg = json.loads((fixture / "config.json").read_text())
    with np.load(fixture / "batch.npz") as b:
        batch = {k: b[k] for k in b.files}
    n = len(batch["inputs"])
    meta = DatasetMetadata(pad_id=0, ignore_label_id=None, blank_identifier_id=0, vocab_size=cfg["vocab_size"],
                           seq_len=cfg["seq_len"], num_puzzle_identifiers=cfg["num_puzzle_identifiers"],
                           total_groups=n, mean_puzzle_examples=1.0)
    arrays = SplitArrays(inputs=batch["inputs"], labels=batch["labels"], puzzle_identifiers=batch["puzzle_identifiers"],
                         puzzle_indices=np.arange(n + 1, dtype=np.int32), group_indices=np.arange(n + 1, dtype=np.int32))
    with DatasetWriter(root) as writer:
        writer.write_split("train", meta, {"all": arrays})
        writer.write_split("test", meta, {"all": arrays})
        writer.commit()
    return root


def last_segment_logits_error(model, fixture: Path) -> float:
    """max |ours - reference| / max |reference| of the last eval segment's logits on the fixture's batch."""
    import mlx.core as mx

    from hrm_engine.act import evaluate_batch

    cfg = json.loads((fixture / "config.json").read_text())
    with np.load(fixture / "batch.npz") as b, np.load(fixture / "eval.npz") as ev:
        batch = {k: mx.array(b[k]) for k in b.files}
        ref = ev[f"logits_{cfg['halt_max_steps'] - 1}"]
    _, outputs = evaluate_batch(model, batch)
    ours = np.array(outputs["logits"].astype(mx.float32))
    return float(np.abs(ours - ref).max() / np.abs(ref).max())
