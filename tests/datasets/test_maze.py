"""Maze generation, BFS-checked labels, hardness, dihedral augmentation, CSV import."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_datasets.build_maze import build_maze
from hrm_datasets.errors import DatasetError
from hrm_datasets.format import load_split
from hrm_datasets.maze import CHARSET, DIHEDRAL_INVERSE, OPEN, PATH, bfs, check_label, dihedral, generate


def test_generated_labels_are_shortest_paths_and_hard():
    rng = np.random.default_rng(0)
    for _ in range(10):
        grid, label, length = generate(30, 110, rng)
        assert length >= 110
        assert check_label(grid, label) is None
        assert (label == PATH).sum() == length - 1


def test_check_label_rejects_a_detour_and_a_broken_path():
    grid, label, _ = generate(15, 20, np.random.default_rng(1))
    broken = label.copy()
    cells = np.argwhere(label == PATH)
    broken[tuple(cells[len(cells) // 2])] = OPEN
    assert check_label(grid, broken) is not None
    extra = label.copy()
    spare = np.argwhere((grid == OPEN) & (label != PATH))
    extra[tuple(spare[0])] = PATH
    assert check_label(grid, extra) is not None


@pytest.mark.parametrize("tid", range(8))
def test_dihedral_keeps_labels_valid_and_inverts(tid):
    grid, label, _ = generate(15, 20, np.random.default_rng(tid))
    assert check_label(dihedral(grid, tid), dihedral(label, tid)) is None
    assert np.array_equal(dihedral(dihedral(grid, tid), DIHEDRAL_INVERSE[tid]), grid)


def test_build_with_aug_groups_eight_versions(tmp_path):
    build_maze(tmp_path / "m", size=11, count=4, test_count=2, min_path_length=10, aug=True, seed=0)
    meta, sets = load_split(tmp_path / "m", "train")
    arr = sets["all"]
    assert meta.vocab_size == 6 and meta.seq_len == 121 and len(arr.inputs) == 32
    assert np.diff(arr.group_indices).tolist() == [8, 8, 8, 8]
    for x, y in zip(arr.inputs, arr.labels):
        assert check_label(x.reshape(11, 11), y.reshape(11, 11)) is None


def test_csv_import_checks_labels(tmp_path):
    grid, label, _ = generate(7, 4, np.random.default_rng(3))
    q = "".join(CHARSET[v - 1] for v in grid.reshape(-1))
    a = "".join(CHARSET[v - 1] for v in label.reshape(-1))
    bad = a.replace("o", " ", 1)
    (tmp_path / "t.csv").write_text(f"source,question,answer,rating\nx,{q},{a},0\ny,{q},{bad},0\n")
    rec = build_maze(tmp_path / "m", train_csv=tmp_path / "t.csv", test_csv=tmp_path / "t.csv")
    assert rec["stats"]["train"]["mazes"] == 1 and "t.csv:3" in rec["skipped"][0]
    with pytest.raises(DatasetError, match="t.csv:3"):
        build_maze(tmp_path / "m2", train_csv=tmp_path / "t.csv", test_csv=tmp_path / "t.csv", on_invalid="fail")
    assert bfs(grid, tuple(np.argwhere(grid == 3)[0])).max() > 0
