"""`hrm solve --steps`: every ACT segment's answer and the H/L residual norms, on tiny real checkpoints."""

from __future__ import annotations

import json

import pytest

from hrm_datasets.build_maze import build_maze
from hrm_datasets.build_sudoku import build_sudoku
from hrm_engine.run.checkpoint import load_checkpoint
from hrm_inprocess import run_main
from tiny_runs import tiny_run

WITH_BLANKS = "1..4..1..1..4..1"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("steps")
    build_sudoku(root / "d4", size=4, difficulty="easy", count=32, test_count=4, seed=0)
    build_maze(root / "m6", size=6, count=16, test_count=2, min_path_length=4, seed=0)
    return root, tiny_run(root, root / "d4", "sudoku", steps=2), tiny_run(root, root / "m6", "maze", steps=1)


def test_steps_json_has_every_segment_and_the_residual_norms(runs):
    _, sudoku, _ = runs
    cfg = load_checkpoint(sudoku).model.config
    out = run_main("solve", str(sudoku), "--puzzle", WITH_BLANKS, "--steps", "--json")
    assert out.returncode in (0, 1), out.stderr
    sol = json.loads(out.stdout)["solutions"][0]
    segments = sol["segments"]
    assert [s["segment"] for s in segments] == list(range(1, cfg.halt_max_steps + 1))
    for seg in segments:
        assert len(seg["prediction"]) == 16 and len(seg["answer"]) == 4 and len(seg["answer"][0]) == 4
        assert len(seg["residuals"]["z_H"]) == cfg.H_cycles
        assert [len(r) for r in seg["residuals"]["z_L"]] == [cfg.L_cycles] * cfg.H_cycles
        assert all(v > 0 for v in seg["residuals"]["z_H"] + sum(seg["residuals"]["z_L"], []))
        assert 0 < seg["halt_confidence"] < 1 and seg["wants_halt"] == (seg["halt_confidence"] > 0.5)
        assert seg["changed_count"] == len(seg["changed"])
    # the last segment's answer is the one `hrm solve` gives
    assert segments[-1]["prediction"] == sol["prediction"]
    longer = json.loads(run_main("solve", str(sudoku), "--puzzle", WITH_BLANKS, "--steps", "--json",
                                 "--max-segments", "5").stdout)["solutions"][0]
    assert len(longer["segments"]) == 5 and longer["segments"][-1]["prediction"] == longer["prediction"]
    plain = json.loads(run_main("solve", str(sudoku), "--puzzle", WITH_BLANKS, "--json").stdout)["solutions"][0]
    assert "segments" not in plain and plain["prediction"] == sol["prediction"]


def test_steps_drawing_marks_changes_without_colour(runs):
    _, sudoku, _ = runs
    out = run_main("solve", str(sudoku), "--puzzle", WITH_BLANKS, "--steps")
    assert out.returncode in (0, 1), out.stderr
    text = out.stdout
    assert "segment 1" in text and "‖Δz_H‖" in text and "‖Δz_L‖" in text and "sigmoid(q_halt − q_continue)" in text
    assert "*" in text.split("puzzle")[0]  # piped: changed cells carry a mark
    assert "\x1b[" not in text
    assert text.index("segment 1") < text.index("model's answer")  # the steps, then the answer as before


def test_maze_steps_draw_the_route_on_the_walls(runs):
    _, _, maze = runs
    puzzle = "\n".join(["######", "#S   #", "# ## #", "#  # #", "## G #", "######"])
    out = run_main("solve", str(maze), "--puzzle", puzzle, "--steps", "--json")
    sol = json.loads(out.stdout)["solutions"][0]
    assert len(sol["segments"]) == load_checkpoint(maze).model.config.halt_max_steps
    rows = sol["segments"][0]["answer"]
    assert len(rows) == 6 and all(len(r) == 6 and set(r) <= set("# SGo") for r in rows)
    text = run_main("solve", str(maze), "--puzzle", puzzle, "--steps").stdout
    steps = text.split("model's answer")[0]
    assert "segment 1" in steps and "SS" in steps and "GG" in steps
    assert "██" in steps or "xx" in steps  # walls, or the route drawn through one
