"""Classify a failed benchmark item into one failure category by rules over its trace.

The agent records failures as they happen (toolkit.CATEGORIES), but a run can record several, or none
(a wrong answer computed by working code). For the comparison we need exactly one category per failed
item, chosen the same way for both controllers. The rules below are tried in order; the first that
matches wins. They are documented, with the reasoning, in docs/agent-bench.md; keep both in step.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from hrm_agent.toolkit import CATEGORIES

Facts = dict[str, Any]

_TIMEOUT_EXITS = {"timeout", "cpu_limit"}


def trace_facts(row: dict[str, Any], events: list[dict[str, Any]]) -> Facts:
    """What the rules look at, gathered once from the result row and the trace events."""
    failures = [ev for ev in events if ev.get("event") == "failure"]
    execs = [ev for ev in events if ev.get("event") == "exec"]
    run_end = next((ev for ev in reversed(events) if ev.get("event") == "run_end"), {})
    return {
        "categories": [ev.get("category") for ev in failures],
        "execs": execs,
        "ok_execs": [ev for ev in execs if ev.get("ok")],
        "errors": [ev for ev in events if ev.get("event") == "error"],
        "stop_reason": row.get("stop_reason") or run_end.get("stop_reason"),
        "answer": row.get("answer"),
        "readable": row.get("readable", True),
        "parsed": row.get("parsed"),
        "kind": row.get("kind"),
        "controller": row.get("controller"),
        "item_error": row.get("error"),
    }


def _numbers_in(value: Any) -> list[float]:
    from hrm_agent.bench.suites import parse_number

    out: list[float] = []
    if isinstance(value, bool):
        return out
    if isinstance(value, (int, float)) and math.isfinite(value):
        return [float(value)]
    if isinstance(value, (list, tuple)):
        for v in value:
            out.extend(_numbers_in(v))
        return out
    if isinstance(value, dict):
        for v in value.values():
            out.extend(_numbers_in(v))
        return out
    if isinstance(value, str):
        n = parse_number(value)
        return [n] if n is not None else []
    return out


def _answer_not_computed(f: Facts) -> bool:
    """hierarchical only: the answer's value appears in no successful code result (the synthesizer went its own way)."""
    if f["controller"] not in ("hierarchical", "hrm") or not f["ok_execs"] or f["parsed"] is None:
        return False
    if f["kind"] == "numeric":
        target = float(f["parsed"])
        seen = [n for ev in f["ok_execs"] for n in _numbers_in(ev.get("result"))]
        return not any(abs(n - target) <= 1e-6 * max(1.0, abs(target)) for n in seen)
    if f["kind"] == "exact":
        from hrm_agent.bench.suites import normalize_exact

        target = str(f["parsed"])
        return not any(target == normalize_exact(str(ev.get("result"))) or target in str(ev.get("result_repr", ""))
                       for ev in f["ok_execs"])
    return False


# (category, rule text for the docs, predicate) in order of precedence.
RULES: list[tuple[str, str, Callable[[Facts], bool]]] = [
    ("backend_error", "the model backend failed: an `error` event, a recorded backend_error, or the item raised",
     lambda f: bool(f["errors"]) or "backend_error" in f["categories"] or bool(f["item_error"])),
    ("timeout", "the run hit its wall-clock limit (stop_reason timeout), or every code execution it made was "
                "killed for wall or CPU time",
     lambda f: f["stop_reason"] == "timeout"
     or (bool(f["execs"]) and all(ev.get("exit_reason") in _TIMEOUT_EXITS for ev in f["execs"]))),
    ("budget", "the token budget ran out (stop_reason budget), or the run ended without an answer after "
               "recording a budget failure (rounds or attempts used up)",
     lambda f: f["stop_reason"] == "budget" or (not f["answer"] and "budget" in f["categories"])),
    ("tool_misuse", "no code ran successfully: the model wrote no code, every program failed, or it answered "
                    "without running code",
     lambda f: not f["ok_execs"]),
    ("parse_error", "a planner, critic or replan reply stayed unreadable after the repair prompt",
     lambda f: "parse_error" in f["categories"]),
    ("spec_error", "the answer breaks the task's specification: the checker finds no answer of the asked shape "
                   "(no number, no function with the entry point's name, an empty answer), or the run "
                   "recorded a spec_error (plan schema, answer format)",
     lambda f: not f["readable"] or "spec_error" in f["categories"]),
    ("plan_drift", "the plan drifted: a recorded plan_drift (a replan repeated or unreadable), or, for the "
                   "hierarchical controller, a final value that no successful subgoal computed",
     lambda f: "plan_drift" in f["categories"] or _answer_not_computed(f)),
    ("verification_gap", "otherwise: code ran, an answer was submitted, and it is wrong (the critic or the "
                         "flat loop accepted a wrong result; for code tasks, the function fails hidden tests)",
     lambda f: True),
]

assert all(cat in CATEGORIES for cat, _, _ in RULES)


def classify(row: dict[str, Any], events: list[dict[str, Any]]) -> str | None:
    """The one failure category of a finished item; None when it passed."""
    if row.get("pass"):
        return None
    facts = trace_facts(row, events)
    for category, _text, predicate in RULES:
        if predicate(facts):
            return category
    return "verification_gap"  # unreachable: the last rule always matches


def rules_table() -> list[tuple[int, str, str]]:
    """(order, category, rule) for the docs and `hrm agent report`."""
    return [(i, cat, text) for i, (cat, text, _) in enumerate(RULES, 1)]
