"""Reading JSON and code out of what real small models write."""

from __future__ import annotations

import pytest

from hrm_agent.controllers import fill_format, format_ok
from hrm_agent.parsing import ParseError, SpecError, extract_code, extract_json
from hrm_agent.schemas import MAX_SUBGOALS, Critique, Plan, example, parse_reply, response_schema


@pytest.mark.parametrize("text", [
    '{"subgoals": ["a", "b"], "final_format": "Answer: <x>"}',
    'Sure! Here is the plan:\n```json\n{"subgoals": ["a", "b"], "final_format": "Answer: <x>"}\n```\nGood luck.',
    'Plan: {"subgoals": ["a", "b"], "final_format": "Answer: <x>"} Let me know if you need more.',
    "{'subgoals': ['a', 'b'], 'final_format': 'Answer: <x>'}",
    '{"subgoals": ["a", "b",], "final_format": "Answer: <x>",}',
    '```\n{"subgoals": ["a", "b"], "final_format": "Answer: <x>"}\n```',
])
def test_plan_json_survives_fences_prose_quotes_and_trailing_commas(text):
    plan = parse_reply(text, Plan).model_dump()
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


def _plan(text: str) -> dict:
    return parse_reply(text, Plan).model_dump()


def test_schema_errors_are_spec_errors_and_defaults_fill_in():
    with pytest.raises(SpecError, match="missing key 'subgoals'"):
        parse_reply('{"final_format": "x"}', Plan)
    with pytest.raises(SpecError, match="at least 1"):
        parse_reply('{"subgoals": ["", "  "]}', Plan)  # blank subgoals are dropped, then none is left
    with pytest.raises(SpecError, match="'subgoals'"):
        parse_reply('{"subgoals": [[1, 2]]}', Plan)
    assert _plan('{"subgoals": "one goal"}') == {"subgoals": ["one goal"], "final_format": "Answer: <value>"}
    assert _plan('{"subgoals": ["a"], "final_format": "", "extra": 1}')["final_format"] == "Answer: <value>"
    # models often write subgoals as objects or numbers, and more of them than were asked for
    assert _plan('{"subgoals": [{"subgoal": "a"}, {"description": "b"}, 3]}')["subgoals"] == ["a", "b", "3"]
    assert len(_plan('{"subgoals": ["a", "b", "c", "d", "e", "f"]}')["subgoals"]) == MAX_SUBGOALS
    # a Python set literal inside an object item (SmolLM2 writes these) is read, not a crash
    assert _plan('{"subgoals": [{"compute x": {"compute y from x"}}]}')["subgoals"] == [
        '{"compute x": "{\'compute y from x\'}"}']
    assert parse_reply('{"action": " Submit "}', Critique).model_dump() == {"action": "submit", "reason": ""}
    with pytest.raises(SpecError, match="'action' must be one of 'submit' or 'revise', got 'maybe'"):
        parse_reply('{"action": "maybe"}', Critique)
    with pytest.raises(ParseError, match="no JSON object"):
        parse_reply("submit", Critique)


@pytest.mark.parametrize("model", [Plan, Critique])
def test_generation_schema_is_strict_and_its_example_validates(model):
    """What a server or the constrained decoder generates under: every key required, no others, no defaults,
    bounded lengths; the repair prompt's example is itself a valid reply."""
    schema = response_schema(model)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == list(schema["properties"])
    assert not any("default" in prop for prop in schema["properties"].values())
    parse_reply(example(model), model)
    if model is Plan:
        subgoals = schema["properties"]["subgoals"]
        assert subgoals["minItems"] == 1 and subgoals["maxItems"] == MAX_SUBGOALS
        assert subgoals["items"]["maxLength"] > 0 and schema["properties"]["final_format"]["maxLength"] > 0
    else:
        assert schema["properties"]["action"]["enum"] == ["submit", "revise"]


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
