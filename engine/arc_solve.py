"""Solve an ARC task JSON with a checkpoint: every test input on the reference canvas, at the origin."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from hrm_datasets.arc import crop, encode, to_grid
from hrm_datasets.errors import DatasetError
from hrm_engine.errors import EngineError


def solve_arc_task(loaded: Any, task: Any, run_model: Callable) -> list:
    """Predict the output of each test input. An unseen task gets the blank puzzle id (0)."""
    if not isinstance(task, dict) or not isinstance(task.get("test"), list) or not task["test"]:
        raise EngineError("an ARC task needs a non-empty 'test' list of {\"input\": grid} items")
    rows = []
    for i, pair in enumerate(task["test"]):
        if not isinstance(pair, dict) or "input" not in pair:
            raise EngineError(f"test[{i}] needs an 'input' grid")
        try:
            grid = to_grid(pair["input"], f"test[{i}].input")
        except DatasetError as exc:
            raise EngineError(str(exc)) from None
        x, _ = encode(grid, np.zeros((1, 1), np.uint8))
        rows.append(x)
    solutions = run_model(loaded, np.stack(rows).astype(np.int64))
    for i, sol in enumerate(solutions):
        sol.kind = "arc"
        predicted = crop(sol.prediction)
        sol.extra = {"output": predicted.tolist(),
                     "note": "puzzle id 0 (<blank>): tasks unseen in training have no learned puzzle embedding"}
        expected = task["test"][i].get("output")
        if expected is not None:
            sol.extra["correct"] = bool(np.array_equal(predicted, np.array(expected)))
    return solutions
