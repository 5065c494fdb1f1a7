"""The adaptation view driven by Textual's pilot at 80x24, on points a real search wrote (a tiny TRM trained on
a small synthetic ARC family), and on a file that grows while the screen is open."""

from __future__ import annotations

import pytest
from adapt_runs import adapt_run
from dash_helpers import screen_text, wait_for

from hrm_cli.dashboard import DashboardApp
from hrm_cli.dashboard.adapt_screen import AdaptScreen, points_file
from hrm_engine.adapt.points import append_points, point_lines
from hrm_engine.errors import HRMError

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def searches(tmp_path_factory):
    """Real searches on two held-out tasks: {task: {method: Search}}."""
    from hrm_engine.adapt.search import SearchSettings
    from hrm_engine.adapt.task import adapt_task, adaptation_space
    from hrm_engine.solving.arc_task import read_arc_task
    from hrm_engine.run.checkpoint import load_checkpoint

    data, run = adapt_run(tmp_path_factory)
    loaded = load_checkpoint(run)
    space = adaptation_space(loaded, 4)
    out = {}
    for path in sorted((data / "tasks" / "evaluation").glob("*.json"))[:2]:
        task = read_arc_task(path, 11, need_demos=True)
        out[task.name] = {m: adapt_task(loaded, task, m, SearchSettings(evaluations=6, batch=3), space).search
                          for m in ("none", "random", "bopro", "gradient")}
    return out


def _plot(app):
    return app.screen.query_one("#adapt-plot").spec


async def test_best_score_per_method_against_evaluations_follows_a_growing_file(searches, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (first, methods), (second, methods2) = list(searches.items())
    append_points(folder / "points.jsonl", [r for s in methods.values() for r in point_lines(first, s)])
    app = DashboardApp(tmp_path / "runs", refresh_s=0.1, adapt=folder)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, AdaptScreen) and app.screen.records,
                       what="points read")
        text = screen_text(app)
        assert "adaptation" in text and "1 task, 16 points" in text
        lines = {ln.label: ln for ln in _plot(app).lines}
        assert set(lines) == {"none", "random", "bopro", "gradient"}
        for method, line in lines.items():
            assert line.xs == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
            assert all(b >= a for a, b in zip(line.ys, line.ys[1:]))  # best so far never falls
            assert line.ys[-1] == pytest.approx(max(p.score for p in methods[method].points))
        assert len({ln.marker for ln in lines.values()}) == 4  # told apart without colour
        append_points(folder / "points.jsonl", [r for s in methods2.values() for r in point_lines(second, s)])
        await wait_for(pilot, lambda: "2 tasks, 32 points" in screen_text(app), what="the second task read")
        lines = {ln.label: ln for ln in _plot(app).lines}
        both = [max(p.score for p in m["random"].points) for m in (methods, methods2)]
        assert lines["random"].ys[-1] == pytest.approx(sum(both) / 2)
        solved = sum(max(p.exact for p in m["random"].points) >= 1.0 for m in (methods, methods2))
        row = next(line for line in screen_text(app).splitlines() if line.strip().startswith("random"))
        assert row.split()[1:3] == ["2", "6"] and row.split()[-1] == f"{solved}/2"


def test_a_path_without_points_is_one_line(tmp_path):
    with pytest.raises(HRMError, match="no points file"):
        points_file(tmp_path)
