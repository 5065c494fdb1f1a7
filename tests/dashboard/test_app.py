"""The dashboard driven by Textual's pilot at 80x24, on a real training run and a scripted agent trace."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from dash_helpers import screen_text, wait_for, write_bench_run, write_trace, write_training_run
from textual.widgets import DataTable, Tree
from textual_plotext import PlotextPlot

from hrm_cli.dashboard import DashboardApp
from hrm_cli.dashboard.agent_screen import AgentScreen
from hrm_cli.dashboard.app import HelpScreen
from hrm_cli.dashboard.bench_screen import BenchScreen
from hrm_cli.dashboard.runs_screen import RunsScreen
from hrm_cli.dashboard.training_screen import TrainingScreen

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


def _app(runs, **kw) -> DashboardApp:
    return DashboardApp(runs, refresh_s=kw.pop("refresh_s", 0.1), **kw)


async def _open(pilot, name: str) -> None:
    """Move the runs list's cursor to `name` and press enter."""
    screen = pilot.app.screen
    assert isinstance(screen, RunsScreen)
    await wait_for(pilot, lambda: any(r.name == name for r in screen.runs), what=f"run {name} listed")
    await _highlight(pilot, name)
    await pilot.press("enter")
    await wait_for(pilot, lambda: pilot.app.screen is not screen and getattr(pilot.app.screen, "loaded", True),
                   what=f"{name} opened")


async def _highlight(pilot, name: str) -> None:
    """Press up/down as a person would until `name` is the highlighted row."""
    screen = pilot.app.screen
    table = screen.query_one(DataTable)
    target = [r.name for r in screen.runs].index(name)
    for _ in range(len(screen.runs) + 1):
        if screen.highlighted is not None and screen.highlighted.name == name:
            return
        await pilot.press("down" if table.cursor_row < target else "up")
    raise AssertionError(f"could not highlight {name}")


def _live(path) -> None:
    """Make a copied run look like it is training right now (this process stands in for the trainer)."""
    info = json.loads((path / "run.json").read_text())
    info.update(status="running", heartbeat=time.time(), pid=os.getpid(), total_steps=100)
    (path / "run.json").write_text(json.dumps(info))


async def test_runs_list_and_navigation(runs):
    write_trace(runs / "agent" / "20250102-030000-aaaa").close()
    write_bench_run(runs / "bench" / "b1")
    app = _app(runs)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.runs) == 3)
        text = screen_text(app)
        assert "3 runs" in text and "step 12/12" in text and "finished" in text and "answered" in text
        assert "⏎ Open" in text or "enter Open" in text
        await _open(pilot, "t")
        assert isinstance(app.screen, TrainingScreen)
        await pilot.press("escape")
        await _open(pilot, "20250102-030000-aaaa")
        assert isinstance(app.screen, AgentScreen)
        await pilot.press("escape")
        await _open(pilot, "b1")
        assert isinstance(app.screen, BenchScreen)
        text = screen_text(app)
        assert "pass@1" in text and "tool_misuse" in text and "0.6667" in text and "spec_error" in text
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen) and "mark a training run" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_training_view_shows_the_real_run(runs):
    lines = [json.loads(x) for x in (runs / "t" / "metrics.jsonl").read_text().splitlines()]
    last_eval = [x for x in lines if x["type"] == "eval"][-1]
    app = _app(runs)
    async with app.run_test(size=SIZE) as pilot:
        await _open(pilot, "t")
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        await wait_for(pilot, lambda: bool(screen.snapshots))
        snap = screen.snapshots[0]
        assert snap.last_eval == last_eval and snap.status == "finished" and snap.step == 12
        assert len(snap.series["lm_loss"][0]) == sum(x["type"] == "train" for x in lines)
        text = screen_text(app)
        assert "step 12/12" in text and "last evaluation" in text and "lm_loss vs step" in text
        assert f"{last_eval['accuracy']:.4g}" in text
        # one plot at a time at 80x24: the keys switch it
        visible = lambda: [p.id for p in screen.query(PlotextPlot) if p.display]  # noqa: E731
        assert visible() == ["plot-lm_loss"]
        await pilot.press("2")
        assert visible() == ["plot-exact_accuracy"] and "exact accuracy" in screen_text(app)
        await pilot.press("right", "right")
        assert visible() == ["plot-tokens_per_s"]
        await pilot.press("6")
        assert "parameters" in screen_text(app) and "263,042" in screen_text(app)
        assert "device" in screen_text(app) and json.loads((runs / "t" / "run.json").read_text())["device"] in \
            screen_text(app)
        await pilot.press("v")
        assert len(visible()) == 5  # all plots
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_training_view_follows_appended_partial_and_malformed_lines(runs):
    _live(runs / "t")
    app = _app(runs)
    async with app.run_test(size=SIZE) as pilot:
        await _open(pilot, "t")
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.snapshots) and screen.snapshots[0].status == "running")
        assert "ETA" in screen_text(app)
        metrics = runs / "t" / "metrics.jsonl"
        record = {"type": "train", "step": 50, "lr": 1e-4, "lm_loss": 0.5, "exact_accuracy": 0.25, "steps": 3.0,
                  "tokens_per_s": 999.0, "steps_per_s": 2.0}
        with open(metrics, "a") as fh:
            fh.write(json.dumps(record)[:20])  # half a line: the writer is mid-flush
            fh.flush()
            await wait_for(pilot, lambda: screen.snapshots[0].pending, what="the partial line seen")
            assert screen.snapshots[0].last_train["step"] == 12  # not parsed before its newline
            fh.write(json.dumps(record)[20:] + "\n")
            fh.write("this is not json\n")
            fh.write('{"type": "eval", "split": "test", "step": 50, "exact_accuracy": 0.5, "accuracy": 0.75}\n')
        await wait_for(pilot, lambda: (screen.snapshots[0].last_eval or {}).get("step") == 50, what="eval at 50")
        snap = screen.snapshots[0]
        assert snap.last_train["step"] == 50 and snap.skipped == 1 and not snap.pending
        assert snap.series["lm_loss"][0][-1] == 50 and snap.eval_series["exact_accuracy"][0][-1] == 50
        assert snap.eval_series["exact_accuracy"][1][-1] == 0.5
        text = screen_text(app)
        assert "skipped 1 lines" in text and "step 12/100" in text


