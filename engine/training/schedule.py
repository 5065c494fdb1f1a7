"""Recipe schedules over training progress: the recursion depth per stage (`cycles_schedule`).

Why: a recursive model that still answers badly gains little from running its latent recursion many times, and
every cycle costs a step its time. CGAR's Progressive Depth Curriculum (Qasim and Zhang, arXiv 2511.08653,
"Curriculum-Guided Adaptive Recursion") trains TRM on Sudoku-Extreme with (H_cycles, L_cycles) = (1, 2) for the
first 30 % of training, (2, 4) to 60 %, then the full (3, 6): 1.7-2.3x less training time at about the same
accuracy. Stage 0 with H_cycles 1 also means no no-gradient cycles at all while the model is poor.

A schedule is a list of stages [start fraction, H_cycles, L_cycles]: stage i runs from step
floor(start_i * total_steps) to the next stage's start. It is a function of the step alone, so a run resumed
at any step lands in the stage it left. Evaluation and solving always use the arch's own cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hrm_engine.errors import ConfigError

Cycles = tuple[int, int]  # as hrm_engine.models.base.Cycles (not imported: config checks load no MLX)

RULE = ("null or a list of [start fraction, H_cycles, L_cycles] stages: the first starting at 0, "
        "the fractions rising in [0, 1), cycles int >= 1")


@dataclass(frozen=True)
class Stage:
    """One stage of a cycles schedule."""

    start: float  # fraction of total steps at which it starts
    H_cycles: int
    L_cycles: int

    @property
    def cycles(self) -> Cycles:
        return (self.H_cycles, self.L_cycles)


@dataclass(frozen=True)
class CyclesSchedule:
    """(H_cycles, L_cycles) for every training step."""

    stages: tuple[Stage, ...]

    @classmethod
    def parse(cls, value: Any) -> "CyclesSchedule | None":
        """A checked schedule from the config value (None stays None); ValueError(what is wrong) otherwise."""
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError("not a non-empty list")
        stages = []
        for item in value:
            if not isinstance(item, (list, tuple)) or len(item) != 3:
                raise ValueError(f"stage {item!r} is not [start fraction, H_cycles, L_cycles]")
            start, H, L = item
            if isinstance(start, bool) or not isinstance(start, (int, float)) or not (0 <= start < 1):
                raise ValueError(f"stage {list(item)}: start {start!r} is not a fraction in [0, 1)")
            for n in (H, L):
                if isinstance(n, bool) or not isinstance(n, (int, float)) or not float(n).is_integer() or n < 1:
                    raise ValueError(f"stage {list(item)}: cycles {n!r} is not an int >= 1")
            stages.append(Stage(float(start), int(H), int(L)))
        if stages[0].start != 0:
            raise ValueError("the first stage must start at 0")
        if any(b.start <= a.start for a, b in zip(stages, stages[1:])):
            raise ValueError("the stages' start fractions must rise")
        return cls(tuple(stages))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "CyclesSchedule | None":
        """The config's `cycles_schedule`, or None when it is off (the reference: the arch's cycles throughout)."""
        try:
            return cls.parse(config.get("cycles_schedule"))
        except ValueError as exc:
            raise ConfigError(f"config key 'cycles_schedule' must be {RULE}: {exc}") from None

    def start_steps(self, total_steps: int) -> list[int]:
        """The first step of every stage."""
        return [math.floor(s.start * total_steps) for s in self.stages]

    def stage_index(self, step: int, total_steps: int) -> int:
        """Which stage runs `step` (0-based)."""
        starts = self.start_steps(total_steps)
        return max(i for i, first in enumerate(starts) if first <= step) if step >= 0 else 0

    def cycles_at(self, step: int, total_steps: int) -> Cycles:
        """(H_cycles, L_cycles) of training step `step`."""
        return self.stages[self.stage_index(step, total_steps)].cycles

    def steps_per_stage(self, total_steps: int) -> list[int]:
        """How many of the run's steps each stage takes."""
        starts = self.start_steps(total_steps) + [total_steps]
        return [max(0, b - a) for a, b in zip(starts, starts[1:])]
