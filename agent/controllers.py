"""The two controllers compared by the experiments: hierarchical (alias `hrm`) and the flat baseline.

hierarchical: planner -> for each subgoal: solver writes Python -> sandbox -> critic (submit | revise)
              -> synthesizer writes the final answer in the task's format (else the plan's).
flat:         one solver loop writing Python for the whole task, with the same tool, model and budget.

Both end with hrm_agent.outcome's verdict: an answer counts only in the requested format and derived
from a successful code RESULT; otherwise the run has no answer and says why. Both run code that defines a
function on the examples the task states for it (hrm_agent.task_examples); code that contradicts one is
not a result, and the model gets the mismatch as feedback, within the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hrm_agent.outcome import (REASONS, AnswerVerdict, fallback_answer, fill_format, judge,  # noqa: F401
                               match_format, requested_format)
from hrm_agent.parsing import extract_code
from hrm_agent.prompts import context_text, format_results, format_variables, render
from hrm_agent.schemas import Critique, Plan, example
from hrm_agent.toolkit import BudgetExhausted, Session

# The planner's and the critic's replies are generated under these pydantic models (hrm_agent.schemas).
PLAN_SCHEMA = Plan
PLAN_EXAMPLE = example(Plan)
CRITIC_SCHEMA = Critique
CRITIC_EXAMPLE = example(Critique)
SOLVER_ATTEMPTS = 2  # a failed subgoal gets one more try with the error in the prompt


def format_ok(final_format: str, answer: str) -> bool:
    """Whether `answer` (or one of its lines) is in `final_format` (see hrm_agent.outcome.match_format)."""
    return match_format(final_format, answer) is not None


def settle(outcome: dict[str, Any], verdict: AnswerVerdict | None, successes: list[Any], *,
               planner_ok: bool = True) -> None:
    """Fill the outcome's answer fields: the accepted answer, or the first reason in REASONS' order."""
    if verdict is not None and verdict.answered:
        outcome.update(final=verdict.answer, reason="", reason_detail="")
        return
    stop = outcome.get("stop_reason")
    if stop in ("timeout", "budget"):  # the limit cut the run short: that, not the last check, is why
        reason = stop
        detail = (f"the run stopped ({stop}) before an answer: {verdict.detail}" if verdict is not None and successes
                  else f"the run stopped ({stop}) before any code run succeeded")
    elif not successes and outcome.get("examples_failed"):
        reason, detail = "example_failed", REASONS["example_failed"]
    elif not successes and not planner_ok:
        reason = "planner_unreadable"
        detail = ("the planner's reply was unreadable, so the task ran as one subgoal, and no code run "
                  "succeeded")
    elif verdict is not None:
        reason, detail = verdict.reason, verdict.detail
    else:
        reason, detail = "no_successful_code", REASONS["no_successful_code"]
    outcome.update(final=None, reason=reason, reason_detail=detail)


def run_hierarchical(s: Session, task: str, context: dict[str, Any], solve: Any = None) -> dict[str, Any]:
    """Plan, solve each subgoal with code, critique, revise within budget, synthesize, and judge the answer.

    `solve` (default `solve_subgoal`) solves one subgoal; self-consistency passes one that samples K
    programs and votes (hrm_agent.voting.voted_controllers)."""
    solve = solve or solve_subgoal
    variables: dict[str, Any] = dict(context)
    outcome: dict[str, Any] = {"rounds": 0, "stop_reason": "", "final": None, "candidate": None}
    # the fallback plan (planner unreadable) keeps the task's own format, never a generic one
    plan: dict[str, Any] = {"subgoals": [task], "final_format": requested_format(task, None)}
    logs: list[dict[str, Any]] = []
    successes: list[Any] = []  # the RESULT of every successful code run, all rounds: what answers derive from
    planner_ok = True
    verdict: AnswerVerdict | None = None
    try:  # the planner's call too: the run's deadline can fall inside any model call
        got = s.call_json("planner", render(s.prompts, "planner", task=task,
                                            context=context_text(context, s.tool_help)),
                          PLAN_SCHEMA, PLAN_EXAMPLE)  # unreadable (a recorded failure): one subgoal
        if got is None:
            planner_ok = False
        else:
            plan = {"subgoals": list(got["subgoals"]),
                    "final_format": requested_format(task, got.get("final_format"))}
        for round_no in range(1, s.budget.max_rounds + 1):
            plan["subgoals"] = plan["subgoals"][: s.budget.max_subgoals]
            outcome["rounds"] = round_no
            s.trace.emit("plan", round=round_no, subgoals=plan["subgoals"], final_format=plan["final_format"],
                         **({} if planner_ok else {"fallback": True}))
            logs = []
            for index, subgoal in enumerate(plan["subgoals"], 1):
                logs.append(solve(s, task, subgoal, index, round_no, variables, successes))
            verdict_c = s.call_json("critic", render(s.prompts, "critic", task=task,
                                                     results=format_results(logs)),
                                    CRITIC_SCHEMA, CRITIC_EXAMPLE) or {"action": "submit",
                                                                       "reason": "critic unreadable"}
            s.trace.emit("critique", round=round_no, **verdict_c)
            failed = [log for log in logs if not log["ok"]]
            if verdict_c["action"] == "submit":
                if failed:
                    s.fail("verification_gap", f"critic submitted with {len(failed)} failed subgoal(s)", "critic")
                outcome["stop_reason"] = "submitted"
                break
            if round_no == s.budget.max_rounds:
                outcome["stop_reason"] = "max_rounds"
                s.fail("budget", f"critic still asked to revise after {round_no} round(s): {verdict_c['reason']}",
                       "critic")
                break
            new_plan = s.call_json("replan", render(s.prompts, "replan", task=task, results=format_results(logs),
                                                    reason=verdict_c["reason"]), PLAN_SCHEMA, PLAN_EXAMPLE)
            if new_plan is None or new_plan["subgoals"] == plan["subgoals"]:
                s.fail("plan_drift", "the revised plan is unreadable or repeats the failed one", "replan")
            else:
                plan = {"subgoals": list(new_plan["subgoals"]),
                        "final_format": requested_format(task, new_plan.get("final_format") or plan["final_format"])}
        verdict, outcome["candidate"] = _synthesize(s, task, plan, logs, successes)
    except BudgetExhausted as exc:
        s.fail(exc.category, exc.detail)
        outcome["stop_reason"] = exc.category
        verdict = fallback_answer(plan["final_format"], _final_result(plan, logs), successes)
        if verdict.answered:
            s.trace.emit("fallback_answer", answer=verdict.answer, because=exc.category)
    outcome["examples_failed"] = s.examples_failed
    settle(outcome, verdict, successes, planner_ok=planner_ok)
    outcome["answer_format"] = plan["final_format"]
    outcome["plan"] = plan
    outcome["variables"] = {k: v for k, v in variables.items() if k not in context}
    return outcome


def solver_messages(s: Session, task: str, subgoal: str, variables: dict[str, Any], feedback: str) -> list[Any]:
    """The solver's prompt for one subgoal, with the variables so far and the last attempt's feedback."""
    return render(s.prompts, "solver", task=task, subgoal=subgoal,
                  variables=format_variables(variables) + (
                      f"\nFunctions you can call: {s.tool_help}" if s.tool_help else ""),
                  feedback=feedback)


def solver_attempt(s: Session, task: str, reply: str, variables: dict[str, Any],
                   log: dict[str, Any]) -> tuple[Any, str]:
    """One solver reply run: (the execution, "") when its code ran and fits the task's examples, else
    (None, the feedback for the next attempt), with log["error"] saying what went wrong."""
    code = extract_code(reply)
    if not code:
        s.fail("tool_misuse", "the solver wrote no code", "solver")
        return None, "Your reply had no code. Reply with one ```python code block that sets RESULT."
    res = s.run_code(code, variables, "solver")
    mismatch = s.check_examples(task, code, variables, "solver") if res.ok else []
    if mismatch:  # it ran, but gives another value than the task's own example: not a result
        log["error"] = f"the code contradicts the task's example: {mismatch[0]}"
        return None, f"Your code ran, but {mismatch[0]}. Fix the function. Earlier code:\n{code[:800]}"
    if res.ok:
        return res, ""
    log["error"] = res.error or res.exit_reason
    return None, (f"Your last code failed ({res.exit_reason}): {res.error[:300]}\n"
                  f"Fix it. Earlier code:\n{code[:800]}")


def solve_subgoal(s: Session, task: str, subgoal: str, index: int, round_no: int,
                  variables: dict[str, Any], successes: list[Any]) -> dict[str, Any]:
    """Write code for one subgoal and run it, with one more try on failure; its RESULT becomes S<index>."""
    s.trace.emit("subgoal_start", round=round_no, index=index, subgoal=subgoal)
    feedback = ""
    log: dict[str, Any] = {"subgoal": subgoal, "ok": False, "result": None, "result_repr": "", "error": ""}
    for _attempt in range(SOLVER_ATTEMPTS):
        reply = s.call("solver", solver_messages(s, task, subgoal, variables, feedback))
        res, feedback = solver_attempt(s, task, reply, variables, log)
        if res is not None:
            keep_result(variables, index, res, log, successes)
            break
    end_subgoal(s, round_no, index, log)
    return log


def keep_result(variables: dict[str, Any], index: int, res: Any, log: dict[str, Any], successes: list[Any]) -> None:
    """A subgoal's successful run: its variables and RESULT (as S<index>) for the next subgoals."""
    variables.update({k: v for k, v in (res.variables or {}).items() if k != "RESULT"})
    variables[f"S{index}"] = res.result
    log.update(ok=True, result=res.result, result_repr=res.result_repr, error="")
    if res.result is not None:
        successes.append(res.result)


