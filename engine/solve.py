"""Solve one puzzle with a trained checkpoint: parse, validate against the model's data, run all segments.

Input forms: a Sudoku (N*N characters with '.' or '0' for blanks, or a drawn grid), a Maze (text
rows in the dataset's charset '# SGo', any path marks ignored), or an ARC task JSON (every test
input is predicted). The model always runs `halt_max_steps` segments (as evaluation does) and
reports the step at which its Q head would have halted and its halting confidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import numpy as np

from hrm_datasets.render import MAZE_CHARS
from hrm_engine.act import initial_carry, reset_halted, segment_step
from hrm_engine.checkpoint import Loaded
from hrm_engine.errors import EngineError


@dataclass
class Solution:
    """One solved puzzle: tokens in and out, and what the ACT head thought."""

    kind: str
    inputs: np.ndarray
    prediction: np.ndarray
    q_halt_prob: float
    halt_step: int
    steps_run: int
    extra: dict[str, Any] = field(default_factory=dict)


def detect_kind(loaded: Loaded) -> str:
    kind = loaded.build_info.get("kind")
    if kind:
        return kind
    meta = loaded.metadata
    if meta.vocab_size == 12 and meta.seq_len == 900:
        return "arc"
    if meta.vocab_size == 6 and meta.seq_len > 81:
        return "maze"
    return "sudoku"


def parse_sudoku(text: str, loaded: Loaded) -> np.ndarray:
    from hrm_datasets.errors import DatasetError
    from hrm_datasets.sudoku import parse_grid, solve

    n_model = int(round(loaded.metadata.seq_len ** 0.5))
    try:
        grid, n = parse_grid(text, "puzzle")
    except DatasetError as exc:
        raise EngineError(f"{exc}; this checkpoint solves {n_model}x{n_model} Sudoku") from None
    if n != n_model:
        raise EngineError(f"the puzzle is {n}x{n} but this checkpoint was trained on {n_model}x{n_model} Sudoku")
    try:
        solutions, _ = solve(grid, n, limit=1)  # the exact solver: a puzzle without a solution is refused up front
    except DatasetError as exc:
        raise EngineError(f"the puzzle is invalid: {exc}") from None
    if not solutions:
        raise EngineError("the puzzle has no solution (the givens allow no complete grid); check them and retry")
    return grid.astype(np.int64) + 1


def parse_maze(text: str, loaded: Loaded) -> np.ndarray:
    rows = [line.rstrip("\n") for line in text.splitlines() if line.strip()]
    n = int(round(loaded.metadata.seq_len ** 0.5))
    if len(rows) != n or any(len(r) != n for r in rows):
        shape = f"{len(rows)} rows of lengths {sorted({len(r) for r in rows})}"
        raise EngineError(f"the maze must be {n} rows of {n} characters ({MAZE_CHARS!r}), got {shape}")
    bad = sorted({ch for r in rows for ch in r} - set(MAZE_CHARS))
    if bad:
        raise EngineError(f"the maze has characters {''.join(bad)!r}; use only '#' wall, ' ' open, 'S', 'G'")
    flat = "".join(rows).replace("o", " ")
    if flat.count("S") != 1 or flat.count("G") != 1:
        raise EngineError("the maze needs exactly one start 'S' and one goal 'G'")
    return np.array([MAZE_CHARS.index(ch) + 1 for ch in flat], np.int64)


def run_model(loaded: Loaded, inputs: np.ndarray, puzzle_ids: np.ndarray | None = None) -> list[Solution]:
    """All segments on a batch of token rows; halting step = first segment whose q_halt > q_continue."""
    model = loaded.model
    cfg = model.config
    B = len(inputs)
    ids = np.zeros(B, np.int32) if puzzle_ids is None else puzzle_ids.astype(np.int32)
    batch = {"inputs": mx.array(inputs.astype(np.int32)), "labels": mx.zeros((B, cfg.seq_len), mx.int32),
             "puzzle_identifiers": mx.array(ids)}
    carry = reset_halted(model, initial_carry(model, batch), batch)
    rows = model.puzzle_emb[carry["puzzle_identifiers"]]
    halt_step = np.full(B, cfg.halt_max_steps)
    outputs: dict[str, mx.array] = {}
    for s in range(cfg.halt_max_steps):
        carry, outputs = segment_step(model, carry, rows, training=False)
        mx.eval(carry, outputs)
        wants = np.array(outputs["q_halt_logits"] > outputs["q_continue_logits"])
        halt_step = np.where((halt_step == cfg.halt_max_steps) & wants & (s + 1 < cfg.halt_max_steps), s + 1, halt_step)
    preds = np.array(mx.argmax(outputs["logits"], axis=-1))
    q = np.array(mx.sigmoid(outputs["q_halt_logits"]))
    return [Solution(kind="", inputs=inputs[i], prediction=preds[i], q_halt_prob=float(q[i]),
                     halt_step=int(halt_step[i]), steps_run=cfg.halt_max_steps) for i in range(B)]


def sudoku_report(sol: Solution) -> dict[str, Any]:
    """Whether the predicted grid is a valid Sudoku solution consistent with the givens."""
    from hrm_datasets.sudoku import is_valid_solution

    n = int(round(len(sol.inputs) ** 0.5))
    digits = np.where(sol.prediction >= 2, sol.prediction - 1, 0)
    givens = sol.inputs >= 2
    consistent = bool(np.all(digits[givens] == sol.inputs[givens] - 1))
    valid = bool(np.all(digits > 0) and is_valid_solution(digits, n))
    return {"valid_solution": valid, "consistent_with_givens": consistent, "solved": valid and consistent,
            "grid": digits.reshape(n, n).tolist()}


def solve_text(loaded: Loaded, text: str) -> list[Solution]:
    """Parse `text` for the checkpoint's puzzle kind and solve it."""
    kind = detect_kind(loaded)
    if kind == "sudoku":
        tokens = parse_sudoku(text, loaded)[None]
        sols = run_model(loaded, tokens)
        for s in sols:
            s.kind, s.extra = kind, sudoku_report(s)
        return sols
    if kind == "maze":
        sols = run_model(loaded, parse_maze(text, loaded)[None])
        for s in sols:
            s.kind = kind
        return sols
    if kind == "arc":
        from hrm_engine.arc_solve import solve_arc_task

        try:
            task = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EngineError(f"the ARC task is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        return solve_arc_task(loaded, task, run_model)
    raise EngineError(f"cannot solve puzzles of kind {kind!r}")


def solve_grid(loaded: Loaded, grid: Any) -> Any:
    """Solve a puzzle given as Python data and answer in the same shape (the agent's `hrm_solve`).

    Sudoku: a list of rows of ints (0 = blank) -> the solved rows. Maze: a list of strings
    ('#' wall, ' ' open, 'S', 'G') -> the rows with the path drawn. ARC: a task dict
    ({"train": [...], "test": [...]}) -> one predicted output grid per test input.
    """
    kind = detect_kind(loaded)
    if kind == "sudoku":
        if not (isinstance(grid, (list, tuple)) and all(isinstance(r, (list, tuple)) for r in grid)):
            raise EngineError("hrm_solve expects a Sudoku as a list of rows of ints (0 = blank)")
        text = "\n".join("".join(str(v) if v else "." for v in row) for row in grid)
        sol = solve_text(loaded, text)[0]
        return sol.extra["grid"]
    if kind == "maze":
        if not (isinstance(grid, (list, tuple)) and all(isinstance(r, str) for r in grid)):
            raise EngineError("hrm_solve expects a maze as a list of strings ('#', ' ', 'S', 'G')")
        sol = solve_text(loaded, "\n".join(grid))[0]
        n = len(grid)
        return ["".join(MAZE_CHARS[max(int(t) - 1, 0)] for t in sol.prediction[r * n:(r + 1) * n]) for r in range(n)]
    if kind == "arc":
        if not isinstance(grid, dict):
            raise EngineError("hrm_solve expects an ARC task as a dict with 'train' and 'test' pairs")
        sols = solve_text(loaded, json.dumps(grid))
        return [s.extra.get("output") for s in sols]
    raise EngineError(f"cannot solve puzzles of kind {kind!r}")
