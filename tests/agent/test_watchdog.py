"""The run's wall budget covers the agent's own work: a step that does not return is ended by the watchdog.

The stuck step is a backend whose `chat` ignores the deadline it is handed (every backend hrm ships honours
it; test_deadline.py checks that): once blocking in a call that lets other threads run (the watchdog writes
the verdict `timeout`, run_end and result.json, and `hrm agent run` exits 1), once spinning in a
backtracking regex, C code that holds the GIL, where no Python thread can run (faulthandler's C timer
ends the process with exit 1 and the threads' stacks, without result.json). Both within the budget plus a
few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from hrm_agent.backends.chat import ChatResult
from hrm_agent.runner import run_agent
from hrm_agent.trace_check import load_trace
from hrm_agent.watchdog import GRACE_S, HARD_S
from hrm_engine.config import resolve_config

WALL_S = 2
SLACK_S = 3.0  # interpreter start-up and imports (~1 s) and thread hand-off on a busy 2-core machine


class DeadlineIgnoringBackend:
    """Answers only when the test releases it, whatever the deadline: a step that does not return."""

    name, model = "stuck", "stuck-model"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def chat(self, messages, **kw) -> ChatResult:
        self.calls += 1
        self.release.wait(120)
        return ChatResult("```python\nRESULT = 4\n```", 10, 5, 0.1, self.model)


def test_in_process_the_watchdog_writes_the_timeout_and_the_late_step_writes_nothing(tmp_path):
    cfg = resolve_config("agent", None, [f"runs_dir={tmp_path}", "controller=flat", f"budget.wall_s={WALL_S}"])
    backend = DeadlineIgnoringBackend()
    out: dict = {}
    start = time.monotonic()
    worker = threading.Thread(target=lambda: out.update(run_agent(cfg, "What is 2 + 2?", backend=backend,
                                                                  run_id="stuck")))
    worker.start()
    result_file = tmp_path / "stuck" / "result.json"
    while not result_file.exists() and time.monotonic() - start < WALL_S + GRACE_S + 30:
        time.sleep(0.1)
    took = time.monotonic() - start
    assert result_file.exists() and WALL_S + GRACE_S - 0.5 < took < WALL_S + GRACE_S + SLACK_S, took
    assert worker.is_alive()  # the step is still stuck: the verdict did not wait for it
    written = json.loads(result_file.read_text())
    assert written["status"] == "no_answer" and written["reason"] == "timeout"
    assert "watchdog" in written["reason_detail"] and written["stop_reason"] == "timeout"
    assert [f["category"] for f in written["failures"]] == ["timeout"]
    events = load_trace(tmp_path / "stuck")
    assert events[-1]["event"] == "run_end" and events[-1]["reason"] == "timeout"
    backend.release.set()  # the step returns late: it must change nothing
    worker.join(60)
    assert not worker.is_alive() and out == written
    assert load_trace(tmp_path / "stuck") == events
    assert json.loads(result_file.read_text()) == written
    assert not (tmp_path / "stuck" / "watchdog-stacks.txt").exists()


# `hrm agent run` in a real process whose backend ignores its deadline: blocking (GIL released) or spinning
# in a catastrophic regular expression (GIL held)
CLI = r'''
import re, sys, threading
from hrm_agent.backends.http import OpenAIBackend
HOW = sys.argv.pop(1)
def stuck(self, messages, **kw):
    if HOW == "gil":
        re.fullmatch(r"(a|aa)+b", "a" * 200)  # 2**100 steps in C, holding the GIL
    threading.Event().wait()
OpenAIBackend.chat = stuck
from hrm_cli.main import main
main()
'''


def _run_stuck(tmp_path: Path, how: str) -> tuple[subprocess.CompletedProcess, float, Path]:
    runs = tmp_path / "runs"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", CLI, how, "agent", "run", "What is 2 + 2?", "--backend", "openai",
                           "--base-url", "http://127.0.0.1:9", "--model", "m", "--controller", "flat",
                           "--timeout", str(WALL_S), "--run-id", "stuck", f"runs_dir={runs}"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    return proc, time.monotonic() - start, runs / "stuck"


def test_cli_run_whose_step_does_not_return_ends_at_its_budget_with_a_result(tmp_path):
    proc, took, run_dir = _run_stuck(tmp_path, "block")
    assert proc.returncode == 1, proc.stderr
    assert took < WALL_S + GRACE_S + SLACK_S, took
    assert "Traceback" not in proc.stderr and "no answer (timeout)" in proc.stderr, proc.stderr
    result = json.loads((run_dir / "result.json").read_text())
    assert result["reason"] == "timeout" and result["final"] is None
    events = load_trace(run_dir)
    assert events[0]["event"] == "run_start" and events[-1]["event"] == "run_end"
    assert not (run_dir / "watchdog-stacks.txt").exists()


def test_cli_run_stuck_in_c_code_holding_the_gil_still_exits_at_its_budget(tmp_path):
    proc, took, run_dir = _run_stuck(tmp_path, "gil")
    assert proc.returncode == 1, proc.stderr
    assert WALL_S + GRACE_S + HARD_S - 0.5 < took < WALL_S + GRACE_S + HARD_S + SLACK_S, took
    stacks = (run_dir / "watchdog-stacks.txt").read_text()
    assert "fullmatch" in stacks or "stuck" in stacks  # where it was stuck, for the bug report
    assert load_trace(run_dir)[0]["event"] == "run_start"  # the trace so far is whole
