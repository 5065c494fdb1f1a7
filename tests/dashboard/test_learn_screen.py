"""The learn-curve view driven by Textual's pilot at 80x24, on curve files written by engine/bench/learn.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from dash_helpers import screen_text, wait_for

from hrm_cli.dashboard import DashboardApp
from hrm_cli.dashboard.learn_screen import LearnScreen, check_learn_paths, curve_files
from hrm_engine.bench import learn as learn_bench
from hrm_engine.errors import HRMError

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


def write_curve(path: Path, label: str, points: list[tuple[float, int, float]], stop: str | None = "budget") -> dict:
    """A curve file by the real writer: (training seconds, step, exact accuracy) per evaluation."""
    curve = learn_bench.new_curve(label, "hrm", {"name": label}, {"eval_examples": 100, "seq_len": 36},
                                  target=None, budget_s=120.0, eval_every_s=30.0)
    for t, step, exact in points:
        learn_bench.add_point(curve, {"train_seconds": t, "step": step, "exact_accuracy": exact,
                                      "accuracy": min(1.0, exact + 0.3), "eval_seconds": 1.5}, 64 * 36)
    curve["stop_reason"] = stop
    learn_bench.write_curve(path, curve)
    return curve


@pytest.fixture
def curves(tmp_path) -> Path:
    folder = tmp_path / "side"
    write_curve(folder / "a.json", "reference TRM", [(30.0, 100, 0.1), (60.0, 200, 0.55), (90.0, 300, 0.7)])
    write_curve(folder / "b.json", "hrm TRM mode", [(30.0, 400, 0.3), (60.0, 800, 0.92)])
    (folder / "summary.json").write_text('{"arms": {}}')  # beside the curves, not one of them
    return folder


def _plot_lines(app):
    return app.screen.query_one("#learn-plot").spec.lines


async def test_overlaid_curves_against_seconds_then_steps(curves, tmp_path):
    app = DashboardApp(tmp_path / "runs", refresh_s=0.1, learn=[curves])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LearnScreen) and len(app.screen.curves) == 2,
                       what="two curves read")
        text = screen_text(app)
        assert "learn curves  2 files" in text and "exact accuracy vs training seconds" in text
        assert "reference TRM" in text and "hrm TRM mode" in text
        assert "0m00s" not in text and "1m00s" in text  # time to 0.5: 60 s for both; to 0.9 only the second
        lines = _plot_lines(app)
        assert [ln.xs for ln in lines] == [[30.0, 60.0, 90.0], [30.0, 60.0]]
        assert [ln.ys for ln in lines] == [[0.1, 0.55, 0.7], [0.3, 0.92]]
        assert lines[0].marker != lines[1].marker  # told apart without colour
        await pilot.press("x")
        assert "exact accuracy vs step" in screen_text(app)
        assert [ln.xs for ln in _plot_lines(app)] == [[100.0, 200.0, 300.0], [400.0, 800.0]]
        await pilot.press("y")
        assert "token accuracy vs step" in screen_text(app)
        assert _plot_lines(app)[1].ys == [0.6, 1.0]
        await pilot.press("escape")
        assert not isinstance(app.screen, LearnScreen)


async def test_a_curve_being_written_is_followed(tmp_path):
    path = tmp_path / "live.json"
    write_curve(path, "live", [(30.0, 10, 0.2)], stop=None)
    app = DashboardApp(tmp_path / "runs", refresh_s=0.1, learn=[path])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LearnScreen) and app.screen.curves, what="curve read")
        assert "running" in screen_text(app)
        write_curve(path, "live", [(30.0, 10, 0.2), (60.0, 20, 0.6)], stop="budget")
        await wait_for(pilot, lambda: len(app.screen.curves[0]["points"]) == 2, what="the new point")
        text = screen_text(app)
        assert "budget" in text and "0.6" in text and _plot_lines(app)[0].xs == [30.0, 60.0]


async def test_a_damaged_file_is_named_and_the_others_still_plot(curves, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "hrm-learn-curve/1", "points": [{"step": 1}]}')
    app = DashboardApp(tmp_path / "runs", refresh_s=0.1, learn=[curves / "a.json", bad])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LearnScreen) and app.screen.curves, what="curve read")
        await wait_for(pilot, lambda: app.screen.problems, what="the problem noted")
        text = screen_text(app)
        assert "1 file" in text and "bad.json" in text and "reference TRM" in text


def test_paths_are_checked_before_the_ui_starts(curves, tmp_path):
    assert [p.name for p in check_learn_paths([curves])] == ["a.json", "b.json"]
    assert curve_files([curves / "b.json", curves]) == [curves / "b.json", curves / "a.json", curves / "b.json"]
    with pytest.raises(HRMError, match="does not exist"):
        check_learn_paths([tmp_path / "missing.json"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(HRMError, match="holds no learn curve files"):
        check_learn_paths([tmp_path / "empty"])
    with pytest.raises(HRMError, match="not a learn curve"):
        check_learn_paths([curves / "summary.json"])


def test_the_cli_refuses_a_missing_curve_in_one_line(run_hrm, tmp_path):
    r = run_hrm("dashboard", "--learn", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "learn curve" in r.stderr and "does not exist" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
