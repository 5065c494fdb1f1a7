"""`hrm data build arc --source synthetic` through the real CLI: a small family, shown and summarised; bad flags."""

from __future__ import annotations

import json

import pytest
from hrm_inprocess import assert_one_line_error, run_main


def test_cli_builds_a_small_family_that_show_and_stats_read(run_hrm, tmp_path):
    built = run_hrm("data", "build", "arc", "--source", "synthetic", "--train-tasks", "20", "--test-tasks", "5",
                    "--seed", "4", "--output", "syn", "--json")
    assert built.returncode == 0, built.stderr
    record = json.loads(built.stdout)
    assert record["source"] == "synthetic" and record["grid"] == [11, 11]
    assert record["stats"]["train"]["tasks"] == 20 and record["stats"]["test"]["examples"] == 5
    assert len(list((tmp_path / "syn" / "tasks" / "training").glob("*.json"))) == 20
    assert len(list((tmp_path / "syn" / "tasks" / "evaluation").glob("*.json"))) == 5
    shown = run_hrm("data", "show", "syn", "--split", "test", "--index", "4", "--json")
    assert shown.returncode == 0, shown.stderr
    row = json.loads(shown.stdout)
    assert row["kind"] == "arc" and len(row["inputs"]) == 121 and row["puzzle_name"].startswith("syn-test-")
    drawn = run_hrm("data", "show", "syn", "--index", "2")
    assert drawn.returncode == 0 and "solution" in drawn.stdout, drawn.stderr
    stats = run_hrm("data", "stats", "syn", "--json")
    assert stats.returncode == 0, stats.stderr
    splits = json.loads(stats.stdout)["splits"]
    assert splits["train"]["seq_len"] == 121 and splits["test"]["examples"] == 5
    again = run_hrm("data", "build", "arc", "--source", "synthetic", "--train-tasks", "20", "--test-tasks", "5",
                    "--seed", "4", "--output", "syn2")
    assert again.returncode == 0 and "none in training" in again.stdout, again.stderr
    for path in sorted((tmp_path / "syn").rglob("*")):
        if path.is_file() and path.name != "build.json":  # build.json records the seconds taken
            assert path.read_bytes() == (tmp_path / "syn2" / path.relative_to(tmp_path / "syn")).read_bytes(), path


@pytest.mark.parametrize("args, fragment", [
    (["--source", "arc-agi-1", "--test-tasks", "5"], "--test-tasks applies only to --source synthetic"),
    (["--source-dir", "x", "--train-tasks", "5"], "--train-tasks applies only to --source synthetic"),
    (["--source", "synthetic", "--train-tasks", "0", "--test-tasks", "5"], "must be at least 1"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "0"], "must be at least 1"),
    (["--source", "synthetic", "--train-tasks", "5"], "needs --train-tasks N and --test-tasks M"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "2", "--source-dir", "x"], "drop --source-dir"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "2", "--subsample-size", "3"], "--subsample-size"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "2", "--canvas", "8"], "--canvas 8 must be between"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "2", "--max-size", "40"], "--max-size 40"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "2", "--eval-demos", "x"], "--eval-demos 'x'"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "2", "--num-aug", "-1"], "--num-aug"),
    (["--source", "nonsense"], "use arc-agi-1, arc-agi-2 or synthetic"),
    (["--source", "arc-agi-1", "--train-pairs", "8"], "--train-pairs applies only to --source synthetic"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "2", "--train-pairs", "2"], "--train-pairs 2 must be between"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "2", "--offsets", "centre"], "--offsets 'centre'"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "2", "--train-pairs", "8,flip=20"],
     "unknown rule family 'flip'"),
    (["--source", "synthetic", "--train-tasks", "5", "--test-tasks", "2", "--train-pairs", "rotate=20"],
     "give a count for every training task first"),
])
def test_bad_flags_are_one_line_exit_2(tmp_path, args, fragment):
    result = run_main("data", "build", "arc", *args, "--output", "out", cwd=tmp_path)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "out").exists()
