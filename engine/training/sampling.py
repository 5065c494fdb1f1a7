"""The training batches a config asks for: the reference sampler, or the easy-to-hard recipe options.

With `curriculum` false and `hint_start` 0 (every reference preset) this is the reference's sampler, untouched:
the same batches, bit for bit (tests/engine/test_recipe_sampling.py). The options are hrm_datasets.curriculum's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrm_datasets.curriculum import CurriculumSampler, Hints
from hrm_datasets.loader import TrainSampler


def train_sampler(config: dict[str, Any], root: str | Path, total_steps: int, *, rank: int = 0,
                  world_size: int = 1) -> TrainSampler:
    """The reference's TrainSampler, or the competence curriculum's when `curriculum` is on."""
    gbs, seed = int(config["global_batch_size"]), int(config["seed"])
    if config.get("curriculum"):
        return CurriculumSampler(root, gbs, total_steps=total_steps, start=float(config.get("curriculum_start", 0.3)),
                                 steps=float(config.get("curriculum_steps", 0.5)), seed=seed, rank=rank,
                                 world_size=world_size)
    epochs_per_iter = max(1, int(config["eval_interval"] or config["epochs"]))
    return TrainSampler(root, gbs, seed=seed, epochs_per_iter=epochs_per_iter, rank=rank, world_size=world_size)


def train_hints(config: dict[str, Any], total_steps: int) -> Hints | None:
    """The fading hints when `hint_start` > 0, else None (inputs as the dataset has them)."""
    start = float(config.get("hint_start") or 0.0)
    if start <= 0:
        return None
    return Hints(start=start, steps=float(config.get("hint_steps", 0.3)), total_steps=total_steps,
                 seed=int(config["seed"]))
