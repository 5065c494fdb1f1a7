"""solve_text/solve_arc_task with samples and verification, for Maze and ARC, on exact (copy) models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrm_datasets.format import DatasetMetadata
from hrm_engine.solving.arc_solve import solve_arc_task
from hrm_engine.run.checkpoint import Loaded
from hrm_engine.config import resolve_config
from hrm_engine.models.hrm import HRM, ModelConfig
from hrm_engine.solve import solve_text
from tiny_runs import TINY, make_copy_model


def copy_checkpoint(kind: str, vocab: int, seq_len: int) -> Loaded:
    meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=vocab, seq_len=seq_len,
                           num_puzzle_identifiers=1, total_groups=1, mean_puzzle_examples=1.0, sets=["all"])
    cfg = resolve_config("hrm-tiny", None, TINY)
    model = HRM(ModelConfig.from_config(cfg, meta))
    make_copy_model(model)
    return Loaded(model=model, config=cfg, metadata=meta, build_info={"kind": kind}, step=0, path=Path("."))


def test_maze_answers_are_verified_paths_or_abstentions():
    loaded = copy_checkpoint("maze", 6, 25)
    adjacent = "#####\n#SG #\n#   #\n#   #\n#####"  # the copy (no marks) is the shortest path
    sol = solve_text(loaded, adjacent, samples=32, verify=True)[0]
    assert sol.samples == 8 and sol.verified and not sol.abstained and sol.extra["solved"]
    assert len(sol.candidates) == 1 and sol.candidates[0].votes == 8
    apart = "#####\n#S  #\n#   #\n#  G#\n#####"  # the copy marks no path: rejected, abstained
    sol = solve_text(loaded, apart, samples=4, verify=True)[0]
    assert sol.abstained and sol.verified is False and "not one path" in sol.verdicts[0].reason
    assert not solve_text(loaded, apart)[0].abstained  # without --verify the top vote is submitted


def test_arc_votes_over_dihedral_and_colour_copies_and_cannot_verify():
    loaded = copy_checkpoint("arc", 12, 900)
    grid = [[1, 2, 0], [3, 0, 4]]
    sols = solve_arc_task(loaded, {"test": [{"input": grid, "output": grid}]}, samples=3, verify=True)
    sol = sols[0]
    assert sol.extra["output"] == grid and sol.extra["correct"] and sol.extra["vote_margin"] == 3
    assert sol.abstained and sol.verified is None and "no exact verifier" in sol.extra["verifier"]
    assert sol.candidates[0].votes == 3 and np.array_equal(sol.candidates[0].prediction, np.array(grid))


def test_arc_on_a_small_canvas_encodes_at_its_side_and_refuses_larger_grids():
    """An 11x11-canvas checkpoint (seq_len 121, the synthetic family) places grids on 11x11, not 30x30."""
    import pytest

    from hrm_engine.errors import EngineError

    loaded = copy_checkpoint("arc", 12, 121)
    grid = [[c % 10 for c in range(r, r + 10)] for r in range(10)]  # 10x10: fits with its EOS row and column
    sol = solve_arc_task(loaded, {"test": [{"input": grid, "output": grid}]})[0]
    assert sol.inputs.shape == (121,) and sol.extra["output"] == grid and sol.extra["correct"]
    big = [[1] * 12 for _ in range(12)]
    with pytest.raises(EngineError, match=r"test\[0\]\.input: grid 12x12 is larger than the model's 11x11 canvas"):
        solve_arc_task(loaded, {"test": [{"input": big}]}, where="t.json")
