"""Honest outcomes (issue 18): a run is `answered` only with an answer in the requested format that is
derived from a successful code RESULT; everything else is `no_answer` (exit 1) with a reason.

The runs go against a real HTTP server on 127.0.0.1 replaying scripted model replies; the sandbox really
runs the scripted code, so successes and failures are the real thing.
"""

from __future__ import annotations

import json

import pytest

from hrm_agent.backends.http import make_backend
from hrm_agent.outcome import echo_of, judge, match_format, task_format, value_derived
from hrm_agent.runner import run_agent
from hrm_agent.trace import read_trace
from hrm_engine.config import resolve_config

TANK = ("A tank holds 1200 L. It leaks 2% per hour for 3 hours, then is refilled by 150 L. "
        "Return exactly: 'Answer: <liters>'.")
PLAN = ('{"subgoals": ["volume after 3 hours of 2% leak", "add the 150 L refill"], '
        '"final_format": "Answer: <liters>"}')
LEAK = "```python\nlevel = 1200.0\nfor _ in range(3):\n    level *= 0.98\nRESULT = level\n```"
REFILL = "```python\nRESULT = S1 + 150\n```"
BROKEN = "```python\nRESULT = 1200 * 0.98 ** 3 +\n```"
SUBMIT = '{"action": "submit", "reason": "done"}'


def _cfg(tmp_path, *overrides):
    return resolve_config("agent", None, [f"runs_dir={tmp_path / 'runs'}", "sandbox.wall_s=10", *overrides])


def _run(server, tmp_path, task=TANK, *overrides):
    backend = make_backend("openai", base_url=server.url, model="fake-model", retries=0, timeout=10)
    return run_agent(_cfg(tmp_path, *overrides), task, backend=backend)


def _roles(server):
    """The role of each chat request, read from its system prompt."""
    out = []
    for r in server.chat_requests:
        system = r.messages[0]["content"] if r.messages else ""
        out.append(next((role for role, mark in (("planner", "You are the planner"), ("critic", "You are the critic"),
                                                 ("synthesizer", "You give the final answer"),
                                                 ("solver", "You write Python"), ("flat", "You solve tasks"))
                         if mark in system), "?"))
    return out


def _assert_no_answer(result, reason):
    assert result["status"] == "no_answer" and result["final"] is None, result
    assert result["reason"] == reason and result["reason_detail"]
    events = read_trace(result["trace"])
    final = next(e for e in events if e["event"] == "final")
    assert final["status"] == "no_answer" and final["reason"] == reason and final["answer"] is None
    end = events[-1]
    assert end["event"] == "run_end" and end["status"] == "no_answer" and end["reason"] == reason
    saved = json.loads((tmp_result_dir(result) / "result.json").read_text())
    assert saved["status"] == "no_answer" and saved["reason"] == reason


def tmp_result_dir(result):
    from pathlib import Path

    return Path(result["trace"]).parent


# -- the reported bug -------------------------------------------------------------------------------------

def test_the_reported_bug_unreadable_plan_failed_code_and_an_echo_is_no_answer(fake_llm, tmp_path):
    """The default model's tank run: prose instead of a plan, code with a SyntaxError, and a synthesizer
    that echoes its results listing. It was `answered` with exit 0; now no answer, with the reason."""
    echo = "1. A tank holds 1200 L. It leaks 2% per hour -> FAILED: SyntaxError: invalid syntax\nAnswer: 1279.43"
    fake_llm.script(["Sure! The tank starts with 1200 L.", "I think the plan is to compute it.", BROKEN, BROKEN,
                     SUBMIT], default=echo)
    result = _run(fake_llm, tmp_path)
    _assert_no_answer(result, "planner_unreadable")
    # the fallback plan kept the task's own format, not a generic `Answer: <value>`
    plan = next(e for e in read_trace(result["trace"]) if e["event"] == "plan")
    assert plan["final_format"] == "Answer: <liters>" and plan["fallback"] is True
    assert result["answer_format"] == "Answer: <liters>"
    assert "synthesizer" not in _roles(fake_llm)  # nothing succeeded: no answer can be derived, no call wasted
    assert [f["category"] for f in result["failures"]][:1] == ["parse_error"]


def test_an_echo_of_the_results_listing_is_rejected(fake_llm, tmp_path):
    """Subgoal 2 fails; the synthesizer repeats the listing with its FAILED line: never an answer."""
    fake_llm.script([PLAN, LEAK, BROKEN, BROKEN, SUBMIT,
                     "1. volume after 3 hours of 2% leak -> 1129.4304\n2. add the 150 L refill -> FAILED: "
                     "SyntaxError\nAnswer: 1279.43"])
    result = _run(fake_llm, tmp_path)
    _assert_no_answer(result, "echo")
    assert "FAILED:" in result["candidate"]  # kept for inspection, never printed as the answer
    assert any(f["category"] == "spec_error" and "echo" in f["detail"] for f in result["failures"])