async def test_compare_two_runs_on_the_same_axes(runs):
    shutil.copytree(runs / "t", runs / "t2")
    app = _app(runs)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.runs) == 2)
        await pilot.press("c")  # nothing marked: a hint, no crash
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("m")
        await pilot.press("down")
        await pilot.press("c")  # the marked one and the highlighted one
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.loaded)
        compare = app.screen
        assert [s.name for s in compare.snapshots] == [screen.runs[0].name, screen.runs[1].name]
        # both runs, train and eval each, are drawn in the same plot: its legend names all four
        text = screen_text(app)
        assert all(label in text for label in ("t2 eval", "t eval", "⢕⢕ t", "t2")), text
        assert len(compare.snapshots[1].series["lm_loss"][0]) == len(compare.snapshots[0].series["lm_loss"][0])


async def test_agent_view_follows_a_live_trace(tmp_path):
    runs = tmp_path / "runs"
    writer = write_trace(runs / "agent" / "20250102-030000-live", upto=4)
    app = _app(runs)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await _open(pilot, "20250102-030000-live")
            screen = app.screen
            assert isinstance(screen, AgentScreen) and screen.follow
            tree = screen.query_one(Tree)
            await wait_for(pilot, lambda: tree.cursor_node is not None and
                           (tree.cursor_node.data or {}).get("event") == "subgoal_start")
            from dash_helpers import agent_events

            for event, fields in agent_events()[4:7]:  # solver call, code, exec
                writer.emit(event, **fields)
            await wait_for(pilot, lambda: (tree.cursor_node.data or {}).get("event") == "exec", what="follow exec")
            text = screen_text(app)
            assert "RESULT" in text and "391" in text and "product 391" in text and "running" in text
            # the exec hangs under its code, which hangs under the solver call, under the subgoal
            node = tree.cursor_node
            chain = []
            while node is not None:
                chain.append((node.data or {}).get("event"))
                node = node.parent
            assert chain == ["exec", "code", "model_call", "subgoal_start", "plan", "run_start"]
            await pilot.press("up")  # the code node: highlighted with syntax, follow stops
            assert not screen.follow and "RESULT = 17 * 23" in screen_text(app)
            await pilot.press("up")  # the model call: prompt, response, tokens and latency
            text = screen_text(app)
            assert "Subgoal: compute 17*23" in text and "prompt tokens" in text and "80" in text
            for event, fields in agent_events()[7:]:
                writer.emit(event, **fields)
            await wait_for(pilot, lambda: "finished" in screen_text(app), what="run_end")
            assert (tree.cursor_node.data or {}).get("event") == "model_call"  # stayed where the user was
            await pilot.press("f")
            assert (tree.cursor_node.data or {}).get("event") == "run_end" and "prompt_tokens" in screen_text(app)
    finally:
        writer.close()


