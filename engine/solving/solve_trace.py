"""Watch an answer form: every ACT segment's prediction and halting head, and the hierarchical convergence.

`trace_model` runs the same segments as `solve.run_model` (all `halt_max_steps`, as evaluation does,
or `segments` of them) through the model's own recursion with an observer (`segment_traced`,
models/base.py), so it can record the forward residuals the HRM paper plots: per H step,
||z_L^k - z_L^(k-1)|| after each L step and ||z_H^k - z_H^(k-1)|| after the H step. The segment is the
model's (same updates, same batch shards), so the logits are those of `segment`; a test holds them equal.
The run is driven by act.rollout like evaluation and solving.

TRM (engine/models/trm.py) has one network for both updates, in the same order (L_cycles latent
updates of z_L, then the answer update of z_H, H_cycles times): its norms are the analogous
||z_L^k - z_L^(k-1)|| per latent step and ||z_H^k - z_H^(k-1)|| per answer update. TRM halts on
q_halt > 0 alone (`no_ACT_continue`); its halting confidence is then sigmoid(q_halt).

Norms are L2 over all positions (puzzle prefix included) and hidden units of one puzzle, in float32.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import numpy as np

from hrm_engine.act import rollout
from hrm_engine.run.checkpoint import Loaded
from hrm_engine.errors import EngineError
from hrm_engine.models.base import ReasoningModel
from hrm_engine.solve import Solution, detect_kind, parse_maze, parse_sudoku, sudoku_report


@dataclass
class SegmentTrace:
    """One ACT segment of one puzzle: what the model would answer now, and how sure its halting head is."""

    segment: int  # 1-based
    prediction: np.ndarray  # argmax tokens [S]
    changed: np.ndarray  # bool [S]: differs from the previous segment's answer (segment 1: from the puzzle)
    q_halt: float
    q_continue: float
    residual_L: list[list[float]]  # [H_cycles][L_cycles]
    residual_H: list[float]  # [H_cycles]
    q_halt_only: bool = False  # TRM (no_ACT_continue): halting reads q_halt alone

    @property
    def halt_confidence(self) -> float:
        """sigmoid(q_halt - q_continue) (TRM: sigmoid(q_halt)): above 0.5 exactly when the model would
        halt here (the ACT rule)."""
        margin = self.q_halt if self.q_halt_only else self.q_halt - self.q_continue
        return float(1.0 / (1.0 + np.exp(-margin)))

    @property
    def q_halt_prob(self) -> float:
        """sigmoid(q_halt): the head's estimate that the answer is right (the ARC vote's tie-break)."""
        return float(1.0 / (1.0 + np.exp(-self.q_halt)))

    @property
    def wants_halt(self) -> bool:
        return self.q_halt > 0 if self.q_halt_only else self.q_halt > self.q_continue


@dataclass
class PuzzleTrace:
    """All segments of one puzzle and the final answer (the last segment's, as `hrm solve` gives it)."""

    solution: Solution
    segments: list[SegmentTrace] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"segments": [segment_json(self.solution.kind, s) for s in self.segments]}


def segment_json(kind: str, s: SegmentTrace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "segment": s.segment, "prediction": s.prediction.tolist(),
        "changed": np.nonzero(s.changed)[0].tolist(),
        "q_halt_prob": s.q_halt_prob, "halt_confidence": s.halt_confidence, "wants_halt": s.wants_halt,
        "changed_count": int(np.count_nonzero(s.changed)),
        "residuals": {"z_L": s.residual_L, "z_H": s.residual_H},
    }
    answer = answer_view(kind, s.prediction)
    if answer is not None:
        out["answer"] = answer
    return out


def answer_view(kind: str, prediction: np.ndarray) -> Any:
    """The prediction as a person reads it: Sudoku digit rows (0 blank), maze text rows, ARC grid."""
    n = int(round(len(prediction) ** 0.5))
    if kind == "sudoku":
        return np.where(prediction >= 2, prediction - 1, 0).reshape(n, n).tolist()
    if kind == "maze":
        from hrm_datasets.render import MAZE_CHARS

        chars = ["".join(MAZE_CHARS[int(t) - 1] if 1 <= t <= 5 else "?" for t in prediction[r * n:(r + 1) * n])
                 for r in range(n)]
        return chars
    if kind == "arc":
        from hrm_datasets.arc import crop

        return crop(prediction).tolist()
    return None


def _l2(new: mx.array, old: mx.array) -> mx.array:
    d = new.astype(mx.float32) - old.astype(mx.float32)
    return mx.sqrt(mx.sum(d * d, axis=(1, 2)))


def traced_segment(model: ReasoningModel, z_H: mx.array, z_L: mx.array, inputs: mx.array, rows: mx.array
                   ) -> tuple[mx.array, ...]:
    """One segment of the model, recording residuals: (z_H, z_L, logits, q_halt, q_continue,
    residual_L [B, H_cycles, L_cycles], residual_H [B, H_cycles])."""
    *out, residuals = model.segment_traced(z_H, z_L, inputs, rows, measure=_l2)
    L_cycles = model.config.L_cycles
    return (*out, residuals[:, :, :L_cycles], residuals[:, :, L_cycles])