def test_an_echo_is_replaced_by_the_last_steps_result_in_the_tasks_format(fake_llm, tmp_path):
    fake_llm.script([PLAN, LEAK, REFILL, SUBMIT,
                     "TASK: A tank holds 1200 L.\nRESULTS:\n1. volume after 3 hours of 2% leak -> 1129.4304"])
    result = _run(fake_llm, tmp_path)
    assert result["status"] == "answered" and result["reason"] == ""
    assert result["final"] == "Answer: 1279.4304"  # the deterministic fallback, derived by construction
    events = read_trace(result["trace"])
    assert [e["because"] for e in events if e["event"] == "fallback_answer"] == ["echo"]


# -- formats and derivation -------------------------------------------------------------------------------

def test_an_answer_in_the_wrong_format_is_no_answer(fake_llm, tmp_path):
    fake_llm.script([PLAN, LEAK, REFILL, SUBMIT, "The tank now holds about 1279.43 liters of water."])
    result = _run(fake_llm, tmp_path)
    _assert_no_answer(result, "format_mismatch")


def test_the_tasks_format_wins_over_the_plans(fake_llm, tmp_path):
    """The planner asks for `Result = <x>`; the task asked for `Answer: <liters>`: the task's is used."""
    fake_llm.script(['{"subgoals": ["all of it"], "final_format": "Result = <x>"}',
                     "```python\nRESULT = 1200 * 0.98 ** 3 + 150\n```", SUBMIT, "Result = 1279.4304"])
    result = _run(fake_llm, tmp_path)
    _assert_no_answer(result, "format_mismatch")
    assert "FORMAT: Answer: <liters>" in fake_llm.chat_requests[-1].last_user


def test_a_plan_format_without_a_placeholder_is_replaced_by_the_default(fake_llm, tmp_path):
    """A task that names no format; the planner (a small model under a JSON grammar) filled final_format
    with its own arithmetic. That text may not bind the synthesizer: the default format is used."""
    garbage = "Multiply by 23: 17 * 23 = 433]}%|| 433]%|| 433"
    fake_llm.script([json.dumps({"subgoals": ["Compute 17 * 23"], "final_format": garbage}),
                     "```python\nRESULT = 17 * 23\n```", SUBMIT, "Answer: 391"])
    result = _run(fake_llm, tmp_path, "What is 17 * 23?")
    assert result["status"] == "answered" and result["final"] == "Answer: 391", result
    assert result["answer_format"] == "Answer: <value>"
    assert "FORMAT: Answer: <value>" in fake_llm.chat_requests[-1].last_user
    plan = next(e for e in read_trace(result["trace"]) if e["event"] == "plan")
    assert plan["final_format"] == "Answer: <value>"


def test_requested_format_keeps_a_plan_format_only_with_a_placeholder():
    from hrm_agent.outcome import requested_format

    assert requested_format("What is 2 + 2?", "Sum = <n>") == "Sum = <n>"
    assert requested_format("What is 2 + 2?", "Answer: 4") == "Answer: <value>"  # written before any code ran
    assert requested_format("What is 2 + 2?", "Answer: <n>\nmore") == "Answer: <value>"
    assert requested_format("What is 2 + 2?", None) == "Answer: <value>"
    assert requested_format(TANK, "Sum = <n>") == "Answer: <liters>"  # the task's own format first


def test_an_answer_no_result_supports_is_no_answer(fake_llm, tmp_path):
    fake_llm.script([PLAN, LEAK, REFILL, SUBMIT, "Answer: 1280"])  # the model's own arithmetic, not a RESULT
    result = _run(fake_llm, tmp_path)
    _assert_no_answer(result, "not_derived")
    assert result["candidate"] == "Answer: 1280"


def test_failed_code_only_is_no_answer(fake_llm, tmp_path):
    fake_llm.script([PLAN, BROKEN, BROKEN, BROKEN, BROKEN, SUBMIT], default="Answer: 1279.43")
    result = _run(fake_llm, tmp_path)
    _assert_no_answer(result, "no_successful_code")
    assert result["code_runs"] == 4 and "synthesizer" not in _roles(fake_llm)


def test_a_correct_run_is_answered_and_a_sentence_around_the_answer_line_is_dropped(fake_llm, tmp_path):
    fake_llm.script([PLAN, LEAK, REFILL, SUBMIT, "Here is the result.\n**Answer: 1279.43**"])
    result = _run(fake_llm, tmp_path)
    assert result["status"] == "answered" and result["final"] == "Answer: 1279.43"  # a rounding of 1279.4304
    assert result["reason"] == "" and result["failures"] == []


