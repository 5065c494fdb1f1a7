"""Solve an ARC task JSON with a checkpoint: every test input on the reference canvas, at the origin.

With `samples` K > 1 every test input is also predicted under K - 1 (dihedral, colour permutation)
transforms, as the builder augments; each cropped prediction is mapped back and voted on. ARC has
no exact verifier: the vote margin (top votes minus the runner-up's) is reported instead, and
`verify` always abstains.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hrm_datasets.arc import crop, encode, to_grid
from hrm_datasets.augment import arc_transforms
from hrm_datasets.errors import DatasetError
from hrm_datasets.verify import ARC_NOTE
from hrm_engine.errors import EngineError
from hrm_engine.tta import run_rows
from hrm_engine.voting import vote, vote_margin


def solve_arc_task(loaded: Any, task: Any, samples: int = 1, segments: int | None = None, verify: bool = False,
                   seed: int = 0, where: str = "task") -> list:
    """Predict the output of each test input. An unseen task gets the blank puzzle id (0).

    `where` names the task's source (a file, stdin) in messages about a malformed task.
    """
    from hrm_engine.solve import Solution  # solve.py imports this module lazily: no cycle at import time

    if not isinstance(task, dict) or not isinstance(task.get("test"), list) or not task["test"]:
        raise EngineError(f"{where}: an ARC task needs a non-empty 'test' list of {{\"input\": grid}} items")
    grids, expected = [], []
    for i, pair in enumerate(task["test"]):
        if not isinstance(pair, dict) or "input" not in pair:
            raise EngineError(f"{where}: test[{i}] needs an 'input' grid")
        try:
            grids.append(to_grid(pair["input"], f"{where}: test[{i}].input"))
            has_output = pair.get("output") is not None
            expected.append(to_grid(pair["output"], f"{where}: test[{i}].output") if has_output else None)
        except DatasetError as exc:
            raise EngineError(str(exc)) from None
    transforms = arc_transforms(samples, seed)
    K = len(transforms)
    rows = [encode(t.apply(g), np.zeros((1, 1), np.uint8))[0] for g in grids for t in transforms]
    out = run_rows(loaded.model, np.stack(rows).astype(np.int64), segments=segments)
    solutions = []
    for i, grid in enumerate(grids):
        preds = [transforms[j].invert(crop(out.preds[i * K + j])) for j in range(K)]
        candidates = vote(preds, out.confidence[i * K:(i + 1) * K])
        first = i * K  # sample 0 is the un-augmented input
        predicted = candidates[0].prediction
        canvas = out.preds[first] if 0 in candidates[0].samples else encode(predicted, predicted)[0]
        sol = Solution(kind="arc", inputs=np.asarray(rows[first]), prediction=canvas,
                       q_halt_prob=float(out.confidence[first]), halt_step=int(out.halt_step[first]),
                       steps_run=out.segments, candidates=candidates, verdicts=[None] * len(candidates), samples=K,
                       abstained=verify)
        sol.extra = {"output": predicted.tolist(), "vote_margin": vote_margin(candidates), "verifier": ARC_NOTE,
                     "note": "puzzle id 0 (<blank>): tasks unseen in training have no learned puzzle embedding"}
        if expected[i] is not None:
            sol.extra["correct"] = bool(np.array_equal(predicted, expected[i]))
        solutions.append(sol)
    return solutions
