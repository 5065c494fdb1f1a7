"""A task set for test-time search: ARC tasks whose rule is a colour map, new maps held out.

    .venv/bin/python benchmarks/colour_map_tasks.py --out data/cmap-src --new-out data/cmap-new-src
    hrm data build arc --source-dir data/cmap-src --canvas 6 --num-aug 0 --eval-demos train --offsets origin \
        --output data/cmap
    hrm data build arc --source-dir data/cmap-new-src --canvas 6 --num-aug 0 --eval-demos exclude \
        --offsets origin --output data/cmap-new
    hrm train data/cmap --config trm-arc-synthetic epochs=100 eval_interval=100 --run-name cmap
    hrm eval runs/cmap --data data/cmap-new --adapt none,mean,random,bopro,gradient --evaluations 128

A rule maps each of the colours 1..K to one of 0..K (colour 0 stays 0): (K + 1)^K maps less the identity, 624
for K = 4. The maps are shuffled once; the first `--tasks` are training tasks (`--demos` demonstrations each,
trained under their own identifiers, their test pairs kept out), the next `--new-tasks` are tasks of maps no
training task has (`--new-demos` demonstrations, never trained on). Unlike the 7 dihedral maps, whose trained
rows form 7 clusters that random draws find at once, a new map is one point of a product space: each colour's
target is one coordinate of the rule, a candidate is partly right colour by colour, and the demonstrations'
token accuracy says how far. That is the setting a surrogate model is for (docs/test-time-adaptation.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from hrm_datasets.files import write_text_atomic


def all_maps(colours: int) -> list[tuple[int, ...]]:
    """Every map of colours 1..K into 0..K but the identity, as the targets of 1..K."""
    identity = tuple(range(1, colours + 1))
    return [m for m in itertools.product(range(colours + 1), repeat=colours) if m != identity]


def apply_map(grid: np.ndarray, targets: tuple[int, ...]) -> np.ndarray:
    table = np.array((0, *targets))
    return table[grid]


def pair(rng: np.random.Generator, targets: tuple[int, ...], max_size: int) -> dict[str, list]:
    """A random grid of 3..max_size rows and columns over colours 0..K holding every colour 1..K."""
    colours = len(targets)
    while True:
        grid = rng.integers(0, colours + 1, tuple(rng.integers(3, max_size + 1, 2)))
        if set(range(1, colours + 1)) <= set(np.unique(grid).tolist()):
            return {"input": grid.tolist(), "output": apply_map(grid, targets).tolist()}


def write_tasks(folder: Path, maps: list[tuple[int, ...]], demos: int, rng: np.random.Generator,
                max_size: int, filler: bool) -> None:
    (folder / "evaluation").mkdir(parents=True, exist_ok=True)
    for targets in maps:
        name = "cmap-" + "".join(map(str, targets))
        task = {"train": [pair(rng, targets, max_size) for _ in range(demos)],
                "test": [pair(rng, targets, max_size)]}
        write_text_atomic(folder / "evaluation" / f"{name}.json", json.dumps(task))
    if filler:
        # one small task of the first map in training/: the builder once needed that folder. It no longer does
        # (held-out tasks alone build a test split only), but the measured data/cmap holds this task and the
        # new tasks are drawn after it from the same stream, so it stays for the documented figures to reproduce.
        task = {"train": [pair(rng, maps[0], max_size) for _ in range(3)], "test": [pair(rng, maps[0], max_size)]}
        (folder / "training").mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / "training" / "filler.json", json.dumps(task))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the training tasks' sources")
    parser.add_argument("--new-out", type=Path, required=True, help="folder for the new tasks' sources")
    parser.add_argument("--colours", type=int, default=4, help="K: the map's colours 1..K (1..6; grids use 0..K)")
    parser.add_argument("--tasks", type=int, default=300, help="training tasks (maps)")
    parser.add_argument("--demos", type=int, default=16, help="demonstrations per training task")
    parser.add_argument("--new-tasks", type=int, default=70, help="tasks of maps no training task has")
    parser.add_argument("--new-demos", type=int, default=4, help="demonstrations per new task")
    parser.add_argument("--max-size", type=int, default=5, help="largest grid side (3..)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not 1 <= args.colours <= 6 or args.max_size < 3:
        parser.error("--colours must be 1..6 and --max-size at least 3")
    maps = all_maps(args.colours)
    if args.tasks + args.new_tasks > len(maps):
        parser.error(f"--tasks + --new-tasks must be at most {len(maps)}, the maps of {args.colours} colours")
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(maps))
    train = [maps[i] for i in order[:args.tasks]]
    new = [maps[i] for i in order[args.tasks:args.tasks + args.new_tasks]]
    write_tasks(args.out, train, args.demos, rng, args.max_size, filler=True)
    write_tasks(args.new_out, new, args.new_demos, rng, args.max_size, filler=False)
    print(f"wrote {len(train)} training tasks to {args.out}/evaluation and {len(new)} new tasks to "
          f"{args.new_out}/evaluation")


if __name__ == "__main__":
    main()
