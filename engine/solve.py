"""Solve one puzzle with a trained checkpoint: parse, validate against the model's data, run all segments.

Input forms: a Sudoku (N*N characters with '.' or '0' for blanks, or a drawn grid), a Maze (text
rows in the dataset's charset '# SGo', any path marks ignored), or an ARC task JSON (every test
input is predicted). The model runs `halt_max_steps` segments (as evaluation does; `segments`
asks for more) and reports the step at which its Q head would have halted and its halting confidence.

With `samples` K > 1 the puzzle is solved as K transformed copies in one batch (Sudoku: digit
relabelling, transposition, band/stack permutations; Maze: the 8 dihedral symmetries; ARC:
dihedral x colour permutation), each answer mapped back and voted on (`hrm_engine.solving.voting`). Every
distinct candidate is checked by the exact verifier of its kind (`hrm_datasets.verify`); with
`verify`, the answer is the best-ranked candidate that passes, or none (`abstained`; the CLI exits
with `UNVERIFIED_EXIT_CODE`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

# Imported up front, not lazily: the agent's sandbox imports this module, then forbids file reads.
from hrm_datasets.render import MAZE_CHARS
from hrm_datasets.verify import verify_maze
from hrm_datasets.verify import verify as check
from hrm_engine.run.checkpoint import Loaded
from hrm_engine.errors import EngineError
from hrm_engine.solving.arc_solve import solve_arc_task
from hrm_engine.solving.solution import Solution
from hrm_engine.solving.tta import check_samples, run_rows, sample_predictions, transforms_for
from hrm_engine.solving.voting import vote

UNVERIFIED_EXIT_CODE = 5  # `hrm solve --verify`: no candidate passed the verifier (4 is a failed write)


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


def parse_sudoku(text: str, loaded: Loaded, where: str = "puzzle") -> np.ndarray:
    """Sudoku tokens (digit + 1) from text; `where` names the source (a file, stdin) in every message."""
    from hrm_datasets.errors import DatasetError
    from hrm_datasets.sudoku import parse_grid, solve

    n_model = int(round(loaded.metadata.seq_len ** 0.5))
    try:
        grid, n = parse_grid(text, where)
    except DatasetError as exc:
        raise EngineError(f"{exc}; this checkpoint solves {n_model}x{n_model} Sudoku") from None
    if n != n_model:
        raise EngineError(f"{where}: the puzzle is {n}x{n} but this checkpoint was trained on {n_model}x{n_model} Sudoku")
    try:
        solutions, _ = solve(grid, n, limit=1)  # the exact solver: a puzzle without a solution is refused up front
    except DatasetError as exc:
        raise EngineError(f"{where}: the puzzle is invalid: {exc}") from None
    if not solutions:
        raise EngineError(f"{where}: the puzzle has no solution (the givens allow no complete grid); check them and retry")
    return grid.astype(np.int64) + 1


def parse_maze(text: str, loaded: Loaded, where: str = "puzzle") -> np.ndarray:
    """Maze tokens from text rows in the charset '# SGo' (path marks ignored); `where` names the source."""
    rows = [line.rstrip("\n") for line in text.splitlines() if line.strip()]
    n = int(round(loaded.metadata.seq_len ** 0.5))
    if len(rows) != n or any(len(r) != n for r in rows):
        shape = f"{len(rows)} rows of lengths {sorted({len(r) for r in rows})}"
        raise EngineError(f"{where}: the maze must be {n} rows of {n} characters ({MAZE_CHARS!r}), got {shape}")
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            if ch not in MAZE_CHARS:
                shown = f"'{ch}'" if ch.isprintable() else ascii(ch)
                raise EngineError(f"{where}: character {shown} (U+{ord(ch):04X}) at row {r + 1}, column {c + 1} is "
                                  f"not a maze cell; use only '#' wall, ' ' open, 'S', 'G' (and 'o' path)")
    flat = "".join(rows).replace("o", " ")
    if flat.count("S") != 1 or flat.count("G") != 1:
        raise EngineError(f"{where}: the maze needs exactly one start 'S' and one goal 'G'")
    return np.array([MAZE_CHARS.index(ch) + 1 for ch in flat], np.int64)


def run_model(loaded: Loaded, inputs: np.ndarray, puzzle_ids: np.ndarray | None = None,
              segments: int | None = None) -> list[Solution]:
    """All segments on a batch of token rows; halting step = first segment whose q_halt > q_continue."""
    out = run_rows(loaded.model, inputs, puzzle_ids, segments)
    return [Solution(kind="", inputs=inputs[i], prediction=out.preds[i], q_halt_prob=float(out.confidence[i]),
                     halt_step=int(out.halt_step[i]), steps_run=out.segments) for i in range(len(inputs))]


def solve_samples(loaded: Loaded, kind: str, tokens: np.ndarray, samples: int = 1, segments: int | None = None,
                  verify: bool = False, seed: int = 0) -> Solution:
    """One Sudoku or Maze token row as `samples` transformed copies: vote, verify, pick the answer."""
    transforms = transforms_for(kind, len(tokens), samples, seed)
    out = sample_predictions(loaded.model, tokens[None], transforms, segments, max_rows=max(len(transforms), 1))
    candidates = vote(out.preds[0], out.confidence[0])
    verdicts = [check(kind, tokens, c.prediction) for c in candidates]
    sol = Solution(kind=kind, inputs=tokens, prediction=candidates[0].prediction,
                   q_halt_prob=float(out.confidence[0, 0]), halt_step=int(out.halt_step[0, 0]),
                   steps_run=out.segments, candidates=candidates, verdicts=verdicts, samples=len(transforms))
    choose(sol, verify)
    return sol


def choose(sol: Solution, verify: bool) -> None:
    """Set the submitted answer: the top candidate, or with `verify` the best-ranked verified one."""
    passed = [i for i, v in enumerate(sol.verdicts) if v is not None and v.ok]
    pick = (passed[0] if passed else None) if verify else 0
    sol.abstained = pick is None
    if pick is not None:
        sol.prediction = sol.candidates[pick].prediction
    verdict = sol.verdicts[pick if pick is not None else 0] if sol.verdicts else None
    sol.verified = None if verdict is None else bool(verdict.ok)


def candidates_json(sol: Solution) -> list[dict[str, Any]]:
    """The ranked candidates for `--json`: answer, votes, confidence and the verifier's verdict."""
    rows = []
    for cand, verdict in zip(sol.candidates, sol.verdicts or [None] * len(sol.candidates)):
        row: dict[str, Any] = {"prediction": cand.prediction, "votes": cand.votes,
                               "confidence": round(cand.confidence, 6), "samples": cand.samples,
                               "verified": None if verdict is None else verdict.ok}
        if verdict is not None and verdict.reason:
            row["reason"] = verdict.reason
        if verdict is not None and verdict.shortest is not None:
            row["shortest"] = verdict.shortest
        rows.append(row)
    return rows


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


