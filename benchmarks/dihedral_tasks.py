"""A control task set for position encodings: ARC tasks whose rule is one of the 7 non-identity dihedral maps.

    .venv/bin/python benchmarks/dihedral_tasks.py --out data/dihedral-src
    hrm data build arc --source-dir data/dihedral-src --canvas 6 --num-aug 0 --eval-demos train --offsets origin \
        --output data/dihedral
    hrm train data/dihedral --config trm-arc-synthetic epochs=60 eval_interval=60 arch.pos_encodings=grid

Every task (30 per map, 210 in all) is written to evaluation/ with 16 demonstrations and one test pair, random
grids of 2..5 rows and columns with colours 0..9; `--eval-demos train` trains the demonstrations under each
task's identifier and keeps the test pair out, so the run's test split scores new inputs of learnt rules.
training/ holds one small task because the builder needs both folders. docs/test-time-adaptation.md (grid
positions) says what it showed: whether a network can learn flips and rotations at all, apart from the
synthetic family's other rules.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from hrm_datasets.arc import dihedral
from hrm_datasets.files import write_text_atomic

NAMED = {"fliplr": 4, "flipud": 5, "rot90": 1, "rot180": 2, "rot270": 3, "transpose": 6, "antitranspose": 7}
MAPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {  # the reference's numbering (hrm_datasets.arc.dihedral)
    name: partial(dihedral, tid=tid) for name, tid in NAMED.items()}


def pair(rng: np.random.Generator, rule: Callable[[np.ndarray], np.ndarray], background: float = 0.0
         ) -> dict[str, list]:
    shape = tuple(rng.integers(2, 6, 2))
    grid = rng.integers(0, 10, shape)
    if background > 0:  # that share of the cells (on average) set to colour 0, as the synthetic family's grids
        grid = np.where(rng.random(shape) < background, 0, grid)
    return {"input": grid.tolist(), "output": rule(grid).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write training/ and evaluation/ into")
    parser.add_argument("--per-map", type=int, default=30, help="tasks per dihedral map")
    parser.add_argument("--demos", type=int, default=16, help="demonstrations per task")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--background", type=float, default=0.0,
                        help="share of cells set to colour 0 (0: dense random grids)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    for folder in ("training", "evaluation"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    for name, rule in MAPS.items():
        for k in range(args.per_map):
            task = {"train": [pair(rng, rule, args.background) for _ in range(args.demos)],
                    "test": [pair(rng, rule, args.background)]}
            write_text_atomic(args.out / "evaluation" / f"{name}-{k:02d}.json", json.dumps(task))
    # a small training task: the builder once needed training/; the measured data/dihedral holds it, so it stays
    filler = {"train": [pair(rng, MAPS["rot180"]) for _ in range(3)], "test": [pair(rng, MAPS["rot180"])]}
    write_text_atomic(args.out / "training" / "filler.json", json.dumps(filler))
    print(f"wrote {len(MAPS) * args.per_map} tasks to {args.out}/evaluation")


if __name__ == "__main__":
    main()
