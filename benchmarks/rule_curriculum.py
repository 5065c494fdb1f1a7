"""Copy a synthetic ARC dataset with a difficulty side file that orders its training tasks for `curriculum=true`.

    .venv/bin/python benchmarks/rule_curriculum.py data/arc-syn5 data/arc-syn5-cur \
        --first rotate,reflect,translate,gravity
    hrm train data/arc-syn5-cur --config trm-arc-synthetic curriculum=true curriculum_start=0.12 curriculum_steps=0.5

An experiment for issue 31 (docs/test-time-adaptation.md, grid positions): does the preset learn the rules that
move cells by the grid's size when they come first? The competence curriculum (hrm_datasets.curriculum) draws
from the easiest groups by the split's `all__difficulty.npy` (rating, clues); this writes one rating per training
task from tasks/rules.json: 0 for a single part of a `--first` family, 1 for any other single part, 2 for a
composition (clues 0 throughout). Everything else is copied unchanged; the copy is staged and renamed when done.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from hrm_datasets.difficulty import difficulty_path, load_difficulty
from hrm_datasets.format import load_identifiers, load_split


def ratings(rules: dict, names: list[str], puzzle_identifiers: np.ndarray, group_indices: np.ndarray,
            first: set[str]) -> np.ndarray:
    """[groups, 2] int32 (rating, 0): 0 a single `first` part, 1 another single part, 2 a composition."""
    parts = {t["name"]: [p["family"] for p in t["parts"]] for t in rules["tasks"]}
    rows = []
    for g in range(len(group_indices) - 1):
        families = parts[names[puzzle_identifiers[group_indices[g]]]]
        rows.append((2 if len(families) > 1 else 0 if families[0] in first else 1, 0))
    return np.array(rows, np.int32).reshape(-1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a dataset from hrm data build arc --source synthetic")
    parser.add_argument("output", type=Path, help="the copy to write (must not exist)")
    parser.add_argument("--first", required=True, help="comma-separated rule families whose single parts come first")
    args = parser.parse_args()
    if args.output.exists():
        parser.error(f"{args.output} exists; choose another output folder")
    rules = json.loads((args.source / "tasks" / "rules.json").read_text())
    names = load_identifiers(args.source)
    staging = args.output.with_name(f".{args.output.name}.tmp")  # renamed into place when complete
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(args.source, staging)
    _, sets = load_split(staging, "train", mmap=False)
    arrays = sets["all"]
    rows = ratings(rules, names, arrays.puzzle_identifiers, arrays.group_indices,
                   {f for f in args.first.split(",") if f})
    np.save(difficulty_path(staging, "train"), rows)
    load_difficulty(staging, "train")  # read and checked as the curriculum sampler reads it
    staging.rename(args.output)
    counts = np.bincount(rows[:, 0], minlength=3)
    print(f"{len(rows)} training tasks: {counts[0]} first, {counts[1]} other single parts, {counts[2]} compositions "
          f"(curriculum_start={counts[0] / len(rows):.2f} starts from the first ones alone)")


if __name__ == "__main__":
    main()