def end_subgoal(s: Session, round_no: int, index: int, log: dict[str, Any]) -> None:
    s.trace.emit("subgoal_end", round=round_no, index=index, ok=log["ok"], result_repr=log["result_repr"][:500],
                 error=log["error"][:500])


def _final_result(plan: dict[str, Any], logs: list[dict[str, Any]]) -> Any:
    """The RESULT of the plan's last subgoal when every subgoal of the round ran and the last succeeded
    (an earlier subgoal's value is an intermediate, never an answer); else None."""
    if len(logs) == len(plan["subgoals"]) and logs and logs[-1]["ok"]:
        return logs[-1]["result"]
    return None


def _synthesize(s: Session, task: str, plan: dict[str, Any], logs: list[dict[str, Any]],
                successes: list[Any]) -> tuple[AnswerVerdict, str | None]:
    """(the verdict, the synthesizer's text): its answer judged; an echo or an empty reply is replaced by
    the deterministic fallback (the last subgoal's RESULT in the format), which is derived by construction."""
    final_format = plan["final_format"]
    if not successes:  # nothing to derive an answer from: no model call can change that
        return AnswerVerdict(None, "no_successful_code", REASONS["no_successful_code"]), None
    messages = render(s.prompts, "synthesizer", task=task, results=format_results(logs), final_format=final_format)
    answer = s.call("synthesizer", messages, answer_format=final_format).strip()
    verdict = judge(answer, final_format, successes, prompt_texts=[task, *(m["content"] for m in messages)])
    if verdict.answered:
        return verdict, answer
    s.fail("spec_error", f"synthesizer: {verdict.detail}", "synthesizer")
    if verdict.reason in ("echo", "empty_answer"):
        fallback = fallback_answer(final_format, _final_result(plan, logs), successes)
        if fallback.answered:
            s.trace.emit("fallback_answer", answer=fallback.answer, because=verdict.reason)
            return fallback, answer
    return verdict, answer


