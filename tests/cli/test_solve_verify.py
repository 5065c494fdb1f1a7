"""`hrm solve --samples/--verify/--max-segments` and `hrm eval --samples --verify` through the real entry point."""

from __future__ import annotations

import json

import pytest

from hrm_datasets.build_sudoku import build_sudoku
from hrm_inprocess import assert_one_line_error, run_main
from tiny_runs import tiny_run

WITH_BLANKS = "1..4..1..1..4..1"
FULL = "1234341221434321"
UNVERIFIED = 5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sv")
    build_sudoku(root / "d4", size=4, difficulty="easy", count=32, test_count=6, seed=0)
    return root, tiny_run(root, root / "d4", "untrained", steps=1), tiny_run(root, root / "d4", "copy", copy=True)


def test_verify_abstains_on_an_untrained_checkpoint_in_one_line(runs):
    _, untrained, _ = runs
    res = run_main("solve", str(untrained), "--puzzle", WITH_BLANKS, "--samples", "8", "--verify")
    assert res.returncode == UNVERIFIED, res.stderr
    assert res.stdout.strip().count("\n") == 0 and res.stdout.startswith("no verified answer: ")
    assert "from 8 samples failed the sudoku verifier (top candidate: " in res.stdout and "Traceback" not in res.stderr
    out = run_main("solve", str(untrained), "--puzzle", WITH_BLANKS, "--verify", "--json")
    assert out.returncode == UNVERIFIED
    sol = json.loads(out.stdout)["solutions"][0]
    assert sol["abstained"] is True and sol["prediction"] is None and sol["verified"] is False
    assert sol["candidates"] and all(c["verified"] is False and c["reason"] for c in sol["candidates"])


def test_verify_answers_a_trivially_solvable_puzzle(runs):
    _, _, copy = runs
    res = run_main("solve", str(copy), "--puzzle", FULL, "--samples", "8", "--verify", "--max-segments", "4")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verified by the exact checker" in res.stdout and "halts at segment 1 of 4" in res.stdout
    assert "the top has 8 votes" in res.stdout
    out = json.loads(run_main("solve", str(copy), "--puzzle", FULL, "-k", "8", "--verify", "--json").stdout)
    sol = out["solutions"][0]
    assert sol["verified"] is True and sol["samples"] == 8 and sol["candidates"][0]["votes"] == 8
    assert sol["grid"] == [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]
    # the copy model leaves blanks blank: not solved (1) without --verify, abstains (5) with it
    assert run_main("solve", str(copy), "--puzzle", WITH_BLANKS).returncode == 1
    assert run_main("solve", str(copy), "--puzzle", WITH_BLANKS, "--verify").returncode == UNVERIFIED


def test_eval_samples_table_and_json(runs):
    root, _, copy = runs
    res = run_main("eval", str(copy), "--data", str(root / "d4"), "--samples", "4", "--verify", "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["metrics"]["count"] == 6 and "exact_accuracy" in report["metrics"]
    rows = report["samples"]["rows"]
    assert [(r["samples"], r["verify"]) for r in rows] == [(1, False), (1, True), (2, False), (2, True), (4, False),
                                                           (4, True)]
    assert all(r["wrong"] == 0 for r in rows if r["verify"])
    table = run_main("eval", str(copy), "--data", str(root / "d4"), "--samples", "2", "--max-segments", "3")
    assert table.returncode == 0 and "test-time samples (3 segments" in table.stdout and "top vote" in table.stdout
    assert table.stdout.index("exact accuracy") < table.stdout.index("token accuracy")


def test_bad_sample_and_segment_counts_are_one_line(runs):
    _, _, copy = runs
    assert_one_line_error(run_main("solve", str(copy), "--puzzle", FULL, "--samples", "0"), "--samples")
    assert_one_line_error(run_main("solve", str(copy), "--puzzle", FULL, "--max-segments", "0"), "--max-segments")
