"""Test-time augmentation: K transformed copies of each puzzle in one batch, predictions mapped back.

Sudoku and Maze copies come from `hrm_datasets.augment` (sample 0 is the identity). Copies of
several puzzles share a model batch of at most `max_rows` rows, so K samples cost K forward passes
of work but not K launches. Voting over the mapped-back predictions is `hrm_engine.solving.voting`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import mlx.core as mx
import numpy as np

from hrm_datasets.augment import maze_transforms, sudoku_transforms
from hrm_engine.act import rollout, segment_step
from hrm_engine.errors import EngineError
from hrm_engine.solving.voting import sigmoid

MAX_SAMPLES = 1024  # copies per puzzle: enough for any vote; 10**11 would fill memory before the first pass


def check_samples(samples: int) -> None:
    """`--samples` K in [1, MAX_SAMPLES], refused in one line otherwise."""
    if not 1 <= samples <= MAX_SAMPLES:
        raise EngineError(f"--samples must be between 1 and {MAX_SAMPLES}, got {samples}")


@dataclass
class Rows:
    """What the model said for each row after the last segment."""

    preds: np.ndarray  # [N, S] argmax tokens
    confidence: np.ndarray  # [N] sigmoid(q_halt) at the last segment
    halt_step: np.ndarray  # [N] first segment whose Q head would halt (else the segments run)
    segments: int


def run_rows(model: Any, inputs: np.ndarray, puzzle_ids: np.ndarray | None = None, segments: int | None = None,
             segment_fn: Callable | None = None) -> Rows:
    """Eval-mode rollout of token rows from a fresh carry, `segments` (default halt_max_steps) long."""
    cfg = model.config
    total = segments or cfg.halt_max_steps
    B = len(inputs)
    ids = np.zeros(B, np.int32) if puzzle_ids is None else np.asarray(puzzle_ids, np.int32)
    batch = {"inputs": mx.array(np.asarray(inputs).astype(np.int32)), "labels": mx.zeros((B, cfg.seq_len), mx.int32),
             "puzzle_identifiers": mx.array(ids)}
    halt_step = np.full(B, total)

    q_halt_only = getattr(cfg, "no_ACT_continue", False)  # TRM halts on q_halt > 0 alone (act.segment_step)

    def seen(s: int, _carry: dict, outputs: dict) -> None:
        q_halt = outputs["q_halt_logits"]
        wants = np.array(q_halt > 0 if q_halt_only else q_halt > outputs["q_continue_logits"])
        halt_step[(halt_step == total) & wants & (s < total)] = s

    _, outputs = rollout(model, batch, total, segment_fn=segment_fn, on_segment=seen)
    preds = np.array(mx.argmax(outputs["logits"], axis=-1))
    return Rows(preds, sigmoid(np.array(outputs["q_halt_logits"], np.float32)), halt_step, total)


def transforms_for(kind: str, seq_len: int, samples: int, seed: int = 0) -> list:
    """The K token-row transforms for a Sudoku or Maze checkpoint (ARC is done on grids: arc_solve.py)."""
    n = int(round(seq_len ** 0.5))
    check_samples(samples)
    if kind == "sudoku":
        return sudoku_transforms(n, samples, seed)
    if kind == "maze":
        return maze_transforms(n, samples)
    raise EngineError(f"test-time samples over token rows are for Sudoku and Maze, not {kind!r}")


@dataclass
class Samples:
    """Per puzzle and sample, in the original puzzle's frame."""

    preds: np.ndarray  # [B, K, S]
    confidence: np.ndarray  # [B, K]
    halt_step: np.ndarray  # [B, K]
    segments: int


def compiled_segment(model: Any) -> Callable:
    """The eval segment under mx.compile, for many batches of the same shape."""
    return mx.compile(lambda carry, rows: segment_step(model, carry, rows, training=False))


def sample_predictions(model: Any, inputs: np.ndarray, transforms: list, segments: int | None = None,
                       max_rows: int = 256, segment_fn: Callable | None = None) -> Samples:
    """Every puzzle under every transform, batched `max_rows` rows at a time, each prediction inverted."""
    inputs = np.asarray(inputs)
    B, K = len(inputs), len(transforms)
    per_batch = max(1, max_rows // K)
    preds = np.zeros((B, K, inputs.shape[1]), np.int64)
    conf = np.zeros((B, K))
    halt = np.zeros((B, K), np.int64)
    total = segments or model.config.halt_max_steps
    for lo in range(0, B, per_batch):
        chunk = inputs[lo:lo + per_batch]
        rows = np.stack([t.apply(x) for x in chunk for t in transforms])
        out = run_rows(model, rows, segments=total, segment_fn=segment_fn)
        for i in range(len(chunk)):
            for j, t in enumerate(transforms):
                preds[lo + i, j] = t.invert(out.preds[i * K + j])
        conf[lo:lo + len(chunk)] = out.confidence.reshape(len(chunk), K)
        halt[lo:lo + len(chunk)] = out.halt_step.reshape(len(chunk), K)
    return Samples(preds, conf, halt, total)
