"""Solve an ARC task JSON with a checkpoint: every test input on the checkpoint's canvas (30x30 as the
reference, 11x11 for the synthetic family: read off its seq_len), at the origin.

With `samples` K > 1 every test input is also predicted under K - 1 (dihedral, colour permutation)
transforms, as the builder augments; each cropped prediction is mapped back and voted on. ARC has
no exact verifier: the vote margin (top votes minus the runner-up's) is reported instead, and
`verify` always abstains.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hrm_datasets.arc import crop, encode
from hrm_datasets.augment import arc_transforms
from hrm_datasets.verify import ARC_NOTE
from hrm_engine.solving.arc_task import model_canvas, parse_arc_task
from hrm_engine.solving.solution import Solution
from hrm_engine.solving.tta import run_rows
from hrm_engine.solving.voting import vote, vote_margin


def solve_arc_task(loaded: Any, task: Any, samples: int = 1, segments: int | None = None, verify: bool = False,
                   seed: int = 0, where: str = "task") -> list:
    """Predict the output of each test input. An unseen task gets the blank puzzle id (0).

    `where` names the task's source (a file, stdin) in messages about a malformed task.
    """
    canvas = model_canvas(loaded.metadata)
    parsed = parse_arc_task(task, canvas, where)
    grids = [inp for inp, _ in parsed.tests]
    expected = [out for _, out in parsed.tests]
    transforms = arc_transforms(samples, seed)
    K = len(transforms)
    rows = [encode(t.apply(g), np.zeros((1, 1), np.uint8), canvas=canvas)[0] for g in grids for t in transforms]
    out = run_rows(loaded.model, np.stack(rows).astype(np.int64), segments=segments)
    solutions = []
    for i, grid in enumerate(grids):
        preds = [transforms[j].invert(crop(out.preds[i * K + j])) for j in range(K)]
        candidates = vote(preds, out.confidence[i * K:(i + 1) * K])
        first = i * K  # sample 0 is the un-augmented input
        predicted = candidates[0].prediction
        board = out.preds[first] if 0 in candidates[0].samples else encode(predicted, predicted, canvas=canvas)[0]
        sol = Solution(kind="arc", inputs=np.asarray(rows[first]), prediction=board,
                       q_halt_prob=float(out.confidence[first]), halt_step=int(out.halt_step[first]),
                       steps_run=out.segments, candidates=candidates, verdicts=[None] * len(candidates), samples=K,
                       abstained=verify)
        sol.extra = {"output": predicted.tolist(), "vote_margin": vote_margin(candidates), "verifier": ARC_NOTE,
                     "note": "puzzle id 0 (<blank>): tasks unseen in training have no learned puzzle embedding"}
        if expected[i] is not None:
            sol.extra["correct"] = bool(np.array_equal(predicted, expected[i]))
        solutions.append(sol)
    return solutions
