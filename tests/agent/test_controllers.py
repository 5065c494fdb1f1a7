"""Whole agent runs against a real local HTTP server replaying scripted model answers.

The sandbox really runs the scripted code, so answers, variables between subgoals, failures and
trace files are the real thing; only the model's text is scripted.
"""

from __future__ import annotations

import json

import pytest

from hrm_agent.backends.http import make_backend
from hrm_agent.runner import run_agent
from hrm_agent.trace import read_trace
from hrm_engine.config import resolve_config

TANK = "A tank holds 1200 L. It leaks 2% per hour for 3 hours, then is refilled by 150 L. Return exactly: 'Answer: <liters>'."


def _cfg(tmp_path, *overrides):
    return resolve_config("agent", None, [f"runs_dir={tmp_path / 'runs'}", "sandbox.wall_s=10", *overrides])


def _backend(server):
    return make_backend("openai", base_url=server.url, model="fake-model", retries=0, timeout=10)


def _events(result):
    return [e["event"] for e in read_trace(result["trace"])]


def test_hierarchical_run_plans_solves_critiques_and_synthesizes(fake_llm, tmp_path):
    fake_llm.script([
        'Here is my plan:\n```json\n{"subgoals": ["volume after 3 hours of 2% leak", "add the 150 L refill"], '
        '"final_format": "Answer: <liters>"}\n```',
        "```python\nlevel = 1200.0\nfor _ in range(3):\n    level *= 0.98\nRESULT = level\n```",
        "```python\nRESULT = round(S1 + 150, 2)\n```",  # uses the first subgoal's result
        "{'action': 'submit', 'reason': 'both steps computed'}",  # single quotes: still read
        "Answer: 1279.43",
    ])
    result = run_agent(_cfg(tmp_path), TANK, backend=_backend(fake_llm), run_id="tank")
    assert result["final"] == "Answer: 1279.43"
    assert result["status"] == "answered" and result["stop_reason"] == "submitted"
    assert result["failures"] == []
    assert result["model_calls"] == 5 and result["code_runs"] == 2
    events = read_trace(result["trace"])
    execs = [e for e in events if e["event"] == "exec"]
    assert execs[0]["result"] == pytest.approx(1129.43, abs=0.01) and execs[1]["result"] == 1279.43
    assert [e["event"] for e in events][0] == "run_start" and events[-1]["event"] == "run_end"
    assert [e["index"] for e in events if e["event"] == "subgoal_start"] == [1, 2]
    # the second solver prompt told the model which variables exist
    assert "S1 = 1129.4" in fake_llm.chat_requests[2].last_user
    saved = json.loads((tmp_path / "runs" / "tank" / "result.json").read_text())
    assert saved["final"] == result["final"]


def test_repair_prompt_code_retry_and_revision(fake_llm, tmp_path):
    fake_llm.script([
        "I will compute it step by step.",  # planner: no JSON -> one repair prompt
        '{"subgoals": ["compute 17 * 23"], "final_format": "Answer: <n>"}',
        "```python\nRESULT = 17 * 23 +\n```",  # syntax error -> retry with the error
        "```python\nRESULT = 17 * 23\n```",
        '{"action": "revise", "reason": "double-check"}',
        '{"subgoals": ["compute 23 * 17"], "final_format": "Answer: <n>"}',
        "```python\nRESULT = 23 * 17\n```",
        '{"action": "submit", "reason": "consistent"}',
        "Answer: 391",
    ])
    result = run_agent(_cfg(tmp_path), "What is 17 * 23? Return 'Answer: <n>'.", backend=_backend(fake_llm))
    assert result["final"] == "Answer: 391" and result["rounds"] == 2
    assert [f["category"] for f in result["failures"]] == ["tool_misuse"]  # the syntax error; repair succeeded
    assert "could not be used" in fake_llm.chat_requests[1].last_user
    assert "SyntaxError" in fake_llm.chat_requests[3].last_user  # the retry carried the error
    assert "repair" in _events(result) and _events(result).count("plan") == 2


def test_unreadable_plan_is_a_recorded_parse_error_and_the_run_goes_on(fake_llm, tmp_path):
    fake_llm.script(["no json here", "still none", "```python\nRESULT = 6 * 7\n```", '{"action": "submit"}',
                     "Answer: 42"])
    result = run_agent(_cfg(tmp_path), "What is 6 * 7?", backend=_backend(fake_llm))
    assert result["final"] == "Answer: 42"
    assert [f["category"] for f in result["failures"]] == ["parse_error"]


