"""An ARC task read for one checkpoint: its grids checked against the model's canvas.

A checkpoint trained on an 11x11 canvas (the synthetic family, seq_len 121) cannot place a 12x12 grid,
and one trained on the reference's 30x30 canvas reads tokens of 900; the canvas is therefore read off
the checkpoint (sqrt of its seq_len), never assumed, and a grid that does not fit is refused in one
line naming the pair, before any model work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrm_datasets.arc import to_grid
from hrm_datasets.errors import DatasetError
from hrm_engine.errors import EngineError

Pair = tuple[np.ndarray, np.ndarray]


def model_canvas(metadata: Any) -> int:
    """The side of the square canvas the checkpoint was trained on (11 for seq_len 121, 30 for 900)."""
    n = int(metadata.seq_len)
    side = int(round(n ** 0.5))
    if side * side != n:
        raise EngineError(f"the checkpoint's seq_len {n} is not a square ARC canvas; is it an ARC checkpoint?")
    return side


@dataclass
class ArcTask:
    """Demonstration pairs (may be empty unless asked for) and test pairs (output None when not given)."""

    demos: list[Pair]
    tests: list[tuple[np.ndarray, np.ndarray | None]]
    name: str = "task"


def _grid(value: Any, where: str, canvas: int) -> np.ndarray:
    try:
        grid = to_grid(value, where)
    except DatasetError as exc:
        raise EngineError(str(exc)) from None
    if max(grid.shape) > canvas:
        raise EngineError(f"{where}: grid {grid.shape[0]}x{grid.shape[1]} is larger than the model's "
                          f"{canvas}x{canvas} canvas")
    return grid


def parse_arc_task(task: Any, canvas: int, where: str = "task", need_demos: bool = False) -> ArcTask:
    """Check an ARC task dict ({"train": [...], "test": [...]}) for a model of side `canvas`.

    Test outputs larger than the canvas are kept as given (they only decide correctness). With
    `need_demos` the task must have at least one demonstration pair with both grids, all fitting.
    """
    if not isinstance(task, dict) or not isinstance(task.get("test"), list) or not task["test"]:
        raise EngineError(f"{where}: an ARC task needs a non-empty 'test' list of {{\"input\": grid}} items")
    tests = []
    for i, pair in enumerate(task["test"]):
        if not isinstance(pair, dict) or "input" not in pair:
            raise EngineError(f"{where}: test[{i}] needs an 'input' grid")
        inp = _grid(pair["input"], f"{where}: test[{i}].input", canvas)
        out = None
        if pair.get("output") is not None:
            try:
                out = to_grid(pair["output"], f"{where}: test[{i}].output")
            except DatasetError as exc:
                raise EngineError(str(exc)) from None
        tests.append((inp, out))
    demos: list[Pair] = []
    train = task.get("train")
    if need_demos:
        if not isinstance(train, list) or not train:
            raise EngineError(f"{where}: no demonstration pairs ('train' is missing or empty); adaptation chooses "
                              f"the task's embedding from them")
        for i, pair in enumerate(train):
            if not isinstance(pair, dict) or "input" not in pair or "output" not in pair:
                raise EngineError(f"{where}: train[{i}] needs an 'input' and an 'output' grid")
            demos.append((_grid(pair["input"], f"{where}: train[{i}].input", canvas),
                          _grid(pair["output"], f"{where}: train[{i}].output", canvas)))
    return ArcTask(demos=demos, tests=tests, name=Path(where).stem if where.endswith(".json") else where)


def read_arc_task(path: Path, canvas: int, need_demos: bool = False) -> ArcTask:
    """An ARC task JSON file, checked as `parse_arc_task` does; one line for an unreadable file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EngineError(f"{path}: not UTF-8 text; an ARC task is JSON") from None
    except OSError as exc:
        raise EngineError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_arc_text(text, canvas, str(path), need_demos)


def parse_arc_text(text: str, canvas: int, where: str, need_demos: bool = False) -> ArcTask:
    """`parse_arc_task` on JSON text; one line for text that is not JSON."""
    try:
        task = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EngineError(f"{where}:{exc.lineno}: the ARC task is not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise EngineError(f"{where}: the ARC task's JSON is nested too deeply") from None
    return parse_arc_task(task, canvas, where, need_demos)
