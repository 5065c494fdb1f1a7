"""`hrm eval --samples K [--verify]`: accuracy with and without test-time augmentation, at one checkpoint.

One rollout of K transformed copies per puzzle (sample 0 the identity) gives every smaller K too:
the first k samples are voted on for each k in 1, 2, 4, ..., K. Per k, two ways to answer:

- top vote: always answer with the best-ranked candidate; wrong = 1 - exact accuracy.
- verified (with `verify`): answer with the best-ranked candidate that passes the exact verifier,
  else abstain. Shares correct + wrong + abstained = 1; on puzzles with a unique solution a
  verified answer is right, so wrong stays 0 (a maze with several shortest paths is the exception:
  a verified path that is not the label's counts as wrong, since exact accuracy compares to it).

"Correct" is exact accuracy's definition: every labelled cell equal to the label.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hrm_datasets.verify import verify as check
from hrm_engine.solving.tta import compiled_segment, sample_predictions, transforms_for
from hrm_engine.solving.voting import vote


def sample_counts(samples: int) -> list[int]:
    """1, 2, 4, ... below `samples`, then `samples`: the K rows of the table."""
    ks, k = [], 1
    while k < samples:
        ks.append(k)
        k *= 2
    return ks + [samples]


def score_puzzle(kind: str, inputs: np.ndarray, label: np.ndarray, preds: np.ndarray, conf: np.ndarray,
                 ks: list[int], verify: bool) -> dict[tuple[int, bool], str]:
    """Per (k, verified?): 'correct', 'wrong' or 'abstained' for one puzzle."""
    mask = label != -100
    verdicts: dict[bytes, bool] = {}

    def passes(pred: np.ndarray) -> bool:
        key = pred.tobytes()
        if key not in verdicts:
            verdict = check(kind, inputs, pred)
            verdicts[key] = bool(verdict is not None and verdict.ok)
        return verdicts[key]

    def outcome(pred: np.ndarray | None) -> str:
        if pred is None:
            return "abstained"
        return "correct" if np.array_equal(pred[mask], label[mask]) else "wrong"

    out = {}
    for k in ks:
        ranked = vote(preds[:k], conf[:k])
        out[(k, False)] = outcome(ranked[0].prediction)
        if verify:
            out[(k, True)] = outcome(next((c.prediction for c in ranked if passes(c.prediction)), None))
    return out


def evaluate_samples(model: Any, data_root: str | Path, split: str, kind: str, samples: int,
                     segments: int | None = None, verify: bool = False, batch_size: int = 256, seed: int = 0,
                     on_batch: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Rows per (k, mode) with exact_accuracy, wrong (submitted) and abstained shares; time per puzzle."""
    from hrm_datasets.loader import iter_eval

    transforms = transforms_for(kind, model.config.seq_len, samples, seed)
    ks = sample_counts(len(transforms))
    tally: dict[tuple[int, bool], dict[str, int]] = {}
    segment_fn = compiled_segment(model)
    seen, seconds, total_segments = 0, 0.0, segments or model.config.halt_max_steps
    for batch_np, count in iter_eval(data_root, split, batch_size):
        inputs, labels = batch_np["inputs"][:count], batch_np["labels"][:count]
        started = time.perf_counter()  # model, mapping back, voting and verifying: what an answer costs
        out = sample_predictions(model, inputs, transforms, total_segments, max_rows=batch_size, segment_fn=segment_fn)
        for i in range(count):
            for key, result in score_puzzle(kind, inputs[i], labels[i], out.preds[i], out.confidence[i], ks,
                                            verify).items():
                row = tally.setdefault(key, {"correct": 0, "wrong": 0, "abstained": 0})
                row[result] += 1
        seconds += time.perf_counter() - started
        seen += count
        if on_batch:
            on_batch(seen, count)
    rows = []
    for (k, verified), c in sorted(tally.items()):
        n = max(sum(c.values()), 1)
        rows.append({"samples": k, "verify": verified, "count": sum(c.values()), "exact_accuracy": c["correct"] / n,
                     "wrong": c["wrong"] / n, "abstained": c["abstained"] / n})
    return {"samples": len(transforms), "segments": total_segments, "seed": seed, "rows": rows,
            "seconds_per_puzzle": seconds / max(seen, 1),
            "confidence": "sigmoid(q_halt) at the last segment, mean over the voting samples"}