def maze_report(sol: Solution) -> dict[str, Any]:
    """The maze verifier's verdict on the submitted path: a path from S to G, and a shortest one."""
    verdict = verify_maze(sol.inputs, sol.prediction)
    return {"solved": verdict.ok, "shortest": verdict.shortest, **({"reason": verdict.reason} if verdict.reason else {})}


def solve_text(loaded: Loaded, text: str, samples: int = 1, segments: int | None = None,
               verify: bool = False, seed: int = 0, where: str = "puzzle") -> list[Solution]:
    """Parse `text` for the checkpoint's puzzle kind and solve it.

    `samples`: transformed copies voted on (1 = the plain forward pass). `segments`: ACT segments to
    run (default the checkpoint's halt_max_steps; more refines longer). `verify`: submit only a
    verified candidate (`Solution.abstained` when none passed). `seed`: the Sudoku/ARC transform draws.
    `where`: the text's source (`--puzzle`, a file, stdin), named in every message about bad input.
    """
    check_samples(samples)
    if segments is not None and segments < 1:
        raise EngineError(f"--max-segments must be at least 1, got {segments}")
    kind = detect_kind(loaded)
    if kind in ("sudoku", "maze"):
        tokens = (parse_sudoku if kind == "sudoku" else parse_maze)(text, loaded, where)
        sol = solve_samples(loaded, kind, tokens, samples, segments, verify, seed)
        sol.extra = sudoku_report(sol) if kind == "sudoku" else maze_report(sol)
        return [sol]
    if kind == "arc":
        try:
            task = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EngineError(f"{where}:{exc.lineno}: the ARC task is not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise EngineError(f"{where}: the ARC task's JSON is nested too deeply") from None
        return solve_arc_task(loaded, task, samples=samples, segments=segments, verify=verify, seed=seed, where=where)
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
