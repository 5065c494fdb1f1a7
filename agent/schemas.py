"""The JSON replies the agent asks a model for, as pydantic models.

One definition serves three readers: `response_schema` gives the JSON Schema that a server
(`response_format`, Ollama's `format`) or the local constrained decoder (agent/constrained.py) generates
under; `parse_reply` validates what came back; `example` is the sample shown in the repair prompt.

The generation schema is strict (every key required, no extra keys, bounded lengths so a reply fits in
`budget.max_tokens_per_call`); validation is forgiving in the ways small models actually err when no
server enforced the schema (a bare string for a one-item list, `" Submit "`, `{"subgoal": ...}` items,
over-long lists and texts are cut rather than refused).
"""

from __future__ import annotations

import copy
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hrm_agent.parsing import ParseError, SpecError, extract_json

MAX_SUBGOALS = 4  # the planner prompt asks for 1 to 4; budget.max_subgoals may cut further
SUBGOAL_CHARS = 160  # four subgoals and a format stay well inside 320 tokens
FORMAT_CHARS = 80
REASON_CHARS = 160
DEFAULT_FORMAT = "Answer: <value>"

# Limits that only the generation schema carries: validation keeps a longer text as it is.
_Subgoal = Annotated[str, Field(json_schema_extra={"minLength": 1, "maxLength": SUBGOAL_CHARS})]


class Plan(BaseModel):
    """The planner's (and replanner's) reply: subgoals short code can compute, and the answer's format."""

    model_config = ConfigDict(extra="ignore")

    subgoals: list[_Subgoal] = Field(min_length=1, max_length=MAX_SUBGOALS)
    final_format: str = Field(DEFAULT_FORMAT, json_schema_extra={"minLength": 1, "maxLength": FORMAT_CHARS})

    @field_validator("subgoals", mode="before")
    @classmethod
    def _subgoal_texts(cls, value: Any) -> Any:
        """A bare string is one subgoal; `{"subgoal": ...}` items are their text; blanks go; extras go."""
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return value
        items = []
        for item in value:
            if isinstance(item, dict):
                item = (item.get("subgoal") or item.get("goal") or item.get("description")
                        or json.dumps(item, default=str))  # default: literal_eval may have read a set
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            if isinstance(item, str):
                item = item.strip()
                if not item:
                    continue
            items.append(item)
        return items[:MAX_SUBGOALS]

    @field_validator("final_format", mode="before")
    @classmethod
    def _format_text(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_FORMAT
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


class Critique(BaseModel):
    """The critic's reply: submit the results as they are, or revise the plan (and why)."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["submit", "revise"]
    reason: str = Field("", json_schema_extra={"maxLength": REASON_CHARS})

    @field_validator("action", mode="before")
    @classmethod
    def _normalized(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("reason", mode="before")
    @classmethod
    def _reason_text(cls, value: Any) -> Any:
        return "" if value is None else value if isinstance(value, str) else str(value)


EXAMPLES: dict[type[BaseModel], str] = {
    Plan: '{"subgoals": ["compute x", "compute y from x"], "final_format": "Answer: <y>"}',
    Critique: '{"action": "submit", "reason": "all results look right"}',
}


def example(model: type[BaseModel]) -> str:
    """A valid reply for `model`, as the repair prompt shows it."""
    return EXAMPLES[model]


def response_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The strict JSON Schema to generate under: every property required, no others, no defaults.

    Strict because a constrained decoder (or a server's) would otherwise be free to stop after `{}` or to
    add keys; defaults are dropped because they are the validator's business, not the generator's.
    """
    schema = copy.deepcopy(model.model_json_schema())
    schema["required"] = list(schema.get("properties", {}))
    schema["additionalProperties"] = False
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    return schema


def schema_name(model: type[BaseModel]) -> str:
    """The schema's name as `response_format.json_schema.name` wants it (letters, digits, _ and -)."""
    return model.__name__.lower()


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = list(err.get("loc", ()))
    index = loc.pop() if loc and isinstance(loc[-1], int) else None
    where = ".".join(str(p) for p in loc) or "the reply"
    if index is not None:
        return f"{where!r} item {index + 1}: {err.get('msg', '')}"
    kind = err.get("type", "")
    if kind == "missing":
        return f"missing key {where!r}"
    if kind == "literal_error":
        allowed = err.get("ctx", {}).get("expected", "")
        return f"{where!r} must be one of {allowed}, got {err.get('input')!r}"
    return f"{where!r}: {err.get('msg', kind)}"


def parse_reply(text: str, model: type[BaseModel]) -> BaseModel:
    """The first JSON object in `text`, validated as `model`.

    Raises ParseError when no JSON object can be read, SpecError (a ParseError) when one was read but does
    not fit the schema; the message names the key and the problem, for the repair prompt.
    """
    value = extract_json(text)
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise SpecError(_first_error(exc)) from None


__all__ = ["Plan", "Critique", "ParseError", "SpecError", "example", "parse_reply", "response_schema",
           "schema_name"]