def test_flat_baseline_retries_with_the_error(fake_llm, tmp_path):
    fake_llm.script(["```python\nRESULT = undefined_name\n```",
                     "```python\nRESULT = 'Answer: ' + str(round(1200 * 0.98 ** 3 + 150, 2))\n```"])
    result = run_agent(_cfg(tmp_path, "controller=flat"), TANK, backend=_backend(fake_llm))
    assert result["final"] == "Answer: 1279.43" and result["rounds"] == 2
    assert [f["category"] for f in result["failures"]] == ["tool_misuse"]
    assert "NameError" in fake_llm.chat_requests[1].last_user


def test_token_budget_ends_the_run_with_a_reason(fake_llm, tmp_path):
    fake_llm.script([{"text": '{"subgoals": ["a", "b"], "final_format": "<x>"}', "prompt_tokens": 50,
                      "completion_tokens": 10},
                     {"text": "```python\nRESULT = 1\n```", "prompt_tokens": 50, "completion_tokens": 10}])
    result = run_agent(_cfg(tmp_path, "budget.max_model_tokens=100"), "two steps", backend=_backend(fake_llm))
    assert result["stop_reason"] == "budget"
    assert result["failures"][-1]["category"] == "budget"
    # subgoal "b" never ran: the RESULT of "a" is an intermediate value, not an answer (issue 18)
    assert result["final"] is None and result["status"] == "no_answer" and result["reason"] == "budget"
    assert len(fake_llm.chat_requests) == 2


def test_hostile_code_is_contained_and_categorised(fake_llm, tmp_path):
    fake_llm.script(['{"subgoals": ["read secrets"], "final_format": "<x>"}',
                     "```python\nimport socket\nsocket.create_connection(('127.0.0.1', 9))\nRESULT = 1\n```",
                     "```python\nRESULT = 2\n```", '{"action": "submit"}', "2"])
    result = run_agent(_cfg(tmp_path), "x", backend=_backend(fake_llm))
    execs = [e for e in read_trace(result["trace"]) if e["event"] == "exec"]
    assert execs[0]["exit_reason"] == "forbidden" and execs[1]["ok"]
    assert result["failures"][0]["category"] == "tool_misuse"


def test_cli_run_and_show(fake_llm, tmp_path, run_hrm):
    fake_llm.script(['{"subgoals": ["multiply"], "final_format": "Answer: <n>"}', "```python\nRESULT = 6 * 7\n```",
                     '{"action": "submit", "reason": "ok"}', "Answer: 42"])
    proc = run_hrm("agent", "run", "What is 6 * 7?", "--backend", "openai", "--base-url", fake_llm.url,
                   "--model", "fake-model", f"runs_dir={tmp_path / 'runs'}", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["final"] == "Answer: 42"
    shown = run_hrm("agent", "show", result["trace"])
    assert shown.returncode == 0
    for text in ("subgoal 1", "multiply", "RESULT = 6 * 7", "exec ok", "critic submit", "final answer Answer: 42"):
        assert text in shown.stdout


def test_cli_errors_are_one_line(run_hrm, dead_llm_url, tmp_path):
    down = run_hrm("agent", "run", "hi", "--backend", "openai", "--base-url", dead_llm_url, "--model", "m",
                   "retries=0", f"runs_dir={tmp_path}")
    assert down.returncode == 3 and len(down.stderr.strip().splitlines()) == 1 and "Traceback" not in down.stderr
    bad = run_hrm("agent", "run", "hi", "budget.max_roundz=3")
    assert bad.returncode == 2 and "budget.max_rounds" in bad.stderr
    missing = run_hrm("agent", "show", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no trace" in missing.stderr


def test_agent_code_may_use_math_without_importing_it(fake_llm, tmp_path):
    fake_llm.script(["```python\nRESULT = math.sqrt(169)\n```"])
    result = run_agent(_cfg(tmp_path, "controller=flat"), "What is the square root of 169?", backend=_backend(fake_llm))
    assert result["final"] == "Answer: 13.0" and not result["failures"]


def test_a_server_model_gets_no_worked_examples_unless_asked(fake_llm, tmp_path):
    fake_llm.script(["```python\nRESULT = 6 * 7\n```", "```python\nRESULT = 6 * 7\n```"])
    run_agent(_cfg(tmp_path, "controller=flat"), "What is 6 * 7?", backend=_backend(fake_llm))
    run_agent(_cfg(tmp_path, "controller=flat", "demos=2"), "What is 6 * 7?", backend=_backend(fake_llm))
    plain, shown = (r.body["messages"] for r in fake_llm.chat_requests)
    assert [m["role"] for m in plain] == ["system", "user"]
    assert [m["role"] for m in shown] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "grammar" not in fake_llm.chat_requests[0].body  # a grammar is the local model's, never sent
