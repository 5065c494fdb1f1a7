"""benchmarks/rule_curriculum.py: a synthetic ARC copy whose difficulty file orders the tasks by their rules."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from hrm_datasets.arc_synthetic import build_synthetic_arc
from hrm_datasets.curriculum import CurriculumSampler
from hrm_datasets.difficulty import load_difficulty
from hrm_datasets.format import load_identifiers, load_split
from tests.hrm_paths import REPO

SCRIPT = REPO / "benchmarks" / "rule_curriculum.py"


def _run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_ratings_follow_the_rules_and_the_curriculum_starts_from_the_first_families(tmp_path):
    src, out = tmp_path / "syn", tmp_path / "cur"
    build_synthetic_arc(src, train_tasks=30, test_tasks=3, seed=4, max_size=5, train_pairs=4, offsets="origin")
    rules = json.loads((src / "tasks" / "rules.json").read_text())
    parts = {t["name"]: [p["family"] for p in t["parts"]] for t in rules["tasks"]}
    singles = {f[0] for f in parts.values() if len(f) == 1}
    first = sorted(singles)[0]
    done = _run(src, out, "--first", first)
    assert done.returncode == 0, done.stderr
    rows = load_difficulty(out, "train")
    _, sets = load_split(out, "train")
    arrays, names = sets["all"], load_identifiers(out)
    expected = []
    for g in range(len(arrays.group_indices) - 1):
        families = parts[names[arrays.puzzle_identifiers[arrays.group_indices[g]]]]
        expected.append(2 if len(families) > 1 else 0 if families == [first] else 1)
    assert rows[:, 0].tolist() == expected and set(expected) == {0, 1, 2} and not rows[:, 1].any()
    for name in ("all__inputs.npy", "all__labels.npy", "all__group_indices.npy"):  # the arrays are copied as they were
        assert np.array_equal(np.load(out / "train" / name), np.load(src / "train" / name))
    start = expected.count(0) / len(expected)
    sampler = CurriculumSampler(out, 8, total_steps=100, start=start, steps=0.5)
    _, puzzles = sampler.next_indices()  # the first batch draws only from the first family's tasks
    assert {tuple(parts[names[i]]) for i in arrays.puzzle_identifiers[puzzles]} == {(first,)}
    again = _run(src, out, "--first", first)  # an existing output is refused, not overwritten
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
