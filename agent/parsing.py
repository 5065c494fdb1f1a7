"""Read structured answers out of what small models really write.

Models wrap JSON in code fences or prose, add trailing text, use single quotes, Python literals
(True/None) and trailing commas. `extract_json` tries the strict reading first and then
progressively more forgiving ones, so a valid answer is never rejected and a broken one fails with
a reason that can be fed back in a repair prompt. Whether the object fits its schema is the business of
the pydantic models in hrm_agent.schemas (`parse_reply`), which raise SpecError.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from hrm_agent.untrusted import UntrustedJSON, clean_value, json_depth_exceeds, load_json

MAX_REPLY_CHARS = 200_000  # a structured reply is a few hundred characters; a longer one is read this far
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)(?:```|\Z)", re.S)


class ParseError(ValueError):
    """The text holds no usable answer; the message says what was wrong (for the repair prompt)."""


class SpecError(ParseError):
    """The answer parsed but does not follow the requested schema (missing key, wrong type or value)."""


def _balanced_objects(text: str, opener: str = "{") -> list[str]:
    """Every balanced {...} (or [...]) span, outermost first, ignoring brackets inside strings."""
    closer = {"{": "}", "[": "]"}[opener]
    spans: list[str] = []
    i = 0
    while True:
        start = text.find(opener, i)
        if start < 0:
            return spans
        depth, quote, escaped = 0, "", False
        for j in range(start, len(text)):
            ch = text[j]
            if quote:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
            elif ch == opener:
                depth += 1
            elif ch == closer:
                depth -= 1
                if depth == 0:
                    spans.append(text[start:j + 1])
                    i = j + 1
                    break
        else:
            # Unbalanced to the end: keep the tail as a last candidate (a truncated answer).
            spans.append(text[start:])
            return spans


def _loads_forgiving(candidate: str) -> Any:
    """JSON (size- and depth-bounded, hrm_agent.untrusted), then Python-literal syntax (single quotes,
    True/None, trailing commas)."""
    if json_depth_exceeds(candidate, 64):
        raise ParseError("not valid JSON: nested deeper than 64 levels")
    try:
        return load_json(candidate)
    except UntrustedJSON:
        pass
    cleaned = re.sub(r",\s*([}\]])", r"\1", candidate)
    try:
        return load_json(cleaned)
    except UntrustedJSON:
        pass
    pythonish = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", cleaned)))
    try:
        return clean_value(ast.literal_eval(pythonish))
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ParseError(f"not valid JSON: {exc.__class__.__name__}") from None


def extract_json(text: str, *, expect: type = dict) -> Any:
    """The first JSON value of type `expect` in `text` (fenced, bare, or inside prose)."""
    if not text or not text.strip():
        raise ParseError("the answer was empty")
    text = text[:MAX_REPLY_CHARS]
    opener = "{" if expect is dict else "["
    candidates: list[str] = [text.strip()]
    for _lang, body in _FENCE.findall(text):
        candidates.append(body.strip())
    candidates.extend(_balanced_objects(text, opener))
    candidates = [c for c in candidates if c.startswith(opener)]
    last_error = f"no JSON {'object' if expect is dict else 'array'} found"
    for cand in candidates:
        if not cand:
            continue
        try:
            value = _loads_forgiving(cand)
        except ParseError as exc:
            last_error = str(exc)
            continue
        if isinstance(value, expect):
            return value
        last_error = f"expected a JSON {expect.__name__}, got {type(value).__name__}"
    raise ParseError(last_error)


def extract_code(text: str) -> str:
    """The Python code in an answer: the first python (or unlabelled) fence, else the whole text."""
    fences = _FENCE.findall(text or "")
    for lang, body in fences:
        if lang.lower() in ("python", "py", "python3"):
            return body.strip()
    for lang, body in fences:
        if lang == "":
            return body.strip()
    if fences:
        return fences[0][1].strip()
    return (text or "").strip()
