"""Reading JSON and code out of what real small models write."""

from __future__ import annotations

import pytest

from hrm_agent.controllers import PLAN_SCHEMA, fill_format, format_ok
from hrm_agent.parsing import ParseError, SpecError, extract_code, extract_json, validate


@pytest.mark.parametrize("text", [
    '{"subgoals": ["a", "b"], "final_format": "Answer: <x>"}',
    'Sure! Here is the plan:\n```json\n{"subgoals": ["a", "b"], "final_format": "Answer: <x>"}\n```\nGood luck.',
    'Plan: {"subgoals": ["a", "b"], "final_format": "Answer: <x>"} Let me know if you need more.',
    "{'subgoals': ['a', 'b'], 'final_format': 'Answer: <x>'}",
    '{"subgoals": ["a", "b",], "final_format": "Answer: <x>",}',
    '```\n{"subgoals": ["a", "b"], "final_format": "Answer: <x>"}\n```',
])
def test_plan_json_survives_fences_prose_quotes_and_trailing_commas(text):
    plan = validate(extract_json(text), PLAN_SCHEMA)
    assert plan == {"subgoals": ["a", "b"], "final_format": "Answer: <x>"}


def test_python_literals_and_nested_braces_in_strings():
    value = extract_json('ok {"action": "submit", "reason": "uses {braces} and a } inside", "x": True}')
    assert value == {"action": "submit", "reason": "uses {braces} and a } inside", "x": True}


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("I think the answer is 42.", "no JSON object"),
    ('{"subgoals": ["a"', "not valid JSON"),
])
def test_unreadable_answers_say_why(text, message):
    with pytest.raises(ParseError, match=message):
        extract_json(text)


def test_schema_errors_are_spec_errors_and_defaults_fill_in():
    with pytest.raises(SpecError, match="missing key 'subgoals'"):
        validate({"final_format": "x"}, PLAN_SCHEMA)
    with pytest.raises(SpecError, match="at least 1"):
        validate({"subgoals": []}, PLAN_SCHEMA)
    assert validate({"subgoals": "one goal"}, PLAN_SCHEMA) == {"subgoals": ["one goal"], "final_format": "Answer: <value>"}
    # models often write subgoals as objects
    assert validate({"subgoals": [{"subgoal": "a"}, {"description": "b"}]}, PLAN_SCHEMA)["subgoals"] == ["a", "b"]
    critic = {"action": {"type": "str", "enum": ["submit", "revise"]}}
    assert validate({"action": " Submit "}, critic) == {"action": "submit"}
    with pytest.raises(SpecError, match="one of submit, revise"):
        validate({"action": "maybe"}, critic)


def test_extract_code_prefers_python_fences():
    assert extract_code("text\n```python\nRESULT = 1\n```\nmore") == "RESULT = 1"
    assert extract_code("```json\n{}\n```\n```py\nRESULT = 2\n```") == "RESULT = 2"
    assert extract_code("```\nRESULT = 3\n```") == "RESULT = 3"
    assert extract_code("RESULT = 4") == "RESULT = 4"
    assert extract_code("```python\nRESULT = 5\n") == "RESULT = 5"  # unterminated fence (hit max tokens)


def test_final_format_fill_and_check():
    assert fill_format("Answer: <liters>", 1279.23) == "Answer: 1279.23"
    assert fill_format("Answer: <grid>", [[1, 0]]) == "Answer: [[1, 0]]"
    assert fill_format("just the number", 5) == "5"
    assert format_ok("Answer: <liters>", "Answer: 12")
    assert not format_ok("Answer: <liters>", "12 liters")
    assert format_ok("<value>", "anything")
