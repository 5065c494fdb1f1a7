"""Selective answering (issue 32): how often an arm answers, how often its answers are wrong, and the
accuracy-coverage curve as the vote threshold varies, all from one bench run (docs/agent-bench.md).

Why: a wrong answer with exit 0 is worse than no answer, so pass@1 alone hides what self-consistency buys.
Each row keeps its vote (`agreement`: the winning value's votes, 0 on a tie) and what the run would have
answered had the threshold been met (`candidate`, graded as `candidate_pass`); at threshold t an item
answers when it has such an answer and agreement >= t, so every t of the curve is read off the same runs.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


def row_fields(result: dict[str, Any], passed: bool, grade: Callable[[str], bool]) -> dict[str, Any]:
    """A row's vote fields: `votes` (K, None without voting), `min_agreement`, `agreement`, `candidate`
    (the answer at any threshold: the final answer, or the one `no_agreement` withheld) and `candidate_pass`
    (`grade(candidate)`; the row's own `pass` when it answered)."""
    voting = result.get("voting") or {}
    answered = result.get("status") == "answered"
    candidate = result.get("final") if answered else (
        result.get("candidate") if result.get("reason") == "no_agreement" else None)
    if not voting:
        return {"votes": None, "min_agreement": None, "agreement": 1 if answered else None,
                "candidate": candidate, "candidate_pass": passed if answered else None}
    return {"votes": voting.get("samples"), "min_agreement": voting.get("min_agreement"),
            "agreement": voting.get("agreement"), "vote_counts": [c.get("votes") for c in voting.get("counts", [])],
            "candidate": candidate,
            "candidate_pass": passed if answered else (grade(candidate) if isinstance(candidate, str) else None)}


def _by_task(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    tasks: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        tasks.setdefault(str(r["task_id"]), []).append(r)
    return list(tasks.values())


def _ratio_ci(num: np.ndarray, den: np.ndarray, n_boot: int, seed: int) -> list[float] | None:
    """Percentile 95% interval of sum(num) / sum(den), resampling tasks (rows of num/den) with replacement."""
    if num.size == 0 or den.sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(n_boot, num.size))
    dens = den[idx].sum(axis=1)
    ratios = np.where(dens > 0, num[idx].sum(axis=1) / np.maximum(dens, 1), np.nan)
    ratios = ratios[~np.isnan(ratios)]
    if ratios.size == 0:
        return None
    lo, hi = np.quantile(ratios, [0.025, 0.975])
    return [float(lo), float(hi)]


def selective_metrics(rows: list[dict[str, Any]], n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Per arm: pass@1, answered-wrong rate, abstention rate (each over items) and accuracy among answered
    items, each with a 95% percentile bootstrap interval over tasks."""
    groups = _by_task(rows)
    items = np.array([len(g) for g in groups], dtype=np.float64)
    passed = np.array([sum(bool(r["pass"]) for r in g) for g in groups], dtype=np.float64)
    answered = np.array([sum(_answered(r) for r in g) for g in groups], dtype=np.float64)
    right = np.array([sum(_answered(r) and bool(r["pass"]) for r in g) for g in groups], dtype=np.float64)
    wrong = answered - right
    n = float(items.sum())

    def rate(num: np.ndarray, den: np.ndarray) -> dict[str, Any]:
        total = float(den.sum())
        return {"value": float(num.sum()) / total if total else None, "count": int(num.sum()),
                "of": int(total), "ci95": _ratio_ci(num, den, n_boot, seed)}

    return {"items": int(n), "pass@1": rate(passed, items), "answered_wrong": rate(wrong, items),
            "abstained": rate(items - answered, items), "accuracy_answered": rate(right, answered),
            "coverage_curve": coverage_curve(rows)}


def coverage_curve(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Coverage and accuracy among answered items at each vote threshold t = 1..K (K the largest `votes`
    of the rows): an item answers at t when it has a candidate answer and agreement >= t. Rows without
    voting (K = 1) are one point, t = 1. At thresholds other than a run's own min_agreement the coverage is
    a lower bound: a settled vote stops the samples still working (agent/voting/voted_controllers.py)."""
    if not rows:
        return []
    k = max((int(r.get("votes") or 1) for r in rows), default=1)
    out = []
    points = [_point(r) for r in rows]
    for t in range(1, k + 1):
        hits = [(cand, ok) for cand, agreement, ok in points if cand is not None and agreement >= t]
        correct = sum(ok for _, ok in hits)
        out.append({"threshold": t, "answered": len(hits), "correct": correct, "items": len(rows),
                    "coverage": len(hits) / len(rows), "accuracy": correct / len(hits) if hits else None})
    return out


def _answered(row: dict[str, Any]) -> bool:
    """Whether a row's run gave an answer: not `no_answer` (`failed` in runs from before issue 18), as the
    summary's `no_answer` count reads it."""
    return row.get("status") not in ("no_answer", "failed")


def _point(row: dict[str, Any]) -> tuple[Any, int, bool]:
    """(candidate answer, agreement, candidate passes) of a row; a row written before voting existed answers
    at t = 1 with its own answer and verdict."""
    answered = _answered(row)
    if "candidate" not in row:
        return (row.get("answer") if answered else None), (1 if answered else 0), bool(row.get("pass"))
    return row["candidate"], int(row.get("agreement") or 0), bool(row.get("candidate_pass"))
