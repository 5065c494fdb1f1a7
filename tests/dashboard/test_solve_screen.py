"""The solve screen, driven by the pilot on the real tiny run's checkpoint, and snapshotted on fixed numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from dash_helpers import NOW, screen_text, wait_for, write_training_run
from solve_helpers import FixedSession

from hrm_cli.dashboard import DashboardApp
from hrm_cli.dashboard.solve_screen import PasteScreen, SolveScreen
from hrm_cli.dashboard.training_screen import TrainingScreen
from hrm_engine.run.checkpoint import load_checkpoint
from hrm_engine.solve import run_model

SIZE = (80, 24)


@pytest.fixture
def runs(runs, trained_runs):
    """The copied runs, with the dataset they were trained on beside them (run.json says `D`)."""
    shutil.copytree(trained_runs.parent / "D", runs.parent / "D")
    return runs


def _app(runs) -> DashboardApp:
    return DashboardApp(runs, refresh_s=3600)


async def _solved(pilot, count: int = 1) -> SolveScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SolveScreen) and pilot.app.screen.solved >= count,
                   timeout=60, what=f"solve #{count}")
    return pilot.app.screen


@pytest.mark.anyio
async def test_solve_a_held_out_puzzle_and_step_through_it(runs, monkeypatch):
    monkeypatch.chdir(runs.parent)  # the run recorded its dataset as D, relative to where it was trained
    app = _app(runs)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.runs))
        await pilot.press("s")
        screen = await _solved(pilot)
        n_seg = len(screen.trace.segments)
        text = screen_text(app)
        assert "test #1 (1/20)" in text and f"segment {n_seg}/{n_seg}" in text
        assert "answers by segment" in text and "forward residuals" in text and "halt" in text
        # the screen's answer is `hrm solve`'s answer for that puzzle
        loaded = load_checkpoint(runs / "t")
        expected = run_model(loaded, screen.puzzle.inputs[None])[0].prediction
        assert np.array_equal(screen.trace.solution.prediction, expected)
        seg = screen.trace.segments[0]
        assert len(seg.residual_H) == loaded.model.config.H_cycles
        assert [len(r) for r in seg.residual_L] == [loaded.model.config.L_cycles] * loaded.model.config.H_cycles
        await pilot.press("left")
        assert screen.segment == n_seg - 2 and f"segment {n_seg - 1}/{n_seg}" in screen_text(app)
        await pilot.press("home")
        assert screen.segment == 0 and f"segment 1/{n_seg}" in screen_text(app)
        await pilot.press("n")
        await _solved(pilot, 2)
        assert "test #2 (2/20)" in screen_text(app)
        await pilot.press("p")
        await _solved(pilot, 3)
        assert "test #1 (1/20)" in screen_text(app)
        # a pasted puzzle, and one that is not a puzzle
        await pilot.press("i")
        assert isinstance(app.screen, PasteScreen)
        app.screen.query_one("TextArea").text = "1..4.3...1..2..3"
        await pilot.press("ctrl+s")
        await _solved(pilot, 4)
        assert screen.puzzle.name == "pasted" and "pasted" in screen_text(app)
        await pilot.press("i")
        app.screen.query_one("TextArea").text = "123"
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert app.screen is screen and screen.puzzle.name == "pasted" and screen.error is None
        await pilot.press("escape")
        assert not isinstance(app.screen, SolveScreen)


@pytest.mark.anyio
async def test_solve_from_the_training_view_and_a_run_without_checkpoints(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(runs.parent)
    write_training_run(runs / "fresh", status="running")  # metrics only, no checkpoint
    app = _app(runs)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.screen.runs) == 2)
        runs_screen = app.screen
        names = [r.name for r in runs_screen.runs]
        await pilot.press(*["down"] * names.index("fresh"), "s")
        assert app.screen is runs_screen  # a hint, nothing opened
        await pilot.press("up" if names.index("t") < names.index("fresh") else "down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.loaded)
        await pilot.press("s")
        screen = await _solved(pilot)
        assert screen.run_path == runs / "t"


@pytest.mark.anyio
async def test_no_dataset_here_still_solves_a_pasted_puzzle(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (runs.parent / "D").rename(runs.parent / "D-moved")
    app = _app(runs)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.runs))
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SolveScreen) and app.screen.session.loaded is not None)
        await pilot.pause(0.1)
        assert "paste a puzzle" in screen_text(app)
        await pilot.press("n", "i")
        app.screen.query_one("TextArea").text = "1..4\n.3..\n.1..\n2..3"
        await pilot.press("ctrl+s")
        await _solved(pilot)


def _solve_snapshot(pilot_keys: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        await pilot.app.push_screen(SolveScreen(Path("runs/hrm-tiny-s4-finished"), session=FixedSession()))
        await wait_for(pilot, lambda: pilot.app.screen.solved >= 1 and pilot.app.screen.votes is not None)
        if pilot_keys:
            await pilot.press(*pilot_keys)
        await pilot.pause(0.2)

    return run_before


def test_snapshot_solve_80x24(snap_compare, tmp_path, utc):
    app = DashboardApp(tmp_path / "runs", refresh_s=3600, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_solve_snapshot(("left",)))


def test_snapshot_solve_160x48(snap_compare, tmp_path, utc):
    app = DashboardApp(tmp_path / "runs", refresh_s=3600, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(160, 48), run_before=_solve_snapshot(("left", "left")))


@pytest.mark.anyio
async def test_changed_cells_are_marked_without_colour(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = DashboardApp(tmp_path / "runs", refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(SolveScreen(Path("runs/x"), session=FixedSession()))
        screen = await _solved(pilot)
        await pilot.press("home")
        text = screen_text(app)
        assert "*" in text.split("halt")[1] and "changed *" in text  # the cells, and the legend naming the mark
        await pilot.press("end")
        assert screen.segment == len(screen.trace.segments) - 1 and "right" in screen_text(app)