def flat_verdict(final_format: str, result: Any) -> AnswerVerdict:
    """The flat loop's RESULT as an answer: as it is when it is in the format, else put into the format
    when it is a value (a number, a list, a string of at most three words)."""
    if isinstance(result, str):
        direct = judge(result, final_format, [result], check_echo=False)
        if direct.answered or "\n" in result.strip() or ":" in result or len(result.split()) > 3:
            return direct  # a sentence is not a value: only a bare one is put into the format
    return fallback_answer(final_format, result, [result])


@dataclass
class FlatLoop:
    """One flat solver loop's progress: the feedback for its next attempt, its verdict so far, the
    candidate answer, the RESULTs of its successful runs, and whether it has an answer."""

    feedback: str = ""
    verdict: AnswerVerdict | None = None
    candidate: Any = None
    successes: list[Any] = field(default_factory=list)
    done: bool = False


def flat_messages(s: Session, task: str, context: dict[str, Any], feedback: str) -> list[Any]:
    return render(s.prompts, "flat", task=task, context=context_text(context, s.tool_help), feedback=feedback)


def flat_attempt(s: Session, task: str, context: dict[str, Any], fmt: str, loop: FlatLoop, reply: str) -> None:
    """One flat reply: run its code; a RESULT in (or put into) the format ends the loop, anything else
    becomes the next attempt's feedback."""
    code = extract_code(reply)
    if "```" not in reply and reply.strip():
        s.fail("tool_misuse", "answered without running code", "flat")
        loop.candidate = reply.strip()
        loop.verdict = AnswerVerdict(None, "no_successful_code", "the model answered without running code")
        loop.feedback = "Your reply had no code. Reply with one ```python code block that sets RESULT."
        return
    res = s.run_code(code, dict(context), "flat")
    mismatch = s.check_examples(task, code, dict(context), "flat") if res.ok else []
    if mismatch:  # it ran, but gives another value than the task's own example: not an answer
        loop.verdict = AnswerVerdict(None, "example_failed", f"the code contradicts the task's example: {mismatch[0]}")
        loop.feedback = f"Your code ran, but {mismatch[0]}. Fix the function. Earlier code:\n{code[:800]}"
        return
    if res.ok and res.result is not None:
        loop.successes.append(res.result)
        loop.candidate = res.result if isinstance(res.result, str) else res.result_repr
        loop.verdict = flat_verdict(fmt, res.result)
        if loop.verdict.answered:
            loop.done = True
            return
        s.fail("spec_error", f"flat: {loop.verdict.detail}", "flat")
        loop.feedback = (f"Your RESULT was {res.result_repr[:200]}, but the answer must be exactly in the format "
                         f"{fmt!r}. Fix it. Earlier code:\n{code[:800]}")
        return
    error = res.error or ("RESULT was not set" if res.ok else res.exit_reason)
    loop.feedback = f"Your last code failed: {error[:300]}\nFix it. Earlier code:\n{code[:800]}"


