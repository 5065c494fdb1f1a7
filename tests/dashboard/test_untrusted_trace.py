"""A trace holding escape sequences from the model, its code and a server is shown written out in the dashboard.

The trace is written by the real TraceWriter, opened in the real app (Textual's pilot), and every node is
visited so that its details pane renders too; what the terminal would show must hold no control character
of the payload, and its written-out form instead. Markup in the payload stays text.
"""

from __future__ import annotations

import pytest
from dash_helpers import NOW, screen_text, wait_for

import hrm_cli.dashboard.trace_view as trace_view
from hrm_agent.trace import TraceWriter
from hrm_cli.dashboard import DashboardApp
from hrm_cli.dashboard.agent_screen import AgentScreen

pytestmark = pytest.mark.anyio

PAYLOAD = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\u009b2K[bold red]markup[/]"
SHOWN = r"\x1b]52;c;cHduZWQ=\x07\x1b[2J\u009b2K[bold red]markup[/]"


def _write(run) -> None:
    w = TraceWriter(run)
    w.emit("run_start", run_id="esc", task="What is 2 + 2?", controller="hierarchical", backend="openai",
           model="m" + PAYLOAD, context={}, config={})
    w.emit("model_call", role="planner", messages=[{"role": "user", "content": "plan"}], response="{}" + PAYLOAD,
           prompt_tokens=1, completion_tokens=1, latency_s=0.1, finish_reason="stop")
    w.emit("plan", round=1, subgoals=["add" + PAYLOAD], final_format="Answer: <n>")
    w.emit("subgoal_start", round=1, index=1, subgoal="add" + PAYLOAD)
    w.emit("code", role="solver", code=f'print("{PAYLOAD}")\nRESULT = 4')
    w.emit("exec", role="solver", ok=False, exit_reason="error", result=None, result_repr="", stdout=PAYLOAD,
           stderr=PAYLOAD, error="ValueError: " + PAYLOAD, duration_s=0.1)
    w.emit("failure", category="tool_misuse", detail="code error: " + PAYLOAD, role="solver")
    w.emit("vote", role="solver", round=1, index=1, samples=3, min_agreement=2, agreement=2, tied=False,
           agreed=True, counts=[{"value": "4" + PAYLOAD, "votes": 2, "samples": [0, 1]}], no_value=1,
           winner="4" + PAYLOAD)  # --samples K: the vote counts show model-computed values
    w.emit("subgoal_end", round=1, index=1, ok=False, result_repr="", error=PAYLOAD)
    w.emit("critique", round=1, action="submit", reason=PAYLOAD)
    w.emit("final", answer="Answer: 4" + PAYLOAD, status="answered", reason="", reason_detail="")
    w.emit("run_end", run_id="esc", status="answered", final="Answer: 4" + PAYLOAD, rounds=1, model_calls=1,
           code_runs=1, wall_s=1.0)
    w.close()


async def _every_screen(tmp_path) -> list[str]:
    _write(tmp_path / "runs" / "agent" / "20250102-030000-esc")
    app = DashboardApp(tmp_path / "runs", refresh_s=3600, clock=lambda: NOW)
    seen = []
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: bool(pilot.app.screen.runs), what="the run listed")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AgentScreen) and app.screen.loaded)
        for _ in range(15):  # every node of the tree, each with its details pane
            await pilot.pause(0.05)
            seen.append(screen_text(app))
            await pilot.press("down")
    return seen


async def test_escape_sequences_in_a_trace_are_shown_written_out(tmp_path):
    seen = await _every_screen(tmp_path)
    text = "\n".join(seen)
    for raw in ("\x1b", "\x07", "\u009b"):
        assert raw not in text
    assert text.count(SHOWN) >= 9  # labels and details: the reply, subgoal, code, stdout, error, answer, ...


async def test_without_visible_the_same_trace_would_reach_the_terminal_raw(tmp_path, monkeypatch):
    # the check above can fail: with the escaping switched off the payload's bytes are on the screen
    monkeypatch.setattr(trace_view, "visible_value", lambda e: e)
    text = "\n".join(await _every_screen(tmp_path))
    assert "\x1b" in text or "\u009b" in text
