"""Run directories for the dashboard tests, written by the real writers (RunDir, TraceWriter)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from hrm_agent.trace import TraceWriter
from hrm_engine.run.directory import RunDir, write_json_atomic

# 2025-01-02 03:04:05 UTC: the fixed "now" of the snapshot tests
NOW = 1735787045.0


def agent_events() -> list[tuple[str, dict[str, Any]]]:
    """A scripted hierarchical agent run in the real event schema (agent/runner.py, toolkit.py, controllers.py)."""
    return [
        ("run_start", dict(run_id="r", task="What is 17 * 23 + 5?", controller="hrm", backend="openai",
                           model="scripted", context={}, config={"controller": "hrm", "budget": {"max_rounds": 2}})),
        ("model_call", dict(role="planner", messages=[{"role": "system", "content": "You split tasks."},
                                                      {"role": "user", "content": "Task: What is 17 * 23 + 5?"}],
                            response='{"subgoals": ["compute 17*23", "add 5"], "final_format": "Answer: <n>"}',
                            prompt_tokens=120, completion_tokens=30, latency_s=0.8, finish_reason="stop")),
        ("plan", dict(round=1, subgoals=["compute 17*23", "add 5"], final_format="Answer: <n>")),
        ("subgoal_start", dict(round=1, index=1, subgoal="compute 17*23")),
        ("model_call", dict(role="solver", messages=[{"role": "user", "content": "Subgoal: compute 17*23"}],
                            response="```python\nRESULT = 17 * 23\n```", prompt_tokens=80, completion_tokens=12,
                            latency_s=0.4, finish_reason="stop")),
        ("code", dict(role="solver", code="RESULT = 17 * 23\nprint('product', RESULT)")),
        ("exec", dict(role="solver", ok=True, exit_reason="ok", result=391, result_repr="391", stdout="product 391\n",
                      stderr="", error="", duration_s=0.05)),
        ("subgoal_end", dict(round=1, index=1, ok=True, result_repr="391", error="")),
        ("subgoal_start", dict(round=1, index=2, subgoal="add 5")),
        ("model_call", dict(role="solver", messages=[{"role": "user", "content": "Subgoal: add 5"}],
                            response="```python\nRESULT = S9 + 5\n```", prompt_tokens=90, completion_tokens=10,
                            latency_s=0.3, finish_reason="stop")),
        ("code", dict(role="solver", code="RESULT = S9 + 5")),
        ("exec", dict(role="solver", ok=False, exit_reason="error", result=None, result_repr="", stdout="",
                      stderr="NameError: name 'S9' is not defined", error="NameError: name 'S9' is not defined",
                      duration_s=0.04)),
        ("failure", dict(category="tool_misuse", detail="code error: NameError: name 'S9' is not defined",
                         role="solver")),
        ("model_call", dict(role="solver", messages=[{"role": "user", "content": "Fix it."}],
                            response="```python\nRESULT = S1 + 5\n```", prompt_tokens=95, completion_tokens=11,
                            latency_s=0.3, finish_reason="stop")),
        ("code", dict(role="solver", code="RESULT = S1 + 5")),
        ("exec", dict(role="solver", ok=True, exit_reason="ok", result=396, result_repr="396", stdout="", stderr="",
                      error="", duration_s=0.03)),
        ("subgoal_end", dict(round=1, index=2, ok=True, result_repr="396", error="")),
        ("model_call", dict(role="critic", messages=[{"role": "user", "content": "Check the results."}],
                            response='{"action": "submit", "reason": "both subgoals done"}', prompt_tokens=60,
                            completion_tokens=15, latency_s=0.2, finish_reason="stop")),
        ("critique", dict(round=1, action="submit", reason="both subgoals done")),
        ("model_call", dict(role="synthesizer", messages=[{"role": "user", "content": "Answer."}],
                            response="Answer: 396", prompt_tokens=50, completion_tokens=4, latency_s=0.1,
                            finish_reason="stop")),
        ("final", dict(answer="Answer: 396")),
        ("run_end", dict(run_id="r", controller="hrm", backend="openai", model="scripted", final="Answer: 396",
                         status="answered", stop_reason="submitted", rounds=1, plan={}, model_calls=6, code_runs=3,
                         prompt_tokens=495, completion_tokens=82, wall_s=2.5,
                         failures=[{"category": "tool_misuse", "detail": "code error", "role": "solver"}])),
    ]


def write_trace(run_dir: Path, upto: int | None = None) -> TraceWriter:
    """Emit the scripted events (the first `upto` of them) with a real TraceWriter; returns it open."""
    writer = TraceWriter(run_dir)
    for event, fields in agent_events()[:upto]:
        writer.emit(event, **fields)
    return writer


def pin_trace_times(path: Path, start: float = NOW - 60) -> None:
    """Rewrite time/elapsed_s to fixed values (for snapshots); the rest is as TraceWriter wrote it."""
    from datetime import datetime, timezone

    events = [json.loads(x) for x in path.read_text().splitlines()]
    for e in events:
        e["elapsed_s"] = round(0.5 * e["seq"], 3)
        e["time"] = datetime.fromtimestamp(start + e["elapsed_s"], timezone.utc).isoformat(timespec="milliseconds")
    path.write_text("".join(json.dumps(e) + "\n" for e in events))


def write_training_run(path: Path, *, steps: int = 200, total: int = 400, status: str = "finished",
                       heartbeat: float = NOW - 5, pid: int | None = None, seed: float = 0.0) -> RunDir:
    """A training run with smooth, fixed metrics (RunDir writes them; run.json's times pinned)."""
    run = RunDir(path)
    run.write_config({"name": "hrm-tiny", "arch": {"hidden_size": 64, "H_layers": 2, "L_layers": 2,
                                                   "halt_max_steps": 4}, "global_batch_size": 32, "lr": 1e-3})
    for step in range(10, steps + 1, 10):
        frac = step / total
        run.log({"type": "train", "step": step, "epoch": frac * 10, "lr": 1e-3 * min(1.0, step / 50),
                 "lm_loss": 2.0 * (1 - frac) + 0.2 + seed, "q_halt_loss": 0.1, "q_continue_loss": 0.05,
                 "accuracy": 0.3 + 0.6 * frac, "exact_accuracy": max(0.0, frac - 0.1 + seed),
                 "q_halt_accuracy": 0.9, "steps": 4 - 2 * frac, "count": 8.0, "steps_per_s": 2.0,
                 "tokens_per_s": 1000.0 + step, "wall_s": step / 2.0, "time": NOW - 100 + step / 10})
        if step % 50 == 0:
            run.log({"type": "eval", "split": "test", "step": step, "epoch": frac * 10, "count": 20.0,
                     "exact_accuracy": max(0.0, frac - 0.15 + seed), "accuracy": 0.25 + 0.6 * frac,
                     "q_halt_accuracy": 0.85, "steps": 4.0, "lm_loss": 2.1 * (1 - frac) + 0.3, "q_halt_loss": 0.2,
                     "wall_s": step / 2.0, "time": NOW - 100 + step / 10})
    info = {"status": status, "started": NOW - 3600, "data": "data/s4", "total_steps": total, "step": steps,
            "parameters": 263042, "name": path.name, "heartbeat": heartbeat, "pid": pid or 999_999_999,
            "epoch": steps / total * 10, "wall_s": steps / 2.0}
    if status != "running":
        info["finished"] = heartbeat
    write_json_atomic(path / "run.json", info)
    return run


def write_bench_run(path: Path, *, complete: bool = True) -> None:
    """A bench run as hrm_agent.bench.runs leaves it: bench.json, results.jsonl and summary.json (made by its
    own `summarize`, so the dashboard is tested against the real layout)."""
    from hrm_agent.bench.runs import summarize

    path.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(6):
        for c in ("hrm", "flat"):
            ok = (i + (c == "flat")) % 3 != 0
            rows.append({"task_id": f"m{i}", "controller": c, "sample": 0, "kind": "math", "depth": 2 + i % 2,
                         "split": "test", "pass": ok, "time_s": 1.0 + i, "rounds": 1, "model_calls": 3 + (c == "hrm"),
                         "tool_calls": 1, "tokens": 100 * (i + 1), "failures": [] if ok else ["tool_misuse"],
                         "failure_category": None if ok else ("tool_misuse" if i % 2 else "spec_error"),
                         "trace": f"traces/m{i}__{c}__s0/trace.jsonl"})
    (path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    meta = {"id": path.name, "created": "2025-01-02T02:54:05+00:00", "suite": {"name": "math"},
            "controllers": ["hrm", "flat"], "samples": 1, "items_total": len(rows) + (0 if complete else 4),
            "backend": "openai", "model": "scripted"}
    write_json_atomic(path / "bench.json", meta)
    summary = summarize(rows, meta, n_boot=200, seed=0)
    summary["updated"] = "2025-01-02T03:00:00+00:00"
    write_json_atomic(path / "summary.json", summary)


def screen_text(app) -> str:
    """What the terminal shows now, as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_for(pilot, predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> None:
    """Let the app run until `predicate()` holds (a generous limit, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            error = getattr(pilot.app.screen, "error", None)
            raise AssertionError(f"timed out waiting for {what or predicate} (error: {error!r})\n"
                                 f"{screen_text(pilot.app)}")
        await pilot.pause(0.05)
    await pilot.pause()  # let the screen repaint what made the predicate true
