"""Sudoku puzzles from a user's file, each checked by the exact solver: the reference CSV or a plain puzzle list.

Published puzzle lists carry no answers, so a listed puzzle's answer is the exact solver's (datasets/sudoku.py)
and its rating the solver's guesses; a reference CSV row keeps its answer and rating once the solver agrees
that the answer is the puzzle's unique solution. A puzzle without exactly one solution is skipped, counted by
reason (or stops the build with on_invalid="fail"), and more than `max_invalid` of them stop the build: a file
that is mostly not solvable Sudoku is the wrong file. Solving is spread over the CPU's cores for long files
(a hard 9x9 puzzle takes the Python solver about 15 ms).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from hrm_datasets.csvfile import csv_rows
from hrm_datasets.errors import DatasetError
from hrm_datasets.puzzle_list import is_puzzle_list, list_puzzles
from hrm_datasets.sudoku import parse_grid, solve

Puzzle = tuple[np.ndarray, np.ndarray, int]  # (puzzle, solution, rating), flat uint8, 0 = blank
PROBLEMS = {"conflict": "the givens repeat a digit in a row, column or box", "none": "the puzzle has no solution",
            "several": "the puzzle has more than one solution", "wrong": "the answer is not the puzzle's solution"}
BLOCK = 20_000  # puzzles parsed, then solved, at a time: a multi-GB file is never held whole
CHUNK = 64  # puzzles per task sent to a solver process
PARALLEL_FROM = 5_000  # fewer are solved here: at load 6 on 2 cores a pool lost on 1,000 (12.7-15.8 s, not 10-13)


@dataclass
class PuzzleFile:
    """The checked puzzles of one file and what happened to the others (`record()` goes into build.json)."""

    path: Path
    layout: str  # "reference csv" | "puzzle list"
    size: int = 0
    puzzles: list[Puzzle] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "file:line: problem", in file order
    reasons: dict[str, int] = field(default_factory=dict)  # problem -> count
    below_min_rating: int = 0

    @property
    def answers(self) -> str:
        return "exact solver" if self.layout == "puzzle list" else "file, checked by the exact solver"

    def record(self) -> dict[str, Any]:
        return {"file": str(self.path), "layout": self.layout, "answers": self.answers,
                "puzzles": len(self.puzzles), "skipped": len(self.skipped), "skipped_by_reason": dict(self.reasons),
                "below_min_rating": self.below_min_rating}


def _solve_chunk(args: tuple[int, list[bytes]]) -> list[tuple[str, bytes | None, int]]:
    """(status, solution, guesses) per puzzle: status ok, conflict, none or several."""
    n, grids = args
    out = []
    for grid in grids:
        try:
            solutions, nodes = solve(np.frombuffer(grid, np.uint8), n, limit=2)
        except DatasetError:
            out.append(("conflict", None, 0))
            continue
        status = "ok" if len(solutions) == 1 else ("none" if not solutions else "several")
        out.append((status, bytes(solutions[0]) if status == "ok" else None, nodes))
    return out


class _Solver:
    """Solve blocks of puzzles in order, in a pool of processes when a block is long enough to pay for one."""

    def __init__(self) -> None:
        self.pool = None

    def __enter__(self) -> "_Solver":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.pool is not None:
            self.pool.terminate()

    def __call__(self, n: int, grids: list[bytes]) -> Iterator[tuple[str, bytes | None, int]]:
        jobs = [(n, grids[i:i + CHUNK]) for i in range(0, len(grids), CHUNK)]
        workers = min(len(jobs), os.cpu_count() or 1)
        if len(grids) < PARALLEL_FROM or workers <= 1:
            parts: Iterable = map(_solve_chunk, jobs)
        else:
            if self.pool is None:
                self.pool = mp.get_context("fork").Pool(workers)
            parts = self.pool.imap(_solve_chunk, jobs)
        for part in parts:
            yield from part


def _reference_rows(path: Path, min_rating: int | None, out: PuzzleFile
                    ) -> Iterator[tuple[int, np.ndarray, np.ndarray | None, int | None]]:
    """(line, puzzle, answer, rating) of a reference CSV (source,q,a,rating), rows rated below min_rating dropped."""
    lines = csv_rows(path)  # UTF-8 line by line: a bad byte, a NUL or a broken quote is one line with its number
    _, header = next(lines, (0, None))
    if header is None:
        raise DatasetError(f"{path}: the file is empty; expected a header source,q,a,rating")
    if len(header) < 3 or header[1].strip().lower() not in ("q", "question", "puzzle"):
        raise DatasetError(f"{path}:1: expected a header source,q,a,rating (the reference layout) or a plain list of "
                           f"81-character puzzles, got {','.join(header)[:60]!r}")
    for line, fields in lines:
        if not fields or all(not f.strip() for f in fields):
            continue
        where = f"{path}:{line}"
        if len(fields) < 3:
            raise DatasetError(f"{where}: expected source,q,a,rating, got {len(fields)} fields")
        q, n = parse_grid(fields[1], where)
        a, n_a = parse_grid(fields[2], where)
        if n_a != n or (a == 0).any():
            raise DatasetError(f"{where}: the answer must be a complete {n}x{n} grid")
        if not out.size:
            out.size = n
        elif n != out.size:
            raise DatasetError(f"{where}: a {n}x{n} grid in a file of {out.size}x{out.size} grids")
        try:
            rating = int(float(fields[3])) if len(fields) > 3 and fields[3].strip() else 0
        except (ValueError, OverflowError):
            raise DatasetError(f"{where}: the rating {fields[3]!r} is not a number") from None
        if min_rating is not None and rating < min_rating:
            out.below_min_rating += 1
            continue
        yield line, q, a, rating


def _listed_rows(path: Path, out: PuzzleFile) -> Iterator[tuple[int, np.ndarray, np.ndarray | None, int | None]]:
    """(line, puzzle, solution column or None, None) of a plain puzzle list: the rating is the solver's."""
    for item in list_puzzles(path):
        out.size = item.size
        yield item.line, item.puzzle, item.solution, None


