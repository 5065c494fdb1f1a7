"""A dataset is checked against its dataset.json on load: each malformed file is one line naming it, exit 2.

Every case starts from a real 4x4 Sudoku build, breaks one file in tmp_path, and runs the real
entry point (`hrm train`, `hrm data stats/show`). The puzzle-id case runs the console script in a
subprocess: unchecked, it crashes the process with SIGSEGV.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hrm_inprocess import assert_one_line_error, run_main

from hrm_datasets.build_sudoku import build_sudoku
from hrm_datasets.errors import DatasetError
from hrm_datasets.format import DatasetMetadata, SplitArrays

TINY = ["arch.hidden_size=16", "arch.num_heads=2", "arch.H_layers=1", "arch.L_layers=1", "global_batch_size=4",
        "arch.halt_max_steps=1", "max_steps=1", "eval_interval=null", "compile=false"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("valid") / "d"
    build_sudoku(root, size=4, difficulty="easy", count=8, test_count=4, seed=0)
    return root


@pytest.fixture
def data(built, tmp_path):
    """A fresh copy of the good dataset to break."""
    return shutil.copytree(built, tmp_path / "d")


def _load(root, split, name):
    return np.load(root / split / f"all__{name}.npy")


def _save(root, split, name, array):
    np.save(root / split / f"all__{name}.npy", array)


def _meta(root, split="train", **fields):
    path = root / split / "dataset.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def _write(relpath, content):
    def mutate(root):
        path = root / relpath
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return mutate


def _array(name, change, split="train"):
    return lambda root: _save(root, split, name, change(_load(root, split, name)))


# (case, how the dataset is broken, the file named in the message, a fragment of the problem)
BROKEN = [
    ("dataset.json a number", _write("train/dataset.json", "3"), "train/dataset.json", "got a number"),
    ("dataset.json a list", _write("train/dataset.json", "[1, 2]"), "train/dataset.json", "got an array"),
    ("dataset.json truncated", _write("train/dataset.json", '{"pad_id": 0, "vo'), "train/dataset.json:1",
     "malformed JSON"),
    ("dataset.json empty", _write("train/dataset.json", ""), "train/dataset.json", "empty file"),
    ("dataset.json binary", _write("train/dataset.json", b"\xff\xfe\x00\x81"), "train/dataset.json", "not UTF-8"),
    ("dataset.json missing fields", _write("train/dataset.json", '{"vocab_size": 6}'), "train/dataset.json",
     "missing fields"),
    ("vocab_size a string", lambda r: _meta(r, vocab_size="6"), "train/dataset.json", "'vocab_size' must be an integer"),
    ("vocab_size true", lambda r: _meta(r, vocab_size=True), "train/dataset.json", "'vocab_size' must be an integer"),
    ("vocab_size 0", lambda r: _meta(r, vocab_size=0), "train/dataset.json", "'vocab_size' must be at least 1"),
    ("ignore_label_id a string", lambda r: _meta(r, ignore_label_id="x"), "train/dataset.json", "ignore_label_id"),
    ("mean_puzzle_examples a string", lambda r: _meta(r, mean_puzzle_examples="1"), "train/dataset.json",
     "mean_puzzle_examples"),
    ("sets a string", lambda r: _meta(r, sets="all"), "train/dataset.json", "'sets' must be"),
    ("sets a path", lambda r: _meta(r, sets=["../all"]), "train/dataset.json", "'sets' must be"),
    ("pad_id outside the vocabulary", lambda r: _meta(r, pad_id=99), "train/dataset.json", "'pad_id' 99"),
    ("blank id outside the table", lambda r: _meta(r, blank_identifier_id=3), "train/dataset.json",
     "blank_identifier_id"),
    ("total_groups wrong", lambda r: _meta(r, total_groups=999), "train/dataset.json", "total_groups is 999"),
    ("float inputs", _array("inputs", lambda a: a.astype(np.float32)), "train/all__inputs.npy", "float32"),
    ("float labels", _array("labels", lambda a: a.astype(np.float64)), "train/all__labels.npy", "float64"),
    ("bool inputs", _array("inputs", lambda a: a > 2), "train/all__inputs.npy", "bool"),
    ("inputs past the vocabulary", _array("inputs", lambda a: a + 3), "train/all__inputs.npy",
     "outside the vocabulary [0, 6)"),
    ("negative inputs", _array("inputs", lambda a: a.astype(np.int32) - 3), "train/all__inputs.npy",
     "outside the vocabulary"),
    ("labels past the vocabulary", _array("labels", lambda a: a + 3), "train/all__labels.npy",
     "not an ignore label, the ignore_label_id 0 or -100"),
    ("negative labels", _array("labels", lambda a: np.full(a.shape, -7, np.int32)), "train/all__labels.npy",
     "label -7"),
    ("float puzzle ids", _array("puzzle_identifiers", lambda a: a.astype(np.float32)),
     "train/all__puzzle_identifiers.npy", "float32"),
    ("negative puzzle id", _array("puzzle_identifiers", lambda a: a - 1), "train/all__puzzle_identifiers.npy",
     "id -1"),
    ("inputs 1-D", _array("inputs", lambda a: a.ravel()), "train/all__inputs.npy", "expected 2 dimension"),
    ("inputs 3-D", _array("inputs", lambda a: a[:, :, None]), "train/all__inputs.npy", "expected 2 dimension"),
    ("labels fewer rows", _array("labels", lambda a: a[:3]), "train/all__labels.npy", "differs from inputs"),
    ("rows shorter than seq_len", lambda r: [_array(n, lambda a: a[:, :9])(r) for n in ("inputs", "labels")],
     "train/all__inputs.npy", "seq_len 16"),
    ("puzzle_indices falling", _array("puzzle_indices", lambda a: a[::-1].copy()), "train/all__puzzle_indices.npy",
     "without falling"),
    ("puzzle_indices empty", _array("puzzle_indices", lambda a: a[:0]), "train/all__puzzle_indices.npy",
     "one more entry"),
    ("puzzle_indices short of the examples", _array("puzzle_indices", lambda a: np.minimum(a, 5)),
     "train/all__puzzle_indices.npy", "rise from 0 to 8"),
    ("group_indices too short", _array("group_indices", lambda a: a[:-2]), "train/all__group_indices.npy",
     "rise from 0 to"),
    ("an empty group", _array("group_indices", lambda a: np.concatenate([[0, 0], a[1:]]).astype(np.int32)),
     "train/all__group_indices.npy", "at least one puzzle"),
    ("float group_indices", _array("group_indices", lambda a: a.astype(np.float32)), "train/all__group_indices.npy",
     "float32"),
    ("an .npy that is not one", _write("train/all__inputs.npy", b"garbage"), "train/all__inputs.npy",
     "not a NumPy .npy array"),
    ("a missing array", lambda r: (r / "train" / "all__labels.npy").unlink(), "train/all__labels.npy", "cannot read"),
    ("test split: labels past the vocabulary", _array("labels", lambda a: a + 9, "test"), "test/all__labels.npy",
     "label"),
    ("test split: another vocabulary", lambda r: _meta(r, "test", vocab_size=12), "test", "vocab_size=12"),
    ("test split: more ids than the table", lambda r: _meta(r, "test", num_puzzle_identifiers=9), "test",
     "puzzle identifiers"),
]


@pytest.mark.parametrize("case, mutate, file, problem", BROKEN, ids=[c[0] for c in BROKEN])
def test_train_refuses_a_malformed_dataset_in_one_line(data, tmp_path, case, mutate, file, problem):
    mutate(data)
    result = run_main("train", str(data), *TINY, f"runs_dir={tmp_path / 'runs'}", "--run-name", "t", cwd=tmp_path)
    assert_one_line_error(result, file, problem)
    assert not (tmp_path / "runs" / "t" / "checkpoints").exists()  # refused before any training


@pytest.mark.parametrize("command", ["stats", "show"])
@pytest.mark.parametrize("case, mutate, file, problem", [
    ("dataset.json a number", _write("train/dataset.json", "3"), "train/dataset.json", "got a number"),
    ("float inputs", _array("inputs", lambda a: a.astype(np.float32)), "train/all__inputs.npy", "float32"),
    ("build.json a list", _write("build.json", "[1]"), "build.json", "got an array"),
    ("build.json binary", _write("build.json", b"\x89PNG\x00\xff"), "build.json", "not UTF-8"),
    ("build.json kind a number", _write("build.json", '{"kind": 3}'), "build.json", "'kind' must be a string"),
    ("build.json box a string", _write("build.json", '{"kind": "sudoku", "box": "x"}'), "build.json", "'box'"),
    ("identifiers.json an object", _write("identifiers.json", '{"a": 1}'), "identifiers.json", "got an object"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_data_commands_refuse_malformed_files(data, tmp_path, command, case, mutate, file, problem):
    mutate(data)
    result = run_main("data", command, str(data), cwd=tmp_path)
    assert_one_line_error(result, file, problem)  # stats reads and checks the names too


@pytest.mark.parametrize("split", ["train", "test"])
def test_a_puzzle_id_past_the_embedding_table_is_refused_not_a_segfault(data, tmp_path, run_hrm, split):
    """Unchecked, `hrm train` died with SIGSEGV (exit 139, no message): a subprocess, so a crash fails only this."""
    _save(data, split, "puzzle_identifiers", _load(data, split, "puzzle_identifiers") + 5)
    out = run_hrm("train", str(data), *TINY, "--run-name", "t", cwd=tmp_path)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
    assert f"{split}/all__puzzle_identifiers.npy: id 5 of puzzle 0 is outside [0, 1)" in out.stderr


def test_the_builders_output_passes_and_the_writer_checks_too(built, tmp_path):
    from hrm_datasets.format import load_split

    meta, sets = load_split(built, "train")
    assert meta.vocab_size == 6 and len(sets["all"].inputs) == 8
    bad = SplitArrays(inputs=np.full((2, 4), 1.5), labels=np.ones((2, 4), np.uint8),
                      puzzle_identifiers=np.zeros(2, np.int32), puzzle_indices=np.arange(3, dtype=np.int32),
                      group_indices=np.arange(3, dtype=np.int32))
    meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=3, seq_len=4,
                           num_puzzle_identifiers=1, total_groups=2, mean_puzzle_examples=1.0)
    with pytest.raises(DatasetError, match=r"train/all__inputs.npy: holds float64"):
        bad.validate(meta, "train/all")


def test_labels_may_hold_the_ignore_labels(built, tmp_path):
    """ignore_label_id (here -1, outside the vocabulary) and the loss's -100 are accepted in labels, nothing else."""
    from hrm_datasets.format import load_split

    root = shutil.copytree(built, tmp_path / "d")
    labels = _load(root, "train", "labels").astype(np.int32)
    labels[0, :3] = -1
    labels[1, :3] = -100  # reference-style data (ignore_label_id null) writes the loss's ignore label itself
    _save(root, "train", "labels", labels)
    _meta(root, ignore_label_id=-1)
    load_split(root, "train")
    labels[0, 0] = -2
    _save(root, "train", "labels", labels)
    with pytest.raises(DatasetError, match=r"label -2 at example 0, position 0 .* the ignore_label_id -1 or -100"):
        load_split(root, "train")