def test_a_readable_plan_after_an_unreadable_one_still_answers(fake_llm, tmp_path):
    """Planner unreadable but the one-subgoal run computes the value: an honest answer in the task's format."""
    fake_llm.script(["no json", "still none", "```python\nRESULT = round(1200 * 0.98 ** 3 + 150, 4)\n```", SUBMIT,
                     "Answer: 1279.4304"])
    result = _run(fake_llm, tmp_path)
    assert result["status"] == "answered" and result["final"] == "Answer: 1279.4304"
    assert "FORMAT: Answer: <liters>" in fake_llm.chat_requests[-1].last_user


# -- the flat controller ------------------------------------------------------------------------------------

def test_flat_answer_without_code_is_no_answer(fake_llm, tmp_path):
    fake_llm.script([], default="Answer: 1279.4304")  # always prose, never code
    result = _run(fake_llm, tmp_path, TANK, "controller=flat")
    _assert_no_answer(result, "no_successful_code")
    assert result["code_runs"] == 0 and len(fake_llm.chat_requests) == 4  # each attempt asked for code again
    assert "no code" in fake_llm.chat_requests[1].last_user


def test_flat_failed_code_only_is_no_answer(fake_llm, tmp_path):
    fake_llm.script([], default=BROKEN)
    result = _run(fake_llm, tmp_path, TANK, "controller=flat")
    _assert_no_answer(result, "no_successful_code")
    assert result["code_runs"] == 4


def test_flat_result_in_the_wrong_format_is_no_answer(fake_llm, tmp_path):
    fake_llm.script([], default="```python\nRESULT = 'The tank holds ' + str(1200 * 0.98 ** 3 + 150) + ' L'\n```")
    result = _run(fake_llm, tmp_path, TANK, "controller=flat")
    _assert_no_answer(result, "format_mismatch")
    assert "must be exactly in the format 'Answer: <liters>'" in fake_llm.chat_requests[1].last_user


def test_flat_bare_value_is_put_into_the_tasks_format(fake_llm, tmp_path):
    fake_llm.script(["```python\nRESULT = 1200 * 0.98 ** 3 + 150\n```"])
    result = _run(fake_llm, tmp_path, TANK, "controller=flat")
    assert result["status"] == "answered" and result["final"].startswith("Answer: 1279.430")
    assert result["controller"] == "flat"


def test_a_result_too_large_for_a_float_is_a_verdict_not_a_crash(fake_llm, tmp_path):
    # seen on the math bench: a tuned model's code computed 2 ** 2000 (an OverflowError in float()
    # stopped the whole bench); 10 ** 5000 is also past the digits Python turns into text
    fake_llm.script(["```python\nRESULT = 2 ** 2000\n```", "```python\nRESULT = 10 ** 5000\n```"])
    result = _run(fake_llm, tmp_path, TANK, "controller=flat")
    assert result["status"] in ("answered", "no_answer")
    assert value_derived(str(2 ** 2000), [2 ** 2000]) and not value_derived("12", [2 ** 2000, 10 ** 5000])


def test_flat_formatted_result_is_answered(fake_llm, tmp_path):
    fake_llm.script(["```python\nRESULT = 'Answer: ' + str(round(1200 * 0.98 ** 3 + 150, 4))\n```"])
    result = _run(fake_llm, tmp_path, TANK, "controller=flat")
    assert result["status"] == "answered" and result["final"] == "Answer: 1279.4304"


# -- the real command ---------------------------------------------------------------------------------------

def test_cli_no_answer_exits_1_with_the_reason_and_prints_no_answer(fake_llm, tmp_path, run_hrm):
    fake_llm.script(["Sure! The tank starts with 1200 L.", "I think the plan is to compute it.", BROKEN, BROKEN,
                     SUBMIT], default="1. A tank holds 1200 L -> FAILED: SyntaxError\nAnswer: 1279.43")
    proc = run_hrm("agent", "run", TANK, "--backend", "openai", "--base-url", fake_llm.url, "--model", "fake-model",
                   "retries=0", f"runs_dir={tmp_path / 'runs'}", "--run-id", "tank")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip() == ""  # no answer on stdout: nothing a script could take for one
    assert "no answer (planner_unreadable)" in proc.stderr and "Traceback" not in proc.stderr
    assert "no_answer" in proc.stderr
    shown = run_hrm("agent", "show", str(tmp_path / "runs" / "tank"))
    assert shown.returncode == 0 and "no answer (planner_unreadable)" in shown.stdout
    assert "final answer" not in shown.stdout