def _blocks(rows: Iterator, size: int) -> Iterator[list]:
    block = []
    for row in rows:
        block.append(row)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def read_puzzle_file(path: Path, on_invalid: str = "skip", min_rating: int | None = None,
                     max_invalid: int | None = None) -> PuzzleFile:
    """Every puzzle of a reference CSV or plain list with exactly one solution (the layout is detected)."""
    path = Path(path)
    listed = is_puzzle_list(path)
    out = PuzzleFile(path, "puzzle list" if listed else "reference csv")
    rows = _listed_rows(path, out) if listed else _reference_rows(path, min_rating, out)
    with _Solver() as solver:
        for block in _blocks(rows, BLOCK):
            results = solver(out.size, [q.tobytes() for _, q, _, _ in block])
            for (line, q, given, rating), (status, solution, nodes) in zip(block, results):
                answer = None if solution is None else np.frombuffer(solution, np.uint8).copy()
                if status == "ok" and given is not None and not np.array_equal(given, answer):
                    status = "wrong"
                if status != "ok":
                    _skip(out, f"{path}:{line}", status, on_invalid, max_invalid)
                    continue
                if rating is None:  # a listed puzzle: the solver's guesses rate it
                    rating = nodes
                    if min_rating is not None and rating < min_rating:
                        out.below_min_rating += 1
                        continue
                out.puzzles.append((q, answer, rating))
    if not out.size:
        raise DatasetError(f"{path}: no puzzle rows")
    return out


def _skip(out: PuzzleFile, where: str, status: str, on_invalid: str, max_invalid: int | None) -> None:
    problem = PROBLEMS[status]
    if on_invalid == "fail":
        raise DatasetError(f"{where}: {problem} (use --on-invalid skip to drop such rows)")
    out.skipped.append(f"{where}: {problem}")
    out.reasons[problem] = out.reasons.get(problem, 0) + 1
    if max_invalid is not None and len(out.skipped) > max_invalid:
        raise DatasetError(f"{where}: more than {max_invalid} puzzles without exactly one solution (this one: "
                           f"{problem}); is {out.path.name} a Sudoku puzzle file? --max-invalid N allows more")
