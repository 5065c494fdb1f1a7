"""What the solve screen works on, apart from the UI: a run's checkpoint, its held-out puzzles, traces.

Everything here is slow (loading a model, running all segments) and is called from a worker
thread; the screen only shows what comes back. The puzzles are the test split of the dataset the
run was trained on (run.json's `data`), looked up where the run was started from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrm_engine.solving.solve_trace import PuzzleTrace, SegmentTrace

MAX_PUZZLES = 1000  # held-out puzzles offered (a Sudoku-Extreme test split has 400k)
VOTE_SAMPLES = 8


@dataclass
class Puzzle:
    """One puzzle to solve: tokens in, and the dataset's answer when it has one."""

    name: str
    inputs: np.ndarray
    labels: np.ndarray | None = None
    puzzle_id: int = 0


@dataclass
class Answer:
    """A distinct answer across segments (the segments' own candidates) or across voted samples."""

    prediction: np.ndarray
    segments: list[int]
    confidence: float  # segments: best halting confidence; votes: mean sigmoid(q_halt)
    votes: int = 0
    correct: bool | None = None  # equals the dataset's answer, or passes the puzzle's checker


def segment_answers(trace: PuzzleTrace, check: Any) -> list[Answer]:
    """The distinct predictions of a trace, newest first: which segments gave each and how sure."""
    pools: dict[bytes, Answer] = {}
    for seg in trace.segments:
        key = np.asarray(seg.prediction, np.int64).tobytes()
        if key not in pools:
            pools[key] = Answer(seg.prediction, [], 0.0, correct=check(seg.prediction))
        pools[key].segments.append(seg.segment)
        pools[key].confidence = max(pools[key].confidence, seg.halt_confidence)
    return sorted(pools.values(), key=lambda a: -a.segments[-1])


def find_dataset(data: str | None, run_path: Path, runs_root: Path) -> Path | None:
    """The run's dataset folder: as recorded, or relative to the folder holding the runs directory."""
    if not data:
        return None
    path = Path(data)
    bases = [Path.cwd(), runs_root.resolve().parent, run_path.resolve().parent.parent]
    for candidate in ([path] if path.is_absolute() else [b / path for b in bases]):
        if (candidate / "test" / "dataset.json").is_file():
            return candidate
    return None


