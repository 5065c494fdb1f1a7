"""`hrm data build sudoku/show/stats` through the real console script, bad input included."""

from __future__ import annotations

import json

import numpy as np

from hrm_datasets.sudoku import solve

REFERENCE_FIELDS = {"pad_id", "ignore_label_id", "blank_identifier_id", "vocab_size", "seq_len",
                    "num_puzzle_identifiers", "total_groups", "mean_puzzle_examples", "sets"}
ARRAYS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


def test_build_writes_the_reference_format(run_hrm, tmp_path):
    out = run_hrm("data", "build", "sudoku", "--size", "6", "--count", "30", "--test-count", "10", "--num-aug", "2",
                  "--output", "d6", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["kind"] == "sudoku" and record["grid"] == [6, 6]
    root = tmp_path / "d6"
    assert json.loads((root / "identifiers.json").read_text()) == ["<blank>"]
    for split, examples in (("train", 90), ("test", 10)):
        meta = json.loads((root / split / "dataset.json").read_text())
        assert set(meta) == REFERENCE_FIELDS
        assert meta["vocab_size"] == 8 and meta["seq_len"] == 36 and meta["sets"] == ["all"]
        arrays = {k: np.load(root / split / f"all__{k}.npy") for k in ARRAYS}
        assert arrays["inputs"].shape == (examples, 36)
        assert arrays["puzzle_identifiers"].dtype == np.int32 and np.all(arrays["puzzle_identifiers"] == 0)
        assert arrays["puzzle_indices"].tolist() == list(range(examples + 1))
        groups = np.diff(arrays["group_indices"])
        assert np.all(groups == (3 if split == "train" else 1))
        # every example (augmented ones too) is a puzzle whose unique solution is its label
        for x, y in zip(arrays["inputs"][:30], arrays["labels"][:30]):
            sols, _ = solve(np.where(x > 1, x - 1, 0), 6, limit=2)
            assert len(sols) == 1 and np.array_equal(np.array(sols[0]) + 1, y)


def test_show_and_stats(run_hrm, tmp_path):
    assert run_hrm("data", "build", "sudoku", "--size", "4", "--count", "20", "--test-count", "5", "-o", "d4").returncode == 0
    shown = run_hrm("data", "show", "d4", "--split", "test", "--index", "2")
    assert shown.returncode == 0 and "puzzle" in shown.stdout and "|" in shown.stdout
    js = json.loads(run_hrm("data", "show", "d4", "--index", "1", "--json").stdout)
    assert js["kind"] == "sudoku" and len(js["inputs"]) == 16
    stats = json.loads(run_hrm("data", "stats", "d4", "--json").stdout)
    assert stats["splits"]["train"]["examples"] == 20 and stats["splits"]["test"]["examples"] == 5


def _one_error_line(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_bad_inputs_are_one_line_exit_2(run_hrm, tmp_path):
    good = "source,q,a,rating\nx,1.3.....2....1.,1234341221434321,0\n"
    (tmp_path / "ok.csv").write_text("source,q,a,rating\nx," + "..3." * 0 + "1234341221434321,1234341221434321,0\n")
    (tmp_path / "good.csv").write_text(good)
    cases = {
        "missing.csv": None,
        "short.csv": "source,q,a,rating\nx,123,1234,0\n",
        "range.csv": "source,q,a,rating\nx,9...............,1234341221434321,0\n",
        "header.csv": "a,b\n1,2\n",
        "wrong.csv": "source,q,a,rating\nx,1...............,1234341221434312,0\n",
    }
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    _one_error_line(run_hrm("data", "build", "sudoku", "--train-csv", "missing.csv", "--test-csv", "good.csv", "-o", "o1"),
                    "missing.csv")
    _one_error_line(run_hrm("data", "build", "sudoku", "--train-csv", "short.csv", "--test-csv", "good.csv", "-o", "o2"),
                    "short.csv:2")
    _one_error_line(run_hrm("data", "build", "sudoku", "--train-csv", "range.csv", "--test-csv", "good.csv", "-o", "o3"),
                    "range.csv:2", "out of range")
    _one_error_line(run_hrm("data", "build", "sudoku", "--train-csv", "header.csv", "--test-csv", "good.csv", "-o", "o4"),
                    "header.csv:1")
    _one_error_line(run_hrm("data", "build", "sudoku", "--train-csv", "wrong.csv", "--test-csv", "good.csv",
                            "--on-invalid", "fail", "-o", "o5"), "wrong.csv:2")
    _one_error_line(run_hrm("data", "build", "sudoku", "--size", "5", "-o", "o6"), "--size 5")
    for name in ("o1", "o2", "o3", "o4", "o5", "o6"):
        assert not (tmp_path / name).exists()  # no half dataset left behind
    assert not list(tmp_path.glob(".o*.tmp-*"))
    # an existing output is refused without --force
    assert run_hrm("data", "build", "sudoku", "--size", "4", "--count", "5", "--test-count", "2", "-o", "d").returncode == 0
    _one_error_line(run_hrm("data", "build", "sudoku", "--size", "4", "-o", "d"), "--force")
    _one_error_line(run_hrm("data", "show", "nowhere"), "nowhere")


def test_invalid_csv_rows_are_skipped_with_file_and_line(run_hrm, tmp_path):
    import random

    from hrm_datasets.sudoku import generate

    q, a, _ = generate(4, "hard", random.Random(0))
    rows = ["source,q,a,rating", "x,1...............,1234341221434321,0",  # many solutions: invalid
            f"y,{''.join(str(v) if v else '.' for v in q)},{''.join(map(str, a))},0"]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    out = run_hrm("data", "build", "sudoku", "--train-csv", "t.csv", "--test-csv", "t.csv", "-o", "dcsv", "--json")
    assert out.returncode == 0, out.stderr
    assert "t.csv:2" in out.stderr and "more than one solution" in out.stderr
    assert json.loads(out.stdout)["stats"]["train"]["puzzles"] == 1
