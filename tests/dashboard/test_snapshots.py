"""Snapshots of the main screens (pytest-textual-snapshot). Regenerate after a deliberate change with
`.venv/bin/python -m pytest tests/dashboard/test_snapshots.py --snapshot-update` and review the SVGs.

The runs are written by the real writers with pinned times, and the app's clock is fixed, so the
screens do not depend on when the test runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dash_helpers import NOW, pin_trace_times, wait_for, write_bench_run, write_trace, write_training_run

from hrm_cli.dashboard import DashboardApp
from hrm_cli.dashboard.runs_screen import RunsScreen


@pytest.fixture
def snap_runs(tmp_path, monkeypatch, utc) -> Path:
    monkeypatch.chdir(tmp_path)
    runs = Path("runs")
    write_training_run(runs / "hrm-tiny-s4-finished", steps=400, status="finished", heartbeat=NOW - 1800)
    write_training_run(runs / "hrm-tiny-s4-live", steps=200, status="running", heartbeat=NOW - 5, pid=os.getpid(),
                       seed=0.05)
    write_training_run(runs / "hrm-tiny-s4-died", steps=120, status="running", heartbeat=NOW - 7200)
    for name, upto in (("20250102-025800-a1b2", None), ("20250102-030000-c3d4", 9)):
        write_trace(runs / "agent" / name, upto=upto).close()
        pin_trace_times(runs / "agent" / name / "trace.jsonl", start=NOW - (300 if upto is None else 30))
    write_bench_run(runs / "bench" / "20250102-020000-bench")
    return runs


def _app(runs: Path) -> DashboardApp:
    return DashboardApp(runs, refresh_s=3600, clock=lambda: NOW)


def _opened(name: str):
    """run_before: highlight `name` in the runs list, open it, wait until its files are read."""

    async def run_before(pilot) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, RunsScreen)
        names = [r.name for r in screen.runs]
        for _ in range(names.index(name)):
            await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: pilot.app.screen is not screen and getattr(pilot.app.screen, "loaded", True))
        await pilot.pause(0.2)

    return run_before


def test_snapshot_runs_list(snap_compare, snap_runs):
    assert snap_compare(_app(snap_runs), terminal_size=(80, 24))


def test_snapshot_training_80x24(snap_compare, snap_runs):
    assert snap_compare(_app(snap_runs), terminal_size=(80, 24), run_before=_opened("hrm-tiny-s4-live"))


def test_snapshot_training_grid_160x40(snap_compare, snap_runs):
    assert snap_compare(_app(snap_runs), terminal_size=(160, 40), run_before=_opened("hrm-tiny-s4-live"))


def test_snapshot_compare(snap_compare, snap_runs):
    async def run_before(pilot) -> None:
        screen = pilot.app.screen
        first = [r.kind for r in screen.runs].index("train")
        await pilot.press(*["down"] * first, "m", "down", "m", "c")
        await wait_for(pilot, lambda: pilot.app.screen is not screen and pilot.app.screen.loaded)
        await pilot.press("2")
        await pilot.pause(0.2)

    assert snap_compare(_app(snap_runs), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_agent_trace(snap_compare, snap_runs):
    async def run_before(pilot) -> None:
        await _opened("20250102-025800-a1b2")(pilot)
        await pilot.press("down", "down", "down", "down", "down", "down", "down")  # to the first code node
        await pilot.pause(0.2)

    assert snap_compare(_app(snap_runs), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_bench(snap_compare, snap_runs):
    assert snap_compare(_app(snap_runs), terminal_size=(80, 24), run_before=_opened("20250102-020000-bench"))


def test_snapshot_help(snap_compare, snap_runs):
    assert snap_compare(_app(snap_runs), terminal_size=(80, 24), press=["question_mark"])


def test_snapshot_training_all_plots_80x24(snap_compare, snap_runs):
    """`v` at 80x24: five titled plots and a summary cell, no side panel."""

    async def run_before(pilot) -> None:
        await _opened("hrm-tiny-s4-live")(pilot)
        await pilot.press("v")
        await pilot.pause(0.3)

    assert snap_compare(_app(snap_runs), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_bench_160x48(snap_compare, snap_runs):
    assert snap_compare(_app(snap_runs), terminal_size=(160, 48), run_before=_opened("20250102-020000-bench"))