class SolveSession:
    """A checkpoint opened for solving (`open` loads it), its held-out puzzles and traces of them.

    MLX binds streams to the thread that made them (the model's CPU streams among them), so every
    call that touches the model runs on one thread of the session's own, whichever thread asks.
    """

    def __init__(self, run_path: Path, runs_root: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._mlx = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hrm-solve")
        self.run_path = Path(run_path)
        self.runs_root = Path(runs_root)
        self.loaded: Any = None
        self.kind = ""
        self.build: dict[str, Any] = {}
        self.puzzles: list[Puzzle] = []
        self.note = ""  # why there are no held-out puzzles, if there are none

    def open(self) -> None:
        self._mlx.submit(self._open).result()

    def _open(self) -> None:
        from hrm_engine.run.checkpoint import load_checkpoint
        from hrm_cli.dashboard.runlog import read_json
        from hrm_engine.solve import detect_kind

        self.loaded = load_checkpoint(self.run_path)
        self.kind = detect_kind(self.loaded)
        self.build = dict(self.loaded.build_info or {})
        info = read_json(self.run_path / "run.json")  # None when missing or unreadable
        data = (info or {}).get("data") or self.loaded.config.get("data_path")
        root = find_dataset(data, self.run_path, self.runs_root)
        if root is None:
            self.note = f"the run's dataset ({data or 'not recorded'}) is not here: paste a puzzle with i"
            return
        self.puzzles = held_out(root, int(self.loaded.metadata.seq_len))
        if not self.puzzles:
            self.note = f"{root}/test has no puzzles of this checkpoint's size: paste one with i"

    @property
    def step(self) -> int:
        return int(self.loaded.step) if self.loaded is not None else 0

    def trace(self, puzzle: Puzzle) -> PuzzleTrace:
        return self._mlx.submit(self._trace, puzzle).result()

    def _trace(self, puzzle: Puzzle) -> PuzzleTrace:
        from hrm_engine.solving.solve_trace import trace_model

        trace = trace_model(self.loaded, puzzle.inputs[None], np.array([puzzle.puzzle_id]))[0]
        trace.solution.kind = self.kind
        return trace

    def check(self, puzzle: Puzzle) -> Any:
        """`answer -> correct?`: against the dataset's answer, or the puzzle's own rules when pasted."""
        if puzzle.labels is not None:
            labels = puzzle.labels
            mask = labels >= 0
            return lambda pred: bool(np.array_equal(np.asarray(pred)[mask], labels[mask]))
        if self.kind == "sudoku":
            from hrm_engine.solve import Solution, sudoku_report

            return lambda pred: sudoku_report(Solution("sudoku", puzzle.inputs, pred, 0.0, 0, 0))["solved"]
        if self.kind == "maze":
            try:
                from hrm_datasets.verify import verify_maze
            except ImportError:  # no maze checker in this engine: correctness unknown
                return lambda pred: None
            return lambda pred: bool(verify_maze(puzzle.inputs, np.asarray(pred)).ok)
        return lambda pred: None

    def votes(self, puzzle: Puzzle) -> list[Answer] | None:
        """The test-time vote over transformed copies, where the engine offers one (Sudoku, Maze)."""
        return self._mlx.submit(self._votes, puzzle).result()

    def _votes(self, puzzle: Puzzle) -> list[Answer] | None:
        try:
            from hrm_engine.solve import solve_samples
        except ImportError:  # an engine without test-time augmentation: the segments' answers are shown
            return None
        if self.kind not in ("sudoku", "maze"):
            return None
        sol = solve_samples(self.loaded, self.kind, puzzle.inputs, samples=VOTE_SAMPLES)
        check = self.check(puzzle)
        return [Answer(c.prediction, [], float(c.confidence), votes=int(c.votes), correct=check(c.prediction))
                for c in sol.candidates]

    def close(self) -> None:
        """Drop queued work and wait for the running call: MLX aborts the process if a thread of its
        is still computing when Python exits."""
        self._mlx.shutdown(wait=True, cancel_futures=True)

    def parse(self, text: str) -> Puzzle:
        """A pasted puzzle in the forms `hrm solve` reads (an ARC task: its first test input)."""
        from hrm_engine.errors import EngineError
        from hrm_engine.solve import parse_maze, parse_sudoku

        if self.kind == "sudoku":
            return Puzzle("pasted", parse_sudoku(text, self.loaded))
        if self.kind == "maze":
            return Puzzle("pasted", parse_maze(text, self.loaded))
        if self.kind == "arc":
            from hrm_datasets.arc import encode, to_grid
            from hrm_datasets.errors import DatasetError

            try:
                task = json.loads(text)
                grid = to_grid(task["test"][0]["input"], "test[0].input")
            except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
                raise EngineError(f"paste an ARC task JSON with a 'test' input ({exc})") from None
            except DatasetError as exc:
                raise EngineError(str(exc)) from None
            out = task["test"][0].get("output")
            try:
                x, y = encode(grid, to_grid(out, "test[0].output") if out else np.zeros((1, 1), np.uint8))
            except DatasetError as exc:
                raise EngineError(str(exc)) from None
            labels = np.where(y == 0, -100, y).astype(np.int64) if out else None  # pad is not scored
            return Puzzle("pasted", x.astype(np.int64), labels)
        raise EngineError(f"cannot solve puzzles of kind {self.kind!r}")


def held_out(root: Path, seq_len: int) -> list[Puzzle]:
    """The first MAX_PUZZLES test examples (the first example of each puzzle for ARC's augmented sets)."""
    from hrm_datasets.format import load_split

    meta, sets = load_split(root, "test")
    if meta.seq_len != seq_len:
        return []
    out: list[Puzzle] = []
    for set_name, arrays in sets.items():
        starts = np.asarray(arrays.puzzle_indices)
        for p in range(len(starts) - 1):
            i = int(starts[p])
            if i >= int(starts[p + 1]):
                continue
            labels = np.asarray(arrays.labels[i]).astype(np.int64)
            if meta.ignore_label_id is not None:
                labels = np.where(labels == meta.ignore_label_id, -100, labels)
            name = f"test #{len(out) + 1}" + (f" ({set_name})" if len(sets) > 1 else "")
            out.append(Puzzle(name, np.asarray(arrays.inputs[i]).astype(np.int64), labels,
                              int(arrays.puzzle_identifiers[p])))
            if len(out) >= MAX_PUZZLES:
                return out
    return out


def residual_series(trace: PuzzleTrace) -> tuple[list[float], list[float], list[float], list[float]]:
    """The convergence plot's points: ‖Δz_H‖ at each H step (x = H steps so far), ‖Δz_L‖ at each L
    step between them (x = fractions of an H step)."""
    hx, hy, lx, ly = [], [], [], []
    step = 0
    for seg in trace.segments:
        for h, (rh, rl) in enumerate(zip(seg.residual_H, seg.residual_L)):
            for j, v in enumerate(rl):
                lx.append(step + (j + 1) / (len(rl) + 1))
                ly.append(max(float(v), 1e-6))
            step += 1
            hx.append(float(step))
            hy.append(max(float(rh), 1e-6))
    return hx, hy, lx, ly


def h_steps(seg: SegmentTrace) -> int:
    return len(seg.residual_H)
