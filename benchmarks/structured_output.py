"""Parse and spec errors of the planner and the critic on a suite's tasks, the way the agent calls them.

For each task: one planner call and one critic call (on a fixed, plausible results line), each through
`Session.call_json` with the controllers' schemas, so the count is exactly what a run would record as
`parse_error` / `spec_error` (after the one repair). Prints one JSON summary line; `--trace DIR` keeps the
traces (model replies included).

    .venv/bin/python benchmarks/structured_output.py --suite math --limit 20
    .venv/bin/python benchmarks/structured_output.py --suite math --limit 20 --unconstrained

`--unconstrained` asks without a schema (the reply is only parsed and validated, with one repair), which is
what every backend did before structured output.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from hrm_agent import controllers
from hrm_agent.backends.http import make_backend
from hrm_agent.prompts import load_prompts, render
from hrm_agent.toolkit import Budget, Session
from hrm_agent.bench.suites import load_suite
from hrm_agent.trace import TraceWriter


class _NoSchema:
    """A backend wrapper that drops the schema: the parse-and-repair path alone."""

    def __init__(self, inner):
        self._inner, self.name = inner, inner.name

    @property
    def model(self) -> str:
        return self._inner.model

    def chat(self, messages, **kw):
        kw.pop("schema", None)
        return self._inner.chat(messages, **kw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default="math")
    ap.add_argument("--limit", type=int, default=0, help="first N tasks (0: all)")
    ap.add_argument("--backend", default="mlx")
    ap.add_argument("--model", default=None)
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--unconstrained", action="store_true", help="no schema: parse and repair only")
    ap.add_argument("--trace", default=None, help="folder for the traces (default: a temporary one)")
    args = ap.parse_args()

    suite = load_suite(args.suite)
    tasks = suite.tasks[: args.limit] if args.limit else suite.tasks
    backend = make_backend(args.backend, model=args.model, base_url=args.base_url)
    if args.unconstrained:
        backend = _NoSchema(backend)
    prompts = load_prompts("default")
    budget = Budget(wall_s=3600.0, max_model_tokens=10**9)
    out = Path(args.trace or tempfile.mkdtemp(prefix="hrm-structured-"))
    counts = {"planner": {"parse_error": 0, "spec_error": 0, "repairs": 0},
              "critic": {"parse_error": 0, "spec_error": 0, "repairs": 0}}
    calls = tokens = 0
    start = time.perf_counter()
    for i, task in enumerate(tasks, 1):
        with TraceWriter(out / task.id) as trace:
            s = Session(backend=backend, prompts=prompts, budget=budget, trace=trace)
            results = "1. compute the answer -> 42"
            for role, messages, schema, example in (
                    ("planner", render(prompts, "planner", task=task.prompt, context=""),
                     controllers.PLAN_SCHEMA, controllers.PLAN_EXAMPLE),
                    ("critic", render(prompts, "critic", task=task.prompt, results=results),
                     controllers.CRITIC_SCHEMA, controllers.CRITIC_EXAMPLE)):
                try:
                    s.call_json(role, messages, schema, example)
                except (TypeError, ValueError) as exc:  # the reader itself failed: a run would crash here
                    counts[role]["crash"] = counts[role].get("crash", 0) + 1
                    print(f"  {role}: {type(exc).__name__}: {exc}", file=sys.stderr)
        for f in s.failures:
            counts[f.role][f.category] = counts[f.role].get(f.category, 0) + 1
        for line in (out / task.id / "trace.jsonl").read_text().splitlines():
            event = json.loads(line)
            if event.get("event") == "repair":
                counts[event["role"]]["repairs"] += 1
        calls += s.model_calls
        tokens += s.tokens_used
        print(f"{i}/{len(tasks)} {task.id}: {[f.category + ':' + f.role for f in s.failures] or 'ok'}",
              file=sys.stderr, flush=True)
    print(json.dumps({"suite": suite.name, "tasks": len(tasks), "backend": backend.name,
                      "constrained": not args.unconstrained, "counts": counts, "model_calls": calls,
                      "tokens": tokens, "wall_s": round(time.perf_counter() - start, 1), "traces": str(out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
