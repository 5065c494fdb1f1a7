"""Adapt a checkpoint to one ARC task it never trained on, then answer the task's test inputs.

The task's embedding is chosen from its demonstration pairs alone (search.py); the test pairs' outputs,
when the task file has them, only decide `correct` afterwards. With `samples` K > 1 the answers of the
K best embeddings found (by demonstration score) are voted on, ties broken by that score: a task
never trained on has no augmented versions with embeddings of their own to vote across, as the
reference's voting needs, so the vote is over the search's best candidates instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrm_engine.adapt.forward import TaskForward
from hrm_engine.adapt.search import METHODS, Search, SearchSettings, run_method
from hrm_engine.adapt.space import LatentSpace, latent_space
from hrm_engine.solving.arc_task import ArcTask, model_canvas
from hrm_engine.errors import EngineError
from hrm_engine.solving.voting import Candidate, vote

DEFAULT_LATENT_DIM = 16
MAX_EVALUATIONS = 4096


@dataclass
class Adapted:
    """One method's search on one task and its answers to the test inputs."""

    method: str
    search: Search
    outputs: list[np.ndarray]  # the submitted answer per test input
    candidates: list[list[Candidate]] = field(default_factory=list)  # per test input, best first
    correct: list[bool | None] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        best = self.search.points[self.search.best()]
        return {"method": self.method, "evaluations": self.search.evaluations,
                "seconds": round(self.search.seconds, 3), "best_demo_score": best.score,
                "best_demo_exact": best.exact, "best_demo_token": best.token,
                "outputs": [o.tolist() for o in self.outputs], "correct": self.correct}


def check_adapt_args(methods: list[str], evaluations: int, samples: int = 1) -> None:
    """Refuse an unknown method or a budget outside [1, MAX_EVALUATIONS] before any model work."""
    for m in methods:
        if m not in METHODS:
            raise EngineError(f"unknown --adapt method {m!r}; choose from: {', '.join(METHODS)}")
    if not methods:
        raise EngineError(f"--adapt needs at least one method: {', '.join(METHODS)}")
    if not 1 <= evaluations <= MAX_EVALUATIONS:
        raise EngineError(f"--evaluations must be between 1 and {MAX_EVALUATIONS}, got {evaluations}")
    if not 1 <= samples <= evaluations:
        raise EngineError(f"--samples with --adapt votes over the best embeddings found: between 1 and "
                          f"--evaluations ({evaluations}), got {samples}")


def adaptation_space(loaded: Any, dim: int = DEFAULT_LATENT_DIM) -> LatentSpace:
    """The latent space of an ARC checkpoint's trained task embeddings; one line for any other checkpoint."""
    kind = loaded.build_info.get("kind")
    if kind is not None and kind != "arc":
        raise EngineError(f"--adapt is for ARC checkpoints (tasks with demonstrations); this one was trained on "
                          f"{kind}")
    model_canvas(loaded.metadata)
    return latent_space(np.array(loaded.model.puzzle_emb), dim)


def trained_identifiers(loaded: Any) -> dict[str, int]:
    """Task name -> puzzle identifier of the data the checkpoint trained on (the run's identifiers.json)."""
    import json

    path = Path(loaded.path).parent.parent / "identifiers.json"
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise EngineError(f"{path}: cannot read the run's puzzle identifiers, which the trained method needs") from None
    if not isinstance(names, list):
        raise EngineError(f"{path}: not a list of puzzle identifiers")
    return {str(n): i for i, n in enumerate(names)}


def trained_row(loaded: Any, name: str, identifiers: dict[str, int], strict: bool = True) -> np.ndarray:
    """The task's own embedding row; one line when the checkpoint never trained that task.

    Not `strict` (a measurement over training tasks): a training task whose row training never reached
    (ACT keeps running rows and drops the new examples meant for them, so a short run can miss a task)
    answers with its row as it is, zero.
    """
    i = identifiers.get(name)
    row = None if i is None else np.array(loaded.model.puzzle_emb[i])
    if i is not None and not strict:
        return row
    if row is None or not np.any(row):
        raise EngineError(f"{name}: the checkpoint has no trained embedding for this task; the trained method is "
                          f"for training tasks (--split train)")
    return row


def adapt_task(loaded: Any, task: ArcTask, method: str, settings: SearchSettings, space: LatentSpace,
               samples: int = 1, segments: int | None = None, identifiers: dict[str, int] | None = None,
               strict: bool = True) -> Adapted:
    """Search an embedding for `task` with `method` on its demonstrations, then answer its test inputs."""
    if not task.demos:
        raise EngineError(f"{task.name}: no demonstration pairs; adaptation chooses the embedding from them")
    fwd = TaskForward(loaded.model, model_canvas(loaded.metadata), task.demos, segments)
    row = None
    if method == "trained":
        row = trained_row(loaded, task.name, identifiers if identifiers is not None else trained_identifiers(loaded),
                          strict)
    search = run_method(method, fwd, space, settings, row)
    picks = search.top(samples)
    answers = fwd.predict([inp for inp, _ in task.tests], np.stack([search.embeddings[i] for i in picks]))
    confidence = [search.points[i].score for i in picks]
    result = Adapted(method, search, [])
    for t, (_, expected) in enumerate(task.tests):
        cands = vote([answers[k][t] for k in range(len(picks))], confidence)
        result.candidates.append(cands)
        result.outputs.append(cands[0].prediction)
        result.correct.append(None if expected is None else bool(np.array_equal(cands[0].prediction, expected)))
    return result


def answer_curve(loaded: Any, task: ArcTask, search: Search, evaluations: int, segments: int | None = None
               ) -> list[float]:
    """Test-pair exact accuracy (share of test pairs right) of the best point by each evaluation 1..N.

    The best point changes a few times in a search; each distinct one answers the test inputs once.
    """
    if any(out is None for _, out in task.tests):
        raise EngineError(f"{task.name}: a test pair has no output to score")
    best = [search.best(n) for n in range(1, evaluations + 1)]
    distinct = sorted(set(best))
    fwd = TaskForward(loaded.model, model_canvas(loaded.metadata), [], segments)
    answers = fwd.predict([inp for inp, _ in task.tests], np.stack([search.embeddings[i] for i in distinct]))
    right = {i: float(np.mean([np.array_equal(a, out) for a, (_, out) in zip(answers[k], task.tests)]))
             for k, i in enumerate(distinct)}
    return [right[i] for i in best]
