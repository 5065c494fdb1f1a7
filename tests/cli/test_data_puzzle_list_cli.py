"""A published puzzle list (one puzzle a line, no answers) built with the real `hrm` and evaluated with `hrm eval`."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from hrm_datasets.errors import DatasetError
from hrm_datasets.loader import iter_eval
from hrm_datasets.sudoku import generate, solve

TRM = ["arch.hidden_size=32", "arch.num_heads=2", "arch.H_cycles=1", "arch.L_cycles=1", "arch.halt_max_steps=2",
       "global_batch_size=16", "max_steps=3", "log_interval=3", "eval_interval=null"]


def _text(grid, blank: str = ".") -> str:
    return "".join(str(int(v)) if v else blank for v in grid)


def _no_solution(q: np.ndarray, a: np.ndarray) -> str:
    """A blank filled with a digit that repeats no given but is not the solution's: the puzzle has no solution."""
    for i in np.flatnonzero(q == 0):
        for d in set(range(1, 10)) - {int(a[i])}:
            bad = q.copy()
            bad[i] = d
            try:
                if not solve(bad, 9, limit=1)[0]:
                    return _text(bad)
            except DatasetError:
                continue
    raise AssertionError("no such digit")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A plain list as sets are published: our generator's 9x9 puzzles, '.' and '0' blanks, notes, two bad lines."""
    root = tmp_path_factory.mktemp("published")
    rng = random.Random(11)
    puzzles = [generate(9, "medium", rng) for _ in range(5)]
    q0, a0, _ = puzzles[0]
    lines = ["# five puzzles, one without a solution, one with many", ""]
    lines += [_text(q, "." if i % 2 else "0") + ("   # a note" if i == 2 else "")
              for i, (q, _, _) in enumerate(puzzles)]
    lines += [_no_solution(q0, a0), "." * 80 + "1"]
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root, puzzles


