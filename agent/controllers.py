"""The two controllers compared by the experiments: hierarchical (`hrm`) and the flat baseline.

hrm:  planner -> for each subgoal: solver writes Python -> sandbox -> critic (submit | revise)
      -> synthesizer writes the final answer in the format the plan asked for.
flat: one solver loop writing Python for the whole task, with the same tool, model and budget.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hrm_agent.parsing import extract_code
from hrm_agent.prompts import render
from hrm_agent.session import BudgetExhausted, Session

PLAN_SCHEMA = {
    "subgoals": {"type": "list", "items": "str", "min_items": 1},
    "final_format": {"type": "str", "default": "Answer: <value>"},
}
PLAN_EXAMPLE = '{"subgoals": ["compute x", "compute y from x"], "final_format": "Answer: <y>"}'
CRITIC_SCHEMA = {"action": {"type": "str", "enum": ["submit", "revise"]}, "reason": {"type": "str", "default": ""}}
CRITIC_EXAMPLE = '{"action": "submit", "reason": "all results look right"}'
SOLVER_ATTEMPTS = 2  # a failed subgoal gets one more try with the error in the prompt


def _format_variables(variables: dict[str, Any], limit: int = 600) -> str:
    if not variables:
        return "none"
    parts = []
    for k, v in variables.items():
        text = json.dumps(v, default=repr)
        parts.append(f"{k} = {text[:160] + '...' if len(text) > 160 else text}")
    out = "; ".join(parts)
    return out[:limit]


def _format_results(logs: list[dict[str, Any]]) -> str:
    lines = []
    for i, log in enumerate(logs, 1):
        if log["ok"]:
            lines.append(f"{i}. {log['subgoal']} -> {log['result_repr'][:300]}")
        else:
            lines.append(f"{i}. {log['subgoal']} -> FAILED: {log['error'][:200]}")
    return "\n".join(lines) or "none"


def _context_text(context: dict[str, Any], tool_help: str = "") -> str:
    text = f"Given variables: {_format_variables(context)}" if context else ""
    return f"{text}\nFunctions you can call: {tool_help}".strip() if tool_help else text


def fill_format(final_format: str, value: Any) -> str:
    """`Answer: <liters>` with RESULT -> `Answer: 1279.2`: the deterministic fallback answer."""
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    filled, n = re.subn(r"<[^<>]+>", lambda _m: text, final_format, count=1)
    return filled if n else text


def format_ok(final_format: str, answer: str) -> bool:
    """The literal text before the first <placeholder> (e.g. `Answer:`) is where it should be."""
    prefix = final_format.split("<", 1)[0].strip().strip("'\"")
    return not prefix or prefix.lower() in answer.lower()


def run_hierarchical(s: Session, task: str, context: dict[str, Any]) -> dict[str, Any]:
    """Plan, solve each subgoal with code, critique, revise within budget, synthesize."""
    variables: dict[str, Any] = dict(context)
    outcome: dict[str, Any] = {"rounds": 0, "stop_reason": "", "final": None}
    plan: dict[str, Any] = {"subgoals": [task], "final_format": "Answer: <value>"}
    logs: list[dict[str, Any]] = []
    try:  # the planner's call too: the run's deadline can fall inside any model call
        plan = s.call_json("planner", render(s.prompts, "planner", task=task,
                                             context=_context_text(context, s.tool_help)),
                           PLAN_SCHEMA, PLAN_EXAMPLE) or plan  # unreadable (a recorded failure): one subgoal
        for round_no in range(1, s.budget.max_rounds + 1):
            plan["subgoals"] = plan["subgoals"][: s.budget.max_subgoals]
            outcome["rounds"] = round_no
            s.trace.emit("plan", round=round_no, subgoals=plan["subgoals"], final_format=plan["final_format"])
            logs = []
            for index, subgoal in enumerate(plan["subgoals"], 1):
                logs.append(_solve_subgoal(s, task, subgoal, index, round_no, variables))
            verdict = s.call_json("critic", render(s.prompts, "critic", task=task, results=_format_results(logs)),
                                  CRITIC_SCHEMA, CRITIC_EXAMPLE) or {"action": "submit", "reason": "critic unreadable"}
            s.trace.emit("critique", round=round_no, **verdict)
            failed = [log for log in logs if not log["ok"]]
            if verdict["action"] == "submit":
                if failed:
                    s.fail("verification_gap", f"critic submitted with {len(failed)} failed subgoal(s)", "critic")
                outcome["stop_reason"] = "submitted"
                break
            if round_no == s.budget.max_rounds:
                outcome["stop_reason"] = "max_rounds"
                s.fail("budget", f"critic still asked to revise after {round_no} round(s): {verdict['reason']}",
                       "critic")
                break
            new_plan = s.call_json("replan", render(s.prompts, "replan", task=task, results=_format_results(logs),
                                                    reason=verdict["reason"]), PLAN_SCHEMA, PLAN_EXAMPLE)
            if new_plan is None or new_plan["subgoals"] == plan["subgoals"]:
                s.fail("plan_drift", "the revised plan is unreadable or repeats the failed one", "replan")
            else:
                plan = {"subgoals": new_plan["subgoals"],
                        "final_format": new_plan.get("final_format") or plan["final_format"]}
        outcome["final"] = _synthesize(s, task, plan["final_format"], logs)
    except BudgetExhausted as exc:
        s.fail(exc.category, exc.detail)
        outcome["stop_reason"] = exc.category
        outcome["final"] = _fallback_answer(plan["final_format"], logs)
    outcome["plan"] = plan
    outcome["variables"] = {k: v for k, v in variables.items() if k not in context}
    return outcome


def _solve_subgoal(s: Session, task: str, subgoal: str, index: int, round_no: int,
                   variables: dict[str, Any]) -> dict[str, Any]:
    s.trace.emit("subgoal_start", round=round_no, index=index, subgoal=subgoal)
    feedback = ""
    log: dict[str, Any] = {"subgoal": subgoal, "ok": False, "result": None, "result_repr": "", "error": ""}
    for _attempt in range(SOLVER_ATTEMPTS):
        reply = s.call("solver", render(s.prompts, "solver", task=task, subgoal=subgoal,
                                        variables=_format_variables(variables) + (
                                            f"\nFunctions you can call: {s.tool_help}" if s.tool_help else ""),
                                        feedback=feedback))
        code = extract_code(reply)
        if not code:
            s.fail("tool_misuse", "the solver wrote no code", "solver")
            feedback = "Your reply had no code. Reply with one ```python code block that sets RESULT."
            continue
        res = s.run_code(code, variables, "solver")
        if res.ok:
            variables.update({k: v for k, v in (res.variables or {}).items() if k != "RESULT"})
            variables[f"S{index}"] = res.result
            log.update(ok=True, result=res.result, result_repr=res.result_repr, error="")
            break
        log["error"] = res.error or res.exit_reason
        feedback = (f"Your last code failed ({res.exit_reason}): {res.error[:300]}\n"
                    f"Fix it. Earlier code:\n{code[:800]}")
    s.trace.emit("subgoal_end", round=round_no, index=index, ok=log["ok"], result_repr=log["result_repr"][:500],
                 error=log["error"][:500])
    return log


def _synthesize(s: Session, task: str, final_format: str, logs: list[dict[str, Any]]) -> str | None:
    answer = s.call("synthesizer", render(s.prompts, "synthesizer", task=task, results=_format_results(logs),
                                          final_format=final_format)).strip()
    if not answer:
        s.fail("spec_error", "the synthesizer gave an empty answer", "synthesizer")
        return _fallback_answer(final_format, logs)
    if not format_ok(final_format, answer):
        s.fail("spec_error", f"the answer does not follow the format {final_format!r}", "synthesizer")
    return answer


def _fallback_answer(final_format: str, logs: list[dict[str, Any]]) -> str | None:
    """Without a synthesizer answer: the last successful subgoal's RESULT in the planned format."""
    done = [log for log in logs if log["ok"]]
    return fill_format(final_format, done[-1]["result"]) if done else None


