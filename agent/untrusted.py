"""Text and JSON from a model, a server or model-written code, made safe to keep, compare and show.

The jail holds the code in; this module holds in what the code (and the model behind it) hands back.
Three dangers, one function each, applied where untrusted text enters the agent process:

- `load_json`: JSON with a size cap and a nesting-depth check done by a linear scan *before* `json.loads`
  (`"[" * 200000` would otherwise raise RecursionError deep inside the decoder), every string in the value
  passed through `clean`. Raises `UntrustedJSON` (a ValueError) on anything it refuses.
- `clean`: lone surrogates (JSON's `"\\ud800"` decodes to one) replaced by U+FFFD, so the value can be
  encoded as UTF-8 when it is written to a trace, compared or printed.
- `visible`: control characters, escape sequences and bidi overrides shown as `\\x1b`, `\\u009b`, ... so
  that only hrm's own styling reaches a terminal. Newlines and tabs stay. Idempotent (backslashes are left
  alone), so applying it twice changes nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_BYTES = 8_000_000  # far above any reply or RESULT the agent accepts; callers pass tighter caps
MAX_JSON_DEPTH = 64  # the sandbox child cuts a RESULT at depth 50; server bodies are 4 or 5 deep

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls but \t and \n, DEL, C1 controls, and the bidi embeddings/overrides/isolates (U+202A-E,
# U+2066-9) that reorder what a reader sees. One character class: linear, nothing to backtrack.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\r": "\\r", "\x1b": "\\x1b"}


class UntrustedJSON(ValueError):
    """JSON refused: too large, nested too deeply, not UTF-8, or not JSON; the message says which."""


def clean(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (the only str a UTF-8 encoder refuses)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def clean_value(value: Any) -> Any:
    """A JSON value (dicts, lists, strings, numbers) with `clean` applied to every string and key."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    if isinstance(value, dict):
        return {clean(k) if isinstance(k, str) else k: clean_value(v) for k, v in value.items()}
    return value


def json_depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether `text` (JSON) nests arrays/objects deeper than `max_depth`: one pass, brackets inside strings
    ignored, stopping at the first level past the limit. The count of `[` and `{` bounds the depth, so
    most texts need no scan at all."""
    if text.count("[") + text.count("{") <= max_depth:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "[" or ch == "{":
            depth += 1
            if depth > max_depth:
                return True
        elif ch == "]" or ch == "}":
            depth -= 1
    return False


def load_json(data: bytes | str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`data` parsed as JSON within `max_bytes` and `max_depth`, its strings `clean`ed; UntrustedJSON
    (a ValueError) for anything refused, never a RecursionError or UnicodeDecodeError."""
    if len(data) > max_bytes:
        raise UntrustedJSON(f"JSON of {len(data):,} bytes is over the {max_bytes:,}-byte limit")
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UntrustedJSON(f"not UTF-8 (byte {exc.start})") from None
    else:
        text = data
    if json_depth_exceeds(text, max_depth):
        raise UntrustedJSON(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(text)
    except RecursionError:  # unreachable after the scan; kept so no input can end the agent
        raise UntrustedJSON(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise UntrustedJSON(f"not JSON ({exc})") from None
    return clean_value(value)


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    named = _NAMED.get(ch)
    if named:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def visible(text: Any) -> str:
    """`text` as a terminal may show it: controls and escapes written out (`\\x1b[2J`, `\\u009b`), lone
    surrogates as U+FFFD, newlines and tabs kept. Not markup-escaped: pass the result as rich `Text` or
    through `rich.markup.escape` when it goes into a markup string."""
    s = clean(text if isinstance(text, str) else str(text))
    return _UNSAFE.sub(_escape, s) if _UNSAFE.search(s) else s


def visible_value(value: Any) -> Any:
    """A trace event or any JSON value with `visible` applied to every string (keys included)."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, list):
        return [visible_value(v) for v in value]
    if isinstance(value, dict):
        return {visible(k) if isinstance(k, str) else k: visible_value(v) for k, v in value.items()}
    return value
