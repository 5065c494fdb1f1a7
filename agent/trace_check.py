"""A trace checked before it is drawn: UTF-8 text, one JSON object per line, the fields the viewer reads.

`hrm agent show` may be pointed at any file (a binary, a JSON array, a hand-edited trace); the
tree renderer indexes events by name, so each problem becomes one AgentError line naming the
file and the line instead of a UnicodeDecodeError or KeyError. The schema is docs/agent-trace.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrm_agent.errors import AgentError
from hrm_agent.trace import read_trace, resolve_trace
from hrm_datasets.files import json_kind

_NUMBER = (int, float)
# The fields `hrm_cli/agent/render.py` reads with [] for each event, and their types.
REQUIRED: dict[str, dict[str, tuple[type, ...]]] = {
    "plan": {"round": _NUMBER},
    "subgoal_start": {"index": _NUMBER, "subgoal": (str,)},
    "model_call": {"role": (str,), "prompt_tokens": _NUMBER, "completion_tokens": _NUMBER, "latency_s": _NUMBER},
    "code": {"code": (str,)},
    "exec": {"ok": (bool,), "duration_s": _NUMBER},
    "repair": {"role": (str,), "error": (str,)},
    "failure": {"category": (str,), "detail": (str,)},
    "vote": {"samples": _NUMBER, "min_agreement": _NUMBER, "agreement": _NUMBER, "counts": (list,)},
}
HINT = "is this an hrm agent trace? (docs/agent-trace.md)"


def _check_event(event: Any, where: str) -> None:
    if not isinstance(event, dict):
        raise AgentError(f"{where}: an event must be a JSON object, got {json_kind(event)}; {HINT}")
    name = event.get("event")
    if not isinstance(name, str):
        raise AgentError(f"{where}: the event has no 'event' name; {HINT}")
    fields = dict(REQUIRED.get(name, {}))
    if name == "exec" and event.get("ok") is False:
        fields["exit_reason"] = (str,)
    for key, types in fields.items():
        value = event.get(key)
        if not isinstance(value, types) or (types == _NUMBER and isinstance(value, bool)):
            want = "a number" if types == _NUMBER else json_kind(types[0]())
            raise AgentError(f"{where}: event '{name}' needs '{key}' ({want}), got {value!r}; {HINT}")
    messages = event.get("messages", [])
    if name == "model_call" and not (isinstance(messages, list) and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages)):
        raise AgentError(f"{where}: 'messages' must be a list of {{role, content}} objects; {HINT}")


def load_trace(path: str | Path) -> list[dict[str, Any]]:
    """Every complete event of a trace, each checked; a binary or non-event file is one AgentError."""
    file = resolve_trace(path)
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgentError(f"{file}: not UTF-8 text (byte {exc.start}); {HINT}") from None
    except OSError as exc:
        raise AgentError(f"cannot read {file}: {exc.strerror or exc}") from None
    events = read_trace(file)
    numbers = [n for n, line in enumerate(text.split("\n"), 1) if line.strip()]  # as iter_trace numbers them
    for lineno, event in zip(numbers, events):
        _check_event(event, f"{file}:{lineno}")
    return events
