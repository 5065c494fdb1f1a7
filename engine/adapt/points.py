"""The JSON lines a search writes: one line per evaluated candidate (docs/test-time-adaptation.md).

    {"type": "point", "task": "syn-test-00003", "method": "bopro", "evaluation": 7, "latent": [...],
     "score": 1.62, "exact": 0.75, "token": 0.87, "source": "gp",
     "acquisition": {"kind": "ei", "value": 0.04, "mean": 1.5, "std": 0.2}}

`evaluation` is the point's index in the budget (0 for none/mean, which are not searches); `score` is
demonstration exact share + token accuracy; `acquisition` is null except for bopro's proposals;
gradient points add `loss`. `hrm eval --adapt` appends a task's lines when the task is done, so a
dashboard can follow a measurement while it runs; `hrm solve --adapt --points FILE` writes the file
whole (to a temporary name, then renamed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from hrm_engine.adapt.search import Search
from hrm_datasets.files import append_all, write_text_atomic, writing


def point_lines(task: str, search: Search) -> list[dict[str, Any]]:
    """A search's points as JSON-line records, in evaluation order."""
    return [{"type": "point", "task": task, **p.to_json()} for p in search.points]


def _text(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)


def write_points(path: Path, records: list[dict[str, Any]]) -> None:
    """The whole file at once, atomically."""
    write_text_atomic(Path(path), _text(records))


def append_points(path: Path, records: list[dict[str, Any]]) -> None:
    """Add one task's lines to a measurement's points.jsonl (whole lines, then fsync)."""
    path = Path(path)
    with writing(path, path):
        with open(path, "ab", buffering=0) as fh:
            append_all(fh, _text(records).encode())


def read_points(path: Path) -> list[dict[str, Any]]:
    """Point records of a points.jsonl; a partial last line (a writer mid-append) is skipped."""
    out = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("type") == "point":
            out.append(rec)
    return out


def best_score_curves(records: list[dict[str, Any]], evaluations: int | None = None) -> dict[str, list[float]]:
    """Per method, the mean over tasks of the best demonstration score found by evaluation 1..N.

    none/mean (evaluation 0) are flat lines at their score. N defaults to the largest evaluation seen.
    """
    by: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in records:
        try:
            key, ev, score = (str(r["method"]), str(r["task"])), int(r["evaluation"]), float(r["score"])
        except (KeyError, TypeError, ValueError):
            continue
        by.setdefault(key, []).append((ev, score))
    n = evaluations or max((ev for pts in by.values() for ev, _ in pts), default=0)
    curves: dict[str, list[list[float]]] = {}
    for (method, _task), pts in sorted(by.items()):
        row, best, pts = [], -np.inf, sorted(pts)
        i = 0
        for k in range(1, n + 1):
            while i < len(pts) and pts[i][0] <= k:
                best = max(best, pts[i][1])
                i += 1
            row.append(best)
        curves.setdefault(method, []).append(row)
    return {m: [float(np.mean([r[k] for r in rows if np.isfinite(r[k])] or [np.nan])) for k in range(n)]
            for m, rows in curves.items()}
