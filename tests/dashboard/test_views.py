"""The dashboard's readability fixes: bench names and item traces, optimize values, legends, small grids."""

from __future__ import annotations

import json

import pytest
from dash_helpers import NOW, screen_text, wait_for, write_bench_run, write_trace, write_training_run
from rich.console import Console
from textual.widgets import DataTable

from hrm_agent.trace import TraceWriter
from hrm_cli.dashboard import DashboardApp
from hrm_cli.dashboard.agent_screen import AgentScreen
from hrm_cli.dashboard.bench_labels import metric_label
from hrm_cli.dashboard.bench_screen import BenchScreen
from hrm_cli.dashboard.plots import Line, PlotSpec, draw_plot
from hrm_cli.dashboard.training_screen import TrainingScreen

pytestmark = pytest.mark.anyio
SIZE = (80, 24)


def _app(runs) -> DashboardApp:
    return DashboardApp(runs, refresh_s=3600, clock=lambda: NOW)


async def _open_only_run(pilot, screen_type):
    await wait_for(pilot, lambda: bool(pilot.app.screen.runs), what="the run listed")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type) and pilot.app.screen.loaded)


def test_metric_labels_are_words():
    assert metric_label("pass@k.5") == "pass@5"
    assert metric_label("time_s.mean") == "time, mean (s)"
    assert metric_label("by_depth.3.pass@1") == "pass@1, depth 3"
    assert metric_label("some_new.key") == "some new, key"


async def test_bench_names_and_an_items_trace(tmp_path):
    runs = tmp_path / "runs"
    bench = runs / "bench" / "b1"
    write_bench_run(bench)
    write_trace(bench / "traces" / "m1__hrm__s0").close()  # one item keeps its trace
    app = _app(runs)
    async with app.run_test(size=SIZE) as pilot:
        await _open_only_run(pilot, BenchScreen)
        screen = app.screen
        text = screen_text(app)
        assert "pass@k.1" not in text and "recorded_failures" not in text and "time, mean (s)" in text
        assert "failures recorded" in text and "task" in text and "controller" in text
        items = screen.query_one("#items", DataTable)
        assert items.row_count == 12
        await pilot.press("tab")
        assert items.has_focus
        target = screen._item_keys.index(("m1", "hrm", "0"))
        await pilot.press(*["down"] * target)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, AgentScreen) and app.screen.loaded)
        assert app.screen.path == bench / "traces" / "m1__hrm__s0" and "What is 17 * 23" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("up", "t")  # an item without a trace file: a hint, the bench view stays
        assert isinstance(app.screen, BenchScreen)


async def test_optimize_trace_nodes_show_values(tmp_path):
    run = tmp_path / "runs" / "optimize" / "20250102-030000-opt1"
    writer = TraceWriter(run)
    writer.emit("run_start", run_id="o", kind="optimize", controller="bopro", task="sq", backend="scripted",
                model="m", evaluations=3, optimizer={"kernel": "matern52", "acquisition": "ei", "xi": 0.01})
    writer.emit("candidate", arm="bopro", evaluation=1, candidate="x = 3", score=0.25, valid=True, detail="",
                source="seed", best_so_far=0.25)
    writer.emit("gp_fit", arm="bopro", kernel="matern52", n=2, length_scale=0.7, signal_variance=1.0, noise=0.01,
                log_marginal_likelihood=-1.5)
    writer.emit("acquisition", arm="bopro", stage="latent", kind="ei", pool_size=64, value=0.125, mean=0.5, std=0.2)
    writer.emit("run_end", run_id="o", status="finished", arms={"bopro": {"best_score": 0.75, "evaluations": 3}},
                wall_s=1.0)
    writer.close()
    (run / "result.json").write_text(json.dumps({"status": "finished", "arms": {"bopro": {"best_score": 0.75}}}))
    app = _app(tmp_path / "runs")
    async with app.run_test(size=(120, 30)) as pilot:
        await _open_only_run(pilot, BenchScreen)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, AgentScreen) and app.screen.loaded)
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "score 0.25" in text and "lml -1.5" in text and "value 0.125" in text and "bopro best 0.75" in text
        assert "optimizer.kernel" in text and '{"kernel"' not in text  # a table, not a JSON dump


def test_legend_is_below_the_plot():
    spec = PlotSpec("loss vs step", (Line([0, 1, 2], [1.0, 0.5, 0.25], "braille", "cyan", "train"),
                                     Line([1, 2], [0.6, 0.3], "o", "orange", "eval", scatter=True)))
    lines = [s.text for s in draw_plot(spec, 40, 12, "default", Console())]
    assert len(lines) == 12 and lines[-1].startswith("⢕⢕ train  oo eval")
    assert not any("train" in line for line in lines[:-1])  # nothing written over the data


async def test_all_plots_at_80x24_keep_their_titles(tmp_path):
    write_training_run(tmp_path / "runs" / "t1", status="finished")
    app = _app(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await _open_only_run(pilot, TrainingScreen)
        await pilot.press("v")
        await pilot.pause(0.3)
        text = screen_text(app)
        for title in ("lm_loss", "exact accuracy", "learning rate", "tokens/s", "ACT steps"):
            assert title in text, title
        assert "summary" in text and "eval exact" in text and "last evaluation" not in text
        await pilot.press("v")
        assert "last evaluation" in screen_text(app)
