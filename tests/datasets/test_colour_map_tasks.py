"""benchmarks/colour_map_tasks.py: colour-map tasks, the new tasks' maps never among the training tasks'."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.hrm_paths import REPO

SCRIPT = REPO / "benchmarks" / "colour_map_tasks.py"


def _run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def _maps(folder) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (folder / "evaluation").glob("*.json")}


def test_tasks_follow_their_map_and_new_maps_are_unseen(tmp_path):
    train, new = tmp_path / "train", tmp_path / "new"
    done = _run("--out", train, "--new-out", new, "--colours", 3, "--tasks", 40, "--demos", 5, "--new-tasks", 12,
                "--seed", 3)
    assert done.returncode == 0, done.stderr
    seen, unseen = _maps(train), _maps(new)
    assert len(seen) == 40 and len(unseen) == 12 and not set(seen) & set(unseen)
    assert "cmap-123" not in seen | unseen  # the identity is no rule
    for name, task in (seen | unseen).items():
        targets = [0, *map(int, name.removeprefix("cmap-"))]
        assert len(task["train"]) == (5 if name in seen else 4) and len(task["test"]) == 1
        for example in task["train"] + task["test"]:
            grid = example["input"]
            assert {1, 2, 3} <= {c for row in grid for c in row}  # every colour of the map is shown
            assert 3 <= len(grid) <= 5 and 3 <= len(grid[0]) <= 5
            assert example["output"] == [[targets[c] for c in row] for row in grid]
    assert (train / "training" / "filler.json").is_file() and not (new / "training").exists()


def test_more_tasks_than_maps_is_refused(tmp_path):
    done = _run("--out", tmp_path / "a", "--new-out", tmp_path / "b", "--colours", 2, "--tasks", 8, "--new-tasks", 1)
    assert done.returncode == 2 and "at most 8" in done.stderr and not (tmp_path / "a").exists()
