"""One solved puzzle, as `hrm solve`, `hrm eval --samples` and the agent's `hrm_solve` report it.

Its own module, below solve.py and arc_solve.py, so that both build it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hrm_datasets.verify import Verdict
from hrm_engine.solving.voting import Candidate


@dataclass
class Solution:
    """One solved puzzle: tokens in and out, and what the ACT head thought.

    `prediction` is the submitted answer: the top-voted candidate, or with `verify` the best-ranked
    one that passed (`abstained` when none did; `prediction` then stays the top-voted one, unsubmitted).
    `q_halt_prob`, `halt_step` are the un-augmented sample's (sample 0).
    """

    kind: str
    inputs: np.ndarray
    prediction: np.ndarray
    q_halt_prob: float
    halt_step: int
    steps_run: int
    extra: dict[str, Any] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    verdicts: list[Verdict | None] = field(default_factory=list)  # per candidate; None: no verifier (ARC)
    samples: int = 1
    verified: bool | None = None  # the submitted answer passed (None: no verifier for this kind)
    abstained: bool = False
