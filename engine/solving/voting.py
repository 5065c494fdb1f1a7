"""Voting over test-time samples: pool identical answers, rank by votes, then by halting confidence.

Confidence is sigmoid(q_halt) at the last segment run, averaged over the samples that gave the
answer, as the reference's ARC evaluation ranks candidates (arc_eval.ipynb). The last segment is
the one whose answer is submitted, and q_halt is trained to predict exactly that answer's
correctness; a mean over segments would mix in the confidence in earlier, different answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Candidate:
    """One distinct answer: its tokens, who voted for it and how sure the halting head was."""

    prediction: np.ndarray
    votes: int
    confidence: float  # mean sigmoid(q_halt) over the voting samples
    samples: list[int] = field(default_factory=list)  # indices of the voting samples (0 = un-augmented)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def vote(predictions: list[np.ndarray] | np.ndarray, confidences: list[float] | np.ndarray) -> list[Candidate]:
    """Distinct predictions best first: most votes, ties by higher mean confidence, then first seen."""
    pools: dict[bytes, Candidate] = {}
    for i, (pred, conf) in enumerate(zip(predictions, confidences)):
        pred = np.ascontiguousarray(pred)
        key = bytes(str(pred.shape), "ascii") + pred.astype(np.int64).tobytes()
        if key not in pools:
            pools[key] = Candidate(pred, 0, 0.0, [])
        cand = pools[key]
        cand.confidence = (cand.confidence * cand.votes + float(conf)) / (cand.votes + 1)
        cand.votes += 1
        cand.samples.append(i)
    order = list(pools.values())
    order.sort(key=lambda c: (-c.votes, -c.confidence, c.samples[0]))
    return order


def vote_margin(candidates: list[Candidate]) -> int:
    """Votes of the top answer minus the runner-up's (all votes when there is one answer)."""
    if not candidates:
        return 0
    return candidates[0].votes - (candidates[1].votes if len(candidates) > 1 else 0)
