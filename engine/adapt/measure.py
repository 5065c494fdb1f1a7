"""Adaptation measured over many tasks: test-pair exact accuracy against the number of evaluations.

For every task and method the search runs once with the full budget N; the curve's value at n is the
test-pair exact accuracy of the best point found by evaluation n (task.answer_curve), so one run
gives the whole curve 1..N. Over tasks: the mean with a percentile bootstrap interval (tasks resampled
with replacement, seeded), and paired differences between methods on the same resamples (the same
tasks, so the difference's interval is narrower than the two intervals suggest). Wall time per task
is the search's own time (the test-pair answers for the curve are not counted).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hrm_engine.adapt.points import append_points, point_lines
from hrm_engine.adapt.search import SearchSettings
from hrm_engine.adapt.space import LatentSpace
from hrm_engine.adapt.task import adapt_task, answer_curve, trained_identifiers
from hrm_engine.solving.arc_task import ArcTask, model_canvas, read_arc_task
from hrm_engine.errors import EngineError

BOOTSTRAP = 2000
PAIRS = (("bopro", "random"), ("bopro", "gradient"), ("gradient", "random"))
SPLIT_FOLDERS = {"test": "evaluation", "train": "training"}


def task_files(data: Path, split: str = "test") -> list[Path]:
    """The task JSON files: DATA/tasks/evaluation (test) or DATA/tasks/training (train), as the synthetic
    build writes them, or DATA itself when it is a folder of ARC task files."""
    data = Path(data)
    if split not in SPLIT_FOLDERS:
        raise EngineError(f"--split must be test (held-out tasks) or train (training tasks) with --adapt, got {split!r}")
    folder = data / "tasks" / SPLIT_FOLDERS[split]
    if not folder.is_dir():
        folder = data
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise EngineError(f"{data}: no ARC task files (looked in {folder}); give a dataset built with "
                          f"`hrm data build arc --source synthetic` or a folder of task JSON files")
    return files


def bootstrap_mean(values: np.ndarray, rng: np.random.Generator, draws: int = BOOTSTRAP) -> list[float]:
    """[mean, low, high]: the mean over tasks (axis 0) and its 95% percentile bootstrap interval."""
    values = np.asarray(values, np.float64)
    idx = rng.integers(0, len(values), size=(draws, len(values)))
    means = values[idx].mean(axis=1)
    return [float(values.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def _paired(curves: dict[str, np.ndarray], seed: int) -> dict[str, list[list[float]]]:
    out = {}
    for a, b in PAIRS:
        if a in curves and b in curves:
            rng = np.random.default_rng(seed)  # the same resamples of tasks for every pair and budget
            diff = curves[a] - curves[b]
            out[f"{a}-{b}"] = [bootstrap_mean(diff[:, k], rng) for k in range(diff.shape[1])]
    return out


def summarise(curves: dict[str, np.ndarray], seconds: dict[str, np.ndarray], seed: int = 0,
              demo: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Mean curves with intervals, paired differences, wall time; `curves[m]` is [tasks, N] (test-pair exact),
    `demo[m]` the best demonstration score found by each evaluation, summarised the same way."""
    out: dict[str, Any] = {"methods": {}, "paired": _paired(curves, seed)}
    for m, c in curves.items():
        rng = np.random.default_rng(seed)
        out["methods"][m] = {
            "exact": [bootstrap_mean(c[:, k], rng) for k in range(c.shape[1])],
            "seconds_per_task": {"mean": float(np.mean(seconds[m])), "median": float(np.median(seconds[m])),
                                 "max": float(np.max(seconds[m]))},
        }
        if demo is not None:
            rng = np.random.default_rng(seed)
            out["methods"][m]["demo_score"] = [bootstrap_mean(demo[m][:, k], rng) for k in range(c.shape[1])]
    if demo is not None:
        out["paired_demo_score"] = _paired(demo, seed)
    out["tasks"] = len(next(iter(curves.values())))
    return out


def best_demo_curve(search: Any, evaluations: int) -> list[float]:
    """The best demonstration score found by evaluation 1..N (none/mean/trained: their one score)."""
    return [search.points[search.best(n)].score for n in range(1, evaluations + 1)]


def measure(loaded: Any, files: list[Path], methods: list[str], settings: SearchSettings, space: LatentSpace,
            points: Path | None = None, segments: int | None = None,
            on_task: Callable[[int, int, str, dict[str, Any]], None] | None = None,
            training_tasks: bool = False) -> dict[str, Any]:
    """Every method on every task; the result document of `hrm eval --adapt` (also result.json).

    `training_tasks`: the tasks are the checkpoint's training tasks, so `trained` answers a task whose row
    training never reached with that (zero) row instead of refusing it."""
    canvas = model_canvas(loaded.metadata)
    tasks: list[ArcTask] = [read_arc_task(f, canvas, need_demos=True) for f in files]  # all checked before work
    for t in tasks:
        if any(out is None for _, out in t.tests):
            raise EngineError(f"{t.name}: a test pair has no output; measuring needs the answers")
    identifiers = trained_identifiers(loaded) if "trained" in methods else None
    N = settings.evaluations
    curves = {m: np.zeros((len(tasks), N)) for m in methods}
    demo = {m: np.zeros((len(tasks), N)) for m in methods}
    seconds = {m: np.zeros(len(tasks)) for m in methods}
    per_task = []
    started = time.perf_counter()
    for i, task in enumerate(tasks):
        row: dict[str, Any] = {"task": task.name, "demos": len(task.demos), "methods": {}}
        lines = []
        for m in methods:
            adapted = adapt_task(loaded, task, m, settings, space, segments=segments, identifiers=identifiers,
                                 strict=not training_tasks)
            curves[m][i] = answer_curve(loaded, task, adapted.search, N, segments)
            demo[m][i] = best_demo_curve(adapted.search, N)
            seconds[m][i] = adapted.search.seconds
            best = adapted.search.points[adapted.search.best()]
            if m == "trained" and not np.any(adapted.search.embeddings[0]):
                row["untrained_row"] = True
            row["methods"][m] = {"exact": curves[m][i, -1], "seconds": round(adapted.search.seconds, 3),
                                 "evaluations": adapted.search.evaluations, "best_demo_score": best.score,
                                 "best_demo_exact": best.exact}
            lines += point_lines(task.name, adapted.search)
        if points is not None:
            append_points(points, lines)
        per_task.append(row)
        if on_task is not None:
            on_task(i + 1, len(tasks), task.name, row)
    result = summarise(curves, seconds, settings.seed, demo)
    result.update(evaluations=N, settings=vars(settings).copy(), latent_dim=space.dim,
                  latent_explained=round(space.explained, 4), trained_rows=space.trained_rows,
                  seconds=round(time.perf_counter() - started, 2), per_task=per_task,
                  untrained_rows=sum(1 for r in per_task if r.get("untrained_row")))
    return result