def run_flat(s: Session, task: str, context: dict[str, Any]) -> dict[str, Any]:
    """One solver loop: write code for the whole task, run it, retry with the error, within budget."""
    attempts = s.budget.max_rounds * SOLVER_ATTEMPTS
    outcome: dict[str, Any] = {"rounds": 0, "stop_reason": "max_rounds", "final": None}
    feedback = ""
    try:
        for attempt in range(1, attempts + 1):
            outcome["rounds"] = attempt
            reply = s.call("flat", render(s.prompts, "flat", task=task, context=_context_text(context, s.tool_help),
                                          feedback=feedback))
            code = extract_code(reply)
            if "```" not in reply and reply.strip():
                s.fail("tool_misuse", "answered without running code", "flat")
                outcome.update(final=reply.strip(), stop_reason="answered")
                break
            res = s.run_code(code, dict(context), "flat")
            if res.ok and res.result is not None:
                answer = res.result if isinstance(res.result, str) else json.dumps(res.result, default=repr)
                outcome.update(final=answer, stop_reason="submitted")
                break
            error = res.error or ("RESULT was not set" if res.ok else res.exit_reason)
            feedback = f"Your last code failed: {error[:300]}\nFix it. Earlier code:\n{code[:800]}"
        else:
            s.fail("budget", f"no working code after {attempts} attempts", "flat")
    except BudgetExhausted as exc:
        s.fail(exc.category, exc.detail)
        outcome["stop_reason"] = exc.category
    return outcome


CONTROLLERS = {"hrm": run_hierarchical, "flat": run_flat}