def run_flat(s: Session, task: str, context: dict[str, Any]) -> dict[str, Any]:
    """One solver loop: write code for the whole task, run it, retry with the error, within budget; the
    answer is the RESULT of a successful run, in the requested format."""
    attempts = s.budget.max_rounds * SOLVER_ATTEMPTS
    fmt = requested_format(task, None)
    outcome: dict[str, Any] = {"rounds": 0, "stop_reason": "max_rounds", "final": None, "candidate": None}
    loop = FlatLoop()
    try:
        for attempt in range(1, attempts + 1):
            outcome["rounds"] = attempt
            reply = s.call("flat", flat_messages(s, task, context, loop.feedback))
            flat_attempt(s, task, context, fmt, loop, reply)
            if loop.done:
                outcome["stop_reason"] = "submitted"
                break
        else:
            s.fail("budget", f"no working code after {attempts} attempts", "flat")
    except BudgetExhausted as exc:
        s.fail(exc.category, exc.detail)
        outcome["stop_reason"] = exc.category
    outcome["candidate"] = loop.candidate
    outcome["examples_failed"] = s.examples_failed
    settle(outcome, loop.verdict, loop.successes)
    outcome["answer_format"] = fmt
    return outcome


CONTROLLERS = {"hierarchical": run_hierarchical, "flat": run_flat}
CONTROLLER_ALIASES = {"hrm": "hierarchical"}  # the old name: configs, commands and bench runs that use it work


def controller_name(name: str) -> str:
    """The canonical name of a controller (`hrm` -> `hierarchical`); unknown names are returned as given."""
    key = str(name).strip()
    return CONTROLLER_ALIASES.get(key, key)
