"""A solve session with fixed numbers, so the solve screen's snapshots do not depend on float bits."""

from __future__ import annotations

import numpy as np

from hrm_cli.dashboard.solve_session import Answer, Puzzle
from hrm_engine.solve import Solution
from hrm_engine.solving.solve_trace import PuzzleTrace, SegmentTrace

SOLUTION = np.array([1, 3, 2, 4, 2, 4, 1, 3, 3, 1, 4, 2, 4, 2, 3, 1]) + 1  # tokens: digit + 1, 1 = blank
GIVEN = np.array([1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1], bool)
PUZZLE = np.where(GIVEN, SOLUTION, 1)
STEPS = [  # four segments: the answer forms, one wrong cell is fixed at segment 3
    np.where(PUZZLE > 1, PUZZLE, 2),
    np.where(np.arange(16) < 10, SOLUTION, 2),
    np.where(np.arange(16) == 5, 2, SOLUTION),
    SOLUTION,
]


def fixed_trace() -> PuzzleTrace:
    sol = Solution("sudoku", PUZZLE, STEPS[-1], 0.9, 3, len(STEPS))
    trace = PuzzleTrace(sol)
    prev = PUZZLE
    for i, pred in enumerate(STEPS):
        scale = 0.5 ** i
        trace.segments.append(SegmentTrace(
            segment=i + 1, prediction=pred, changed=pred != prev, q_halt=-2.0 + 1.5 * i, q_continue=0.0,
            residual_L=[[20.0 * scale, 8.0 * scale], [12.0 * scale, 4.0 * scale]],
            residual_H=[15.0 * scale, 9.0 * scale]))
        prev = pred
    return trace


class FixedSession:
    """The SolveSession interface over one fixed puzzle and trace."""

    kind = "sudoku"
    build = {"box": [2, 2]}
    step = 1200
    note = ""
    loaded = object()

    def __init__(self) -> None:
        self.puzzles = [Puzzle("test #1", PUZZLE, SOLUTION), Puzzle("test #2", PUZZLE, SOLUTION)]

    def open(self) -> None:
        pass

    def trace(self, puzzle: Puzzle) -> PuzzleTrace:
        return fixed_trace()

    def check(self, puzzle: Puzzle):
        return lambda pred: bool(np.array_equal(pred, SOLUTION))

    def votes(self, puzzle: Puzzle) -> list[Answer]:
        return [Answer(SOLUTION, [], 0.91, votes=7, correct=True), Answer(STEPS[2], [], 0.4, votes=1, correct=False)]

    def parse(self, text: str) -> Puzzle:
        return Puzzle("pasted", PUZZLE)