def test_dashboard_trace_view_shows_the_reason(fake_llm, tmp_path):
    from rich.console import Console

    from hrm_cli.dashboard.trace_view import event_detail

    fake_llm.script([PLAN, LEAK, REFILL, SUBMIT, "Answer: 1280"])
    final = next(e for e in read_trace(_run(fake_llm, tmp_path)["trace"]) if e["event"] == "final")
    console = Console(width=100, record=True, color_system=None)
    console.print(event_detail(final))
    text = console.export_text()
    assert "not_derived" in text and "Answer: 1280" in text and "final answer" not in text


def test_cli_json_no_answer_and_answered(fake_llm, tmp_path, run_hrm):
    fake_llm.script([PLAN, LEAK, REFILL, SUBMIT, "Answer: 1280"])
    args = ("agent", "run", TANK, "--backend", "openai", "--base-url", fake_llm.url, "--model", "fake-model",
            "retries=0", f"runs_dir={tmp_path / 'runs'}", "--json")
    proc = run_hrm(*args)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "no_answer" and result["reason"] == "not_derived"
    fake_llm.script([PLAN, LEAK, REFILL, SUBMIT, "Answer: 1279.4304"])
    proc = run_hrm(*args, "--controller", "hrm")  # the old name still works
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "answered" and result["final"] == "Answer: 1279.4304"
    assert result["controller"] == "hierarchical"
    shown = run_hrm("agent", "show", result["trace"])
    assert shown.returncode == 0 and "answered" in shown.stdout


# -- the rules themselves -----------------------------------------------------------------------------------

def test_task_format_reads_the_tasks_own_format():
    assert task_format(TANK) == "Answer: <liters>"
    assert task_format('Compute it. Return exactly: "Answer: <grid>"') == "Answer: <grid>"
    assert task_format("What is 6 * 7? Give Answer: <n>") == "Answer: <n>"
    assert task_format("What is 17 * 23?") is None


@pytest.mark.parametrize(("answer", "ok"), [
    ("Answer: 12", True), ("answer:12.", True), ("**Answer:** 12", True), ("`Answer: 12`", True),
    ("Sure.\nAnswer: 12", True), ("12 liters", False), ("The answer is 12", False), ("Answer:", False),
])
def test_match_format(answer, ok):
    assert (match_format("Answer: <liters>", answer) is not None) is ok


@pytest.mark.parametrize(("value", "results", "ok"), [
    ("1279.43", [1279.4304], True), ("1279.4304", [1279.4304000000001], True), ("1279", [1279.4304], True),
    ("1280", [1279.4304], False), ("$1,279.43", [1279.4304], True), ("1279.43 L", [1279.4304], True),
    ("391", ["Answer: 391"], True), ("[[1, 1], [0, 1]]", [[[1, 1], [0, 1]]], True), ("[[1, 0]]", [[[1, 1]]], False),
    ("Blue", ["blue"], True), ("red", ["blue"], False), ("42", [{"x": 6, "answer": 42}], True),
    ("True", [True], True), ("12", [], False),
])
def test_value_derived(value, results, ok):
    assert value_derived(value, results) is ok


def test_echoes_are_recognised():
    prompt = "TASK: A tank holds 1200 L of water and leaks.\nRESULTS:\n1. leak -> 1129.43"
    assert echo_of("1. leak -> FAILED: SyntaxError", [prompt])
    assert echo_of("1. leak -> 1129.43\nAnswer: 1129.43", [prompt])
    assert echo_of("A tank holds 1200 L of water and leaks. Answer: 5", [prompt])
    assert echo_of("TASK: something\nAnswer: 5", [])
    assert not echo_of("Answer: 1129.43", [prompt])
    assert judge("Answer: <liters>", "Answer: <liters>", [1.0]).reason == "echo"


def test_a_doctest_output_the_code_computed_is_an_answer_not_an_echo():
    """HumanEval-style prompts show the expected value on a line of its own; an answer that gives that
    value is an echo only when no successful RESULT computed it."""
    prompt = 'def f(n):\n    """The first multiples of 9.\n    >>> f(80)\n    [9, 18, 27, 36, 45, 54, 63, 72]\n    """'
    value = [9, 18, 27, 36, 45, 54, 63, 72]
    got = judge("Answer: [9, 18, 27, 36, 45, 54, 63, 72]", "Answer: <value>", [value], prompt_texts=[prompt])
    assert got.answered and got.answer == "Answer: [9, 18, 27, 36, 45, 54, 63, 72]"
    copied = judge("Answer: [9, 18, 27, 36, 45, 54, 63, 72]", "Answer: <value>", [[9, 18]], prompt_texts=[prompt])
    assert not copied.answered and copied.reason == "echo"
