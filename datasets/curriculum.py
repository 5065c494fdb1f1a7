"""Easy-to-hard training: a competence-based curriculum over puzzle difficulty, and hints that fade.

Curriculum (`curriculum: true`): batch k is drawn from the easiest c(k) fraction of the training puzzles, with
the competence c(k) = min(1, c0 + (1 - c0) * k / (curriculum_steps * total_steps)) growing linearly from
`curriculum_start` = c0 (Platanios et al., "Competence-based Curriculum Learning for Neural Machine
Translation", NAACL 2019, its linear competence). Easiest means the lowest rating (the exact solver's guesses),
then the most clues, from the split's difficulty side file (difficulty.py). Within the allowed puzzles a batch
is filled as the reference fills one (loader.sample_batch: a random puzzle of each group in a random order), from
a generator keyed by (seed, k): the sampler's state is the batch count, so a resumed run draws the same batches.

Hints (`hint_start` > 0): in step k's batch, each position whose input differs from its label (a blank cell to
fill) shows its label with probability h(k) = hint_start * max(0, 1 - k / (hint_steps * total_steps)): early
puzzles are easier versions of themselves, and from `hint_steps` of training on the inputs are the real ones.
Needs no rating, so it works on any dataset; a function of the step alone, so resume needs no state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrm_datasets.difficulty import easy_to_hard, load_difficulty
from hrm_datasets.errors import DatasetError
from hrm_datasets.loader import IGNORE_LABEL_ID, TrainSampler, examples_per_epoch, sample_batch

_HINT_STREAM = 0x68696E74  # keeps the hint draws apart from any other stream of the same seed


def competence(batch: int, total_steps: int, start: float, steps: float) -> float:
    """The fraction of the puzzles (easiest first) that batch `batch` may draw from."""
    ramp = max(1.0, steps * total_steps)
    return min(1.0, start + (1.0 - start) * batch / ramp)


class CurriculumSampler(TrainSampler):
    """TrainSampler's batches, each drawn from the easiest `competence` fraction of the groups."""

    def __init__(self, root: str | Path, global_batch_size: int, *, total_steps: int, start: float, steps: float,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        super().__init__(root, global_batch_size, seed=seed, rank=rank, world_size=world_size)
        self.easy_first = easy_to_hard(load_difficulty(root, "train"))
        self.total_steps, self.start, self.steps = int(total_steps), float(start), float(steps)
        self.batches = 0

    def allowed_groups(self, batch: int) -> int:
        """How many groups (easiest first) batch `batch` draws from."""
        n = len(self.easy_first)
        return min(n, max(1, math.ceil(competence(batch, self.total_steps, self.start, self.steps) * n)))

    def next_indices(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.allowed_groups(self.batches)
        rng = np.random.Generator(np.random.Philox(np.random.SeedSequence([self.seed, self.batches])))
        laps = -(-self.global_batch_size // n)  # every group gives at least one example
        order = np.concatenate([self.easy_first[:n][rng.permutation(n)] for _ in range(laps)])
        _, ex, pz = sample_batch(rng, order, self.arrays, 0, self.global_batch_size)
        self.batches += 1
        return ex, pz

    @property
    def epoch(self) -> float:
        return self.batches * self.global_batch_size / examples_per_epoch(self.metadata)

    def state_dict(self) -> dict[str, int]:
        return {"curriculum_batches": self.batches, "seed": self.seed, "global_batch_size": self.global_batch_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """The batch count of a run with the same seed and batch size (the draws are keyed by it)."""
        if "curriculum_batches" not in state:
            raise DatasetError("cannot resume the curriculum sampler from a checkpoint saved without curriculum; "
                               "resume with curriculum=false or start a new run")
        for key in ("seed", "global_batch_size"):
            if int(state[key]) != getattr(self, key):
                raise DatasetError(f"cannot resume the data sampler: saved {key}={state[key]}, now "
                                   f"{getattr(self, key)}; resume with the same {key}")
        self.batches = int(state["curriculum_batches"])


@dataclass(frozen=True)
class Hints:
    """Reveal a fading fraction of the cells to fill in each training batch's inputs."""

    start: float
    steps: float
    total_steps: int
    seed: int = 0

    def fraction(self, step: int) -> float:
        """h(step): the probability that a cell to fill shows its answer."""
        ramp = max(1.0, self.steps * self.total_steps)
        return self.start * max(0.0, 1.0 - step / ramp)

    def apply(self, batch: dict[str, np.ndarray], step: int, rank: int = 0, world_size: int = 1
              ) -> dict[str, np.ndarray]:
        """The batch with hints in its inputs (a new dict; the labels untouched); as is once the fraction is 0.

        The draws are made for the whole global batch and this rank's rows taken, so N processes show the same
        cells as one process would."""
        h = self.fraction(step)
        if h <= 0:
            return batch
        inputs, labels = batch["inputs"], batch["labels"]
        rng = np.random.Generator(np.random.Philox(np.random.SeedSequence([self.seed, _HINT_STREAM, step])))
        b = inputs.shape[0]
        draws = rng.random((b * world_size, *inputs.shape[1:]))[rank * b:(rank + 1) * b]
        to_fill = (labels != IGNORE_LABEL_ID) & (inputs != labels)
        reveal = to_fill & (draws < h)
        return {**batch, "inputs": np.where(reveal, labels, inputs).astype(inputs.dtype)}