def _one_error_line(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_a_plain_list_builds_a_test_split_with_the_solvers_answers(published, run_hrm):
    root, puzzles = published
    out = run_hrm("data", "build", "sudoku", "--test-csv", "list.txt", "-o", "pub", "--json", cwd=root)
    assert out.returncode == 0, out.stderr
    assert "list.txt:8: the puzzle has no solution" in out.stderr
    assert "list.txt:9: the puzzle has more than one solution" in out.stderr
    record = json.loads(out.stdout)
    assert record["splits"] == ["test"] and record["grid"] == [9, 9]
    assert record["files"]["test"] | {"file": None} == {
        "file": None, "layout": "puzzle list", "answers": "exact solver", "puzzles": 5, "skipped": 2,
        "skipped_by_reason": {"the puzzle has no solution": 1, "the puzzle has more than one solution": 1},
        "below_min_rating": 0}
    assert not (root / "pub" / "train").exists()
    rows = [(batch, count) for batch, count in iter_eval(root / "pub", "test", batch_size=4)]
    assert [count for _, count in rows] == [4, 1]
    inputs = np.concatenate([b["inputs"] for b, _ in rows])[:5]
    labels = np.concatenate([b["labels"] for b, _ in rows])[:5]
    for (q, a, _), x, y in zip(puzzles, inputs, labels):
        assert np.array_equal(x, q.astype(np.int32) + 1) and np.array_equal(y, a.astype(np.int32) + 1)
    said = run_hrm("data", "build", "sudoku", "--test-csv", "list.txt", "-o", "pub2", cwd=root)
    said_text = " ".join(said.stdout.split())
    assert "test: 5 puzzles from list.txt (puzzle list; answers: exact solver); skipped 2" in said_text
    stats = json.loads(run_hrm("data", "stats", "pub", "--json", cwd=root).stdout)
    assert list(stats["splits"]) == ["test"] and stats["splits"]["test"]["examples"] == 5
    shown = run_hrm("data", "show", "pub", "--index", "4", cwd=root)
    assert shown.returncode == 0 and "test example 4/4" in shown.stdout
    _one_error_line(run_hrm("train", "pub", "--config", "trm-tiny", cwd=root), "no split 'train'", "test split only")


@pytest.mark.parametrize("text, args, fragments", [
    ("", (), ["bad.txt: the file is empty"]),
    ("# nothing\n\n", (), ["bad.txt: only blank and comment lines"]),
    ("." * 81 + "\n" + "." * 80 + "\n", (), ["bad.txt:2:", "80 cells, not 81"]),
    ("." * 40 + "x" + "." * 40 + "\n", (), ["bad.txt:1:", "character 'x' at column 41"]),
    ("." * 81 + "\n\n" + "." * 16 + "\n", (), ["bad.txt:3:", "a 4x4 puzzle in a list of 9x9 puzzles"]),
    ("\n".join(["." * 81] * 4) + "\n", ("--max-invalid", "2"), ["bad.txt:3:", "more than 2 puzzles"]),
    ("." * 81 + "\n", ("--on-invalid", "fail"), ["bad.txt:1:", "more than one solution"]),
    ("." * 81 + "\n", ("--num-aug", "2"), ["--num-aug applies to the train split"]),
])
def test_bad_lists_are_one_line_exit_2(tmp_path, run_hrm, text, args, fragments):
    (tmp_path / "bad.txt").write_text(text)
    _one_error_line(run_hrm("data", "build", "sudoku", "--test-csv", "bad.txt", *args, "-o", "o"), *fragments)
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.tmp-*"))


def test_a_checkpoint_trained_on_generated_9x9_is_evaluated_on_the_list(published, run_hrm):
    """The check of issue 33: train on our generator's 9x9 data, then `hrm eval` on a set built from a plain list."""
    root, _ = published
    build = run_hrm("data", "build", "sudoku", "--size", "9", "--difficulty", "easy", "--count", "32",
                    "--test-count", "4", "-o", "g9", cwd=root)
    assert build.returncode == 0, build.stderr
    train = run_hrm("train", "g9", "--config", "trm-tiny", *TRM, "--run-name", "r", cwd=root)
    assert train.returncode == 0, train.stderr
    if not (root / "pub").exists():
        assert run_hrm("data", "build", "sudoku", "--test-csv", "list.txt", "-o", "pub", cwd=root).returncode == 0
    ev = run_hrm("eval", "runs/r", "--data", "pub", "--json", cwd=root)
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout)["metrics"]
    assert metrics["count"] == 5 and 0.0 <= metrics["exact_accuracy"] <= 1.0
    table = run_hrm("eval", "runs/r", "--data", "pub", cwd=root)
    assert table.returncode == 0 and "exact accuracy" in table.stdout and "puzzles scored" in table.stdout
    (root / "four.txt").write_text("......12.1.3.32.\n")
    assert run_hrm("data", "build", "sudoku", "--test-csv", "four.txt", "-o", "pub4", cwd=root).returncode == 0
    _one_error_line(run_hrm("eval", "runs/r", "--data", "pub4", cwd=root), "vocab_size=6", "trained with 11",
                    "same kind and size")


def test_eval_on_a_list_scores_exactly_what_the_model_gets_right(tmp_path, run_hrm):
    """The copy model answers its input: on a list with one grid given in full it is right on exactly that one."""
    from tiny_runs import tiny_run

    rng = random.Random(5)
    puzzles = [generate(9, "easy", rng) for _ in range(3)]
    lines = [_text(q) for q, _, _ in puzzles] + [_text(puzzles[0][1])]  # the last: a full grid, its own answer
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    assert run_hrm("data", "build", "sudoku", "--size", "9", "--difficulty", "easy", "--count", "16",
                   "--test-count", "2", "-o", "g9").returncode == 0
    assert run_hrm("data", "build", "sudoku", "--test-csv", "list.txt", "-o", "pub").returncode == 0
    tiny_run(tmp_path, tmp_path / "g9", name="copy", copy=True)
    ev = run_hrm("eval", "copy", "--data", "pub", "--json")
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout)["metrics"]
    assert metrics["count"] == 4 and metrics["exact_accuracy"] == pytest.approx(0.25)
