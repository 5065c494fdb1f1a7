"""Names a person reads for the keys of a bench summary (`pass@k.5` -> `pass@5`, `time_s.mean` ->
`time, mean (s)`): the bench view shows these, never the raw JSON paths."""

from __future__ import annotations

import re

METRIC_LABELS = {
    "items": "items", "tasks": "tasks", "passed": "passed", "pass@1": "pass@1",
    "time_s.mean": "time, mean (s)", "time_s.median": "time, median (s)",
    "time_to_solve_s.mean": "solve time, mean (s)", "time_to_solve_s.median": "solve time, median (s)",
    "rounds_mean": "rounds, mean", "model_calls_mean": "model calls, mean", "tool_calls_mean": "tool calls, mean",
    "tokens_mean": "tokens, mean", "tokens_total": "tokens, total",
    "tool_misuse_spec_error": "tool misuse + spec errors",
    "selective.answered_wrong.value": "answered wrong (rate)", "selective.abstained.value": "abstained (rate)",
    "selective.accuracy_answered.value": "accuracy among answered",
    # optimize runs (agent/optimize/bopro.py)
    "best_score": "best score", "best_candidate": "best candidate", "evaluations": "evaluations",
    "mean_best_so_far": "best so far, mean", "prompt_tokens": "prompt tokens",
    "completion_tokens": "completion tokens", "stop_reason": "stop reason",
}
COMPARISON_LABELS = {
    "tasks": "tasks in both", "pass@1_diff": "pass@1 difference", "ci95": "95% interval (bootstrap)",
    "bootstrap": "bootstrap resamples", "seed": "seed", "wins": "tasks won", "losses": "tasks lost",
    "tool_misuse_spec_error": "tool misuse + spec errors",
    "tool_misuse_spec_error_change": "change in tool misuse + spec errors",
}
FACT_LABELS = {
    "bench_id": "bench", "suite": "suite", "backend": "backend", "model": "model", "samples": "samples per task",
    "items_done": "items done", "items_total": "items in all", "complete": "complete", "updated": "updated",
    "created": "created", "started": "started", "finished": "finished",
}
RECORDED = "recorded_failures."
GROUPED = re.compile(r"^by_(\w+?)\.(.+)\.pass@1$")


def metric_label(key: str) -> str:
    """A summary metric's name for the table (unknown keys: underscores and dots made readable)."""
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    if key.startswith("pass@k."):
        return f"pass@{key[7:]}"
    m = GROUPED.match(key)
    if m:
        return f"pass@1, {m.group(1)} {m.group(2)}"
    return readable(key)


def readable(key: str) -> str:
    return key.replace("_", " ").replace(".", ", ")


def is_duplicate(key: str, keys: list[str]) -> bool:
    """`pass@k.1` repeats `pass@1`: one row is enough."""
    return key == "pass@k.1" and "pass@1" in keys