async def test_agent_trace_with_malformed_and_partial_lines(tmp_path):
    run = tmp_path / "runs" / "agent" / "20250102-030000-bad"
    write_trace(run, upto=6).close()
    with open(run / "trace.jsonl", "a") as fh:
        fh.write("garbage line\n")
        fh.write('{"seq": 99, "event": "exec", "ok": tr')  # cut off mid-write
    app = _app(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await _open(pilot, "20250102-030000-bad")
        await wait_for(pilot, lambda: "skipped 1 lines" in screen_text(app))
        assert "6 events" in screen_text(app) and "partial line" in screen_text(app)


async def test_empty_runs_dir_then_a_run_appears(tmp_path, trained_runs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    app = _app("runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert "does not exist yet" in screen_text(app)
        await pilot.press("enter", "m", "c", "r")  # nothing to act on: no crash
        runs.mkdir()
        await wait_for(pilot, lambda: "has no runs yet" in screen_text(app))
        shutil.copytree(trained_runs / "t", runs / "t")
        await wait_for(pilot, lambda: "step 12/12" in screen_text(app), what="the new run listed")


async def test_deleted_run(runs):
    shutil.copytree(runs / "t", runs / "t2")
    app = _app(runs)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.runs) == 2)
        await _open(pilot, "t2")
        training = app.screen
        shutil.rmtree(runs / "t2")
        await wait_for(pilot, lambda: training.snapshots and training.snapshots[0].status == "deleted")
        assert "deleted" in screen_text(app) and "lm_loss vs step" in screen_text(app)  # the data read stays
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(screen.runs) == 1)
        assert "t2" not in screen_text(app)


async def test_no_color_is_respected(runs, monkeypatch):
    write_trace(runs / "agent" / "20250102-030000-aaaa").close()

    def colours(app) -> set:
        out = set()
        for strip in app.screen._compositor.render_strips():
            for seg in strip:
                for c in (seg.style.color, seg.style.bgcolor) if seg.style else ():
                    if c is not None and c.triplet is not None:
                        out.add(tuple(c.triplet))
        return out

    async def seen(no_color: bool) -> set:
        if no_color:
            monkeypatch.setenv("NO_COLOR", "1")
        else:
            monkeypatch.delenv("NO_COLOR", raising=False)
        app = _app(runs)
        found: set = set()
        async with app.run_test(size=SIZE) as pilot:
            for name in ("t", "20250102-030000-aaaa"):
                await _open(pilot, name)
                await pilot.pause(0.2)
                found |= colours(app)
                await pilot.press("escape")
        return found

    coloured = await seen(False)
    assert any(len(set(c)) > 1 for c in coloured)  # without NO_COLOR there is colour (so the test can fail)
    grey = await seen(True)
    assert grey and all(len(set(c)) == 1 for c in grey), [c for c in grey if len(set(c)) > 1][:5]


async def test_crashed_and_running_training_runs(tmp_path):
    runs = tmp_path / "runs"
    write_training_run(runs / "live", status="running", heartbeat=time.time(), pid=os.getpid())
    write_training_run(runs / "dead", status="running", heartbeat=time.time() - 7200, pid=os.getpid())
    app = _app(runs)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.runs) == 2)
        status = {r.name: r.status for r in screen.runs}
        assert status == {"live": "running", "dead": "crashed"}
        await _highlight(pilot, "dead")
        assert "no heartbeat for 2.0 h" in screen_text(app)


def test_cli_command(tmp_path, run_hrm):
    """`hrm dashboard` is registered; a file instead of a runs directory is a one-line error (exit 2)."""
    helped = run_hrm("dashboard", "--help")
    assert helped.returncode == 0 and "RUNS_DIR" in helped.stdout and "--refresh" in helped.stdout
    (tmp_path / "notes.txt").write_text("x")
    out = run_hrm("dashboard", "notes.txt", cwd=tmp_path)
    assert out.returncode == 2 and "is a file" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0