def halt_step_of(wants: list[bool], limit: int) -> int:
    """The first segment before `limit` whose Q head prefers halting, else `limit` (as `solve.run_model`)."""
    for s, w in enumerate(wants, 1):
        if w and s < limit:
            return s
    return min(limit, len(wants))


def trace_model(loaded: Loaded, inputs: np.ndarray, puzzle_ids: np.ndarray | None = None,
                segments: int | None = None) -> list[PuzzleTrace]:
    """Run `segments` (default `halt_max_steps`) segments on token rows, keeping every segment's view."""
    model = loaded.model
    cfg = model.config
    n_seg = cfg.halt_max_steps if segments is None else int(segments)
    if n_seg < 1:
        raise EngineError(f"the number of segments must be at least 1, got {n_seg}")
    B = len(inputs)
    ids = np.zeros(B, np.int32) if puzzle_ids is None else puzzle_ids.astype(np.int32)
    batch = {"inputs": mx.array(inputs.astype(np.int32)), "labels": mx.zeros((B, cfg.seq_len), mx.int32),
             "puzzle_identifiers": mx.array(ids)}
    traces = [PuzzleTrace(Solution(kind="", inputs=inputs[i], prediction=inputs[i], q_halt_prob=0.0, halt_step=0,
                                   steps_run=n_seg)) for i in range(B)]
    previous = [np.asarray(inputs[i]) for i in range(B)]
    q_halt_only = bool(getattr(cfg, "no_ACT_continue", False))

    def segment(carry: dict[str, mx.array], rows: mx.array) -> tuple[dict[str, mx.array], dict[str, mx.array]]:
        z_H, z_L, logits, qh, qc, rl, rh = traced_segment(model, carry["z_H"], carry["z_L"], carry["inputs"], rows)
        outputs = {"preds": mx.argmax(logits, axis=-1), "q_halt_logits": qh, "q_continue_logits": qc,
                   "residual_L": rl, "residual_H": rh}
        return {**carry, "z_H": z_H, "z_L": z_L, "steps": carry["steps"] + 1}, outputs

    def seen(s: int, _carry: dict[str, mx.array], outputs: dict[str, mx.array]) -> None:
        preds_np, qh_np, qc_np, rl_np, rh_np = (np.array(outputs[k]) for k in (
            "preds", "q_halt_logits", "q_continue_logits", "residual_L", "residual_H"))
        for i, trace in enumerate(traces):
            trace.segments.append(SegmentTrace(
                segment=s, prediction=preds_np[i], changed=preds_np[i] != previous[i], q_halt=float(qh_np[i]),
                q_continue=float(qc_np[i]), residual_L=rl_np[i].tolist(), residual_H=rh_np[i].tolist(),
                q_halt_only=q_halt_only))
            previous[i] = preds_np[i]

    rollout(model, batch, n_seg, segment_fn=segment, on_segment=seen)
    for trace in traces:
        last = trace.segments[-1]
        sol = trace.solution
        sol.prediction, sol.q_halt_prob = last.prediction, last.q_halt_prob
        sol.halt_step = halt_step_of([seg.wants_halt for seg in trace.segments], n_seg)
    return traces


def trace_text(loaded: Loaded, text: str, segments: int | None = None) -> list[PuzzleTrace]:
    """Parse `text` as `solve.solve_text` does and trace it; solutions carry the same report fields."""
    kind = detect_kind(loaded)
    if kind in ("sudoku", "maze"):
        tokens = (parse_sudoku if kind == "sudoku" else parse_maze)(text, loaded)[None]
        traces = trace_model(loaded, tokens, segments=segments)
        for t in traces:
            t.solution.kind = kind
            if kind == "sudoku":
                t.solution.extra = sudoku_report(t.solution)
        return traces
    if kind == "arc":
        return _trace_arc(loaded, text, segments)
    raise EngineError(f"cannot solve puzzles of kind {kind!r}")


def _trace_arc(loaded: Loaded, text: str, segments: int | None) -> list[PuzzleTrace]:
    """Every test input of an ARC task on the reference canvas (as `arc_solve`), traced."""
    from hrm_datasets.arc import crop, encode, to_grid
    from hrm_datasets.errors import DatasetError

    try:
        task = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EngineError(f"the ARC task is not valid JSON (line {exc.lineno}: {exc.msg})") from None
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
        rows.append(encode(grid, np.zeros((1, 1), np.uint8))[0])
    traces = trace_model(loaded, np.stack(rows).astype(np.int64), segments=segments)
    for pair, t in zip(task["test"], traces):
        sol = t.solution
        sol.kind = "arc"
        predicted = crop(sol.prediction)
        sol.extra = {"output": predicted.tolist()}
        if pair.get("output") is not None:
            sol.extra["correct"] = bool(np.array_equal(predicted, np.array(pair["output"])))
    return traces
