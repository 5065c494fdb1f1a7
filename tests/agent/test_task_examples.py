"""The examples a task states, read from its text and checked against the agent's code in the sandbox.

The parser is checked on every coding-suite and HumanEval prompt: each reference solution satisfies the
examples read from its own prompt (except three HumanEval prompts whose docstrings are known to be wrong),
and the controllers, against a real HTTP server replaying scripted replies, refuse code that contradicts
an example and tell the model why.
"""

from __future__ import annotations

import pytest

from hrm_agent.backends.http import make_backend
from hrm_agent.runner import run_agent
from hrm_agent.bench.suites import load_suite
from hrm_agent.task_examples import check_program, describe, relevant_examples, stated_examples
from hrm_agent.trace import read_trace
from hrm_engine.config import resolve_config

PALINDROME = ('def is_palindrome(s: str) -> bool\nReturn True if s reads the same forwards and backwards when you '
              'ignore case and keep only letters and digits. is_palindrome("A man, a plan, a canal: Panama") is True.'
              '\n\nWrite the Python function `is_palindrome` (standard library only). Your code must define '
              '`is_palindrome`; call it on one example and store that value in RESULT.')
NAIVE = '```python\ndef is_palindrome(s):\n    return s == s[::-1]\n\nRESULT = is_palindrome("abba")\n```'
RIGHT = ('```python\ndef is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]\n\n'
         'RESULT = is_palindrome("A man, a plan, a canal: Panama")\n```')
# HumanEval's own docstrings are wrong here (known errata): median/47, sort_array/116, bf/148
HUMANEVAL_WRONG_EXAMPLES = {"HumanEval/47", "HumanEval/116", "HumanEval/148"}


def test_the_forms_tasks_write_examples_in():
    text = ('f(3) == [1, 2]; g("a,b") is True. h(1, 2) => 3\n>>> k([1.5])\n    0.5\n'
            'sum_to(4) == 1 + 2 + 3 + 4 = 10. run(os.system("x")) == 0. m(2) is 5. n(7) == 49.')
    got = [(e.call, e.expected) for e in stated_examples(text)]
    assert got == [("k([1.5])", "0.5"), ("f(3)", "[1, 2]"), ('g("a,b")', "True"), ("h(1, 2)", "3"),
                   ("n(7)", "49")]
    # a sum written out is no literal; `os.system(...)` is no literal argument; `is 5` is no identity example


def test_only_the_functions_the_code_defines_are_checked():
    text = "f(2) == 4 and g(2) == 5"
    assert [e.call for e in relevant_examples(text, "def f(x):\n    return x * 2")] == ["f(2)"]
    assert relevant_examples(text, "RESULT = 4") == []


@pytest.mark.parametrize("suite", ["coding", "humaneval"])
def test_every_reference_solution_satisfies_the_examples_of_its_own_prompt(suite):
    checked, wrong = 0, set()
    for task in load_suite(suite).tasks:
        examples = relevant_examples(task.agent_prompt(), task.solution)
        if not examples:
            continue
        ns: dict = {}
        exec(check_program(task.solution, examples), ns)  # noqa: S102 - the suites' reference code, not a model's
        checked += len(examples)
        if ns["RESULT"]:
            wrong.add(task.id)
            assert describe(ns["RESULT"])[0].count(" gave ") == 1
    assert wrong == (HUMANEVAL_WRONG_EXAMPLES if suite == "humaneval" else set())
    assert checked >= (46 if suite == "coding" else 250)


def _run(server, tmp_path, controller):
    cfg = resolve_config("agent", None, [f"runs_dir={tmp_path / 'runs'}", "sandbox.wall_s=10",
                                         f"controller={controller}"])
    backend = make_backend("openai", base_url=server.url, model="fake-model", retries=0, timeout=10)
    return run_agent(cfg, PALINDROME, backend=backend)


def test_flat_code_that_contradicts_the_example_is_retried_with_the_mismatch(fake_llm, tmp_path):
    fake_llm.script([NAIVE, RIGHT])
    result = _run(fake_llm, tmp_path, "flat")
    assert result["status"] == "answered" and result["final"] == "Answer: true", result  # the value, as JSON
    feedback = fake_llm.chat_requests[1].last_user
    assert 'is_palindrome("A man, a plan, a canal: Panama") gave False; the task says True' in feedback
    checks = [e for e in read_trace(result["trace"]) if e["event"] == "example_check"]
    assert [c["ok"] for c in checks] == [False, True]
    assert result["example_checks"] == 2 and result["examples_failed"] == 1
    assert any(f["category"] == "spec_error" and "contradicts" in f["detail"] for f in result["failures"])


def test_code_that_keeps_contradicting_the_example_is_no_answer(fake_llm, tmp_path):
    fake_llm.script([], default=NAIVE)
    result = _run(fake_llm, tmp_path, "flat")
    assert result["status"] == "no_answer" and result["reason"] == "example_failed", result
    assert result["final"] is None


def test_hierarchical_solver_gets_the_mismatch_and_a_contradicted_result_is_no_result(fake_llm, tmp_path):
    plan = '{"subgoals": ["write is_palindrome and call it"], "final_format": "Answer: <value>"}'
    fake_llm.script([plan, NAIVE, RIGHT, '{"action": "submit", "reason": "done"}', "Answer: True"])
    result = _run(fake_llm, tmp_path, "hierarchical")
    assert result["status"] == "answered" and result["final"] == "Answer: True", result
    assert "gave False; the task says True" in fake_llm.chat_requests[2].last_user  # the solver's retry
    ends = [e for e in read_trace(result["trace"]) if e["event"] == "subgoal_end"]
    assert [e["ok"] for e in ends] == [True]


def test_the_trace_view_shows_each_example_check(fake_llm, tmp_path):
    from rich.console import Console

    from hrm_cli.agent.render import trace_tree

    fake_llm.script([NAIVE, RIGHT])
    result = _run(fake_llm, tmp_path, "flat")
    console = Console(width=200, record=True, color_system=None)
    console.print(trace_tree(read_trace(result["trace"])))
    text = console.export_text()
    assert "task's examples: 1 of 1 contradicted: is_palindrome(" in text and "the task says True" in text
    assert "task's examples: all 1 hold" in text
