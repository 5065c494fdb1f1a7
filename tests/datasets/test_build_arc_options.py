"""`build_arc` beyond the reference: a smaller canvas and evaluation tasks kept out of training (--eval-demos exclude)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hrm_inprocess import assert_one_line_error, run_main

from hrm_datasets.arc import crop, encode
from hrm_datasets.build_arc import build_arc
from hrm_datasets.errors import DatasetError
from hrm_datasets.format import load_identifiers, load_split
from hrm_datasets.render import arc_tokens_to_grid


def write_task(folder, name, train, test):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"train": train, "test": test}))


@pytest.fixture
def arc_dir(tmp_path):
    root = tmp_path / "ARC"
    pair = lambda a, b: {"input": a, "output": b}  # noqa: E731
    write_task(root / "training", "aaa", [pair([[1, 2]], [[2, 1]]), pair([[3, 0]], [[0, 3]])], [pair([[4, 5]], [[5, 4]])])
    write_task(root / "evaluation", "bbb", [pair([[1, 1], [0, 2]], [[2, 0], [1, 1]])],
               [pair([[3, 3], [0, 1]], [[1, 0], [3, 3]])])
    return root


def test_a_small_canvas_keeps_the_layout_and_crops_back():
    grid = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    x, _ = encode(grid, grid, (1, 2), canvas=6)
    board = x.reshape(6, 6)
    assert np.array_equal(board[1:3, 2:5], grid + 2) and np.all(board[3, 2:5] == 1) and np.all(board[1:3, 5] == 1)
    y, _ = encode(grid, grid, canvas=3)  # no room for EOS: the grid fills the canvas, as a 30x30 grid does at 30
    assert y.size == 9 and np.array_equal(crop(y), grid) and np.array_equal(arc_tokens_to_grid(y), grid)


def test_canvas_sets_seq_len_and_every_grid_must_fit(arc_dir, tmp_path):
    record = build_arc(tmp_path / "small", source_dirs=[arc_dir], num_aug=1, seed=0, canvas=4)
    meta, sets = load_split(tmp_path / "small", "train")
    assert record["grid"] == [4, 4] and meta.seq_len == 16 and sets["all"].inputs.shape[1] == 16
    with pytest.raises(DatasetError, match=r"2x2 is larger than the 1x1 canvas; raise --canvas"):
        build_arc(tmp_path / "tiny", source_dirs=[arc_dir], num_aug=0, canvas=1)
    with pytest.raises(DatasetError, match="--canvas 31 must be between 1 and 30"):
        build_arc(tmp_path / "big", source_dirs=[arc_dir], canvas=31)
    assert not (tmp_path / "tiny").exists() and not (tmp_path / "big").exists()


def test_exclude_keeps_evaluation_tasks_out_of_the_train_split(arc_dir, tmp_path):
    build_arc(tmp_path / "out", source_dirs=[arc_dir], num_aug=3, seed=0, eval_demos="exclude")
    names = load_identifiers(tmp_path / "out")
    _, train = load_split(tmp_path / "out", "train")
    tmeta, test = load_split(tmp_path / "out", "test")
    train_names = {names[i] for i in train["all"].puzzle_identifiers}
    test_names = {names[i] for i in test["all"].puzzle_identifiers}
    assert test_names == {"bbb"} and not any(n.startswith("bbb") for n in train_names)  # not augmented either
    assert {n.split("_")[0] for n in train_names} == {"aaa"} and len(train_names) == 4
    assert tmeta.num_puzzle_identifiers == len(names) == 1 + 4 + 1  # bbb keeps an id no training row uses
    assert len(test["all"].inputs) == 1
    with pytest.raises(DatasetError, match="--eval-demos 'some' must be one of"):
        build_arc(tmp_path / "bad", source_dirs=[arc_dir], eval_demos="some")


def test_held_out_tasks_alone_build_a_test_split_only(arc_dir, tmp_path):
    """evaluation/ alone with its demonstrations excluded: nothing to train on, a dataset for `hrm eval --adapt`."""
    source = tmp_path / "held-out"
    (source / "evaluation").mkdir(parents=True)
    (source / "evaluation" / "bbb.json").write_text((arc_dir / "evaluation" / "bbb.json").read_text())
    record = build_arc(tmp_path / "only", source_dirs=[source], num_aug=3, eval_demos="exclude", canvas=4)
    assert record["splits"] == ["test"] and "train" not in record["stats"]
    assert not (tmp_path / "only" / "train").exists()
    meta, test = load_split(tmp_path / "only", "test")
    assert len(test["all"].inputs) == 1 and meta.seq_len == 16
    assert json.loads((tmp_path / "only" / "tasks" / "evaluation" / "bbb.json").read_text())["train"]
    with pytest.raises(DatasetError, match="a test split only"):
        load_split(tmp_path / "only", "train")
    built = run_main("data", "build", "arc", "--source-dir", str(source), "--canvas", "4", "--num-aug", "0",
                     "--eval-demos", "exclude", "--output", str(tmp_path / "cli"))
    assert built.returncode == 0 and "no train split" in built.stdout, built.stderr
    assert_one_line_error(run_main("train", str(tmp_path / "cli"), "--config", "trm-tiny"), "no split 'train'",
                          "a test split only")
