"""The controllers with K sampled programs that vote (`--samples K`; docs/agent-voting.md): the answer stands
only when the winning value has at least `min_agreement` of the K votes, else the run has no answer
(`no_agreement`) and says how the votes fell.

flat:         K flat programs, one batched call; the answers of those that answered vote.
hierarchical: one plan, critic and synthesizer as with K = 1; each subgoal's code is sampled K times and the
              RESULTs vote; the run goes on with the leading value, and its answer stands only when every
              subgoal of the final round that produced a value had enough agreement (the weakest link).

A sample is one program, not retried: the vote needs min_agreement of K, not one that works (measured: on the
probe set no retry changed a vote's outcome, while retry batches, whose prompts quote the failed code, ran to
the token limit). A vote is settled when the samples still generating cannot change its outcome (the leader has
min_agreement votes and more than the runner-up could reach, or no value can reach min_agreement any more):
then those samples are stopped (on the local model).
"""

from __future__ import annotations

from typing import Any

from hrm_agent.controllers import (FlatLoop, end_subgoal, flat_attempt, flat_messages, keep_result,
                                   requested_format, run_hierarchical, settle, solver_attempt, solver_messages)
from hrm_agent.outcome import AnswerVerdict, match_format
from hrm_agent.toolkit import BudgetExhausted, Session
from hrm_agent.voting.ballot import Vote, vote


def settled(v: Vote, pending: int) -> bool:
    """Whether the `pending` samples that could still give a value can no longer change the outcome: the
    leader is decided (it has min_agreement votes and more than the runner-up could reach), or no value can
    reach min_agreement any more."""
    top = v.groups[0].votes if v.groups else 0
    second = v.groups[1].votes if len(v.groups) > 1 else 0
    return (top >= v.min_agreement and top > second + pending) or top + pending < v.min_agreement


def _answer_value(fmt: str, answer: str | None) -> Any:
    """What a flat loop's answer votes with: its placeholder values (one, or a list for several)."""
    if answer is None:
        return None
    matched = match_format(fmt, answer)
    values = matched[1] if matched else [answer]
    return values[0] if len(values) == 1 else values


def voting_summary(v: Vote, decided_by: str) -> dict[str, Any]:
    """result.json's `voting` object (docs/agent-trace.md)."""
    return {**v.as_dict(), "decided_by": decided_by}


def run_flat_voted(s: Session, task: str, context: dict[str, Any]) -> dict[str, Any]:
    """K flat programs from one batched call (one prompt: one prefill); the answered ones' values vote."""
    k, need = s.sampling.samples, s.sampling.min_agreement
    fmt = requested_format(task, None)
    outcome: dict[str, Any] = {"rounds": 1, "stop_reason": "max_rounds", "final": None, "candidate": None}
    loops = [FlatLoop() for _ in range(k)]
    replied: set[int] = set()

    def tally() -> Vote:
        return vote([_answer_value(fmt, lp.verdict.answer) if lp.done and lp.verdict else None for lp in loops],
                    need)

    def on_reply(j: int, reply: str) -> bool:
        flat_attempt(s, task, context, fmt, loops[j], reply)
        replied.add(j)
        return settled(tally(), k - len(replied))

    try:
        s.call_samples("flat", [flat_messages(s, task, context, "") for _ in range(k)], on_reply=on_reply)
        if not any(lp.done for lp in loops):
            s.fail("budget", f"no working code in any of the {k} samples", "flat")
    except BudgetExhausted as exc:
        s.fail(exc.category, exc.detail)
        outcome["stop_reason"] = exc.category
    v = tally()
    s.trace.emit("vote", role="flat", **v.as_dict())
    successes = [r for lp in loops for r in lp.successes]
    lead = v.leader
    if lead is None:  # no program answered: the first one's reason, as with one sample
        verdict = next((lp.verdict for lp in loops if lp.verdict is not None), None)
        outcome["candidate"] = next((lp.candidate for lp in loops if lp.candidate is not None), None)
    else:
        chosen = loops[lead.members[0]]
        outcome["candidate"] = chosen.verdict.answer if chosen.verdict else None
        if v.agreed:
            verdict = chosen.verdict
            if outcome["stop_reason"] == "max_rounds":
                outcome["stop_reason"] = "submitted"
        else:
            verdict = AnswerVerdict(None, "no_agreement", _disagreement(v))
        outcome["voting"] = voting_summary(v, "answer")
    outcome["examples_failed"] = s.examples_failed
    settle(outcome, verdict, successes)
    outcome["answer_format"] = fmt
    return outcome


def _disagreement(v: Vote, where: str = "") -> str:
    need = f"{v.min_agreement} of {v.samples}"
    lead = (f"the leading value has {v.groups[0].votes}" if v.groups and not v.tied
            else "no value leads alone" if v.groups else "no value")
    return f"{where}the samples do not agree ({lead}; {need} needed): {v.summary()}"


def run_hierarchical_voted(s: Session, task: str, context: dict[str, Any]) -> dict[str, Any]:
    """The hierarchical controller with each subgoal's code sampled K times and voted; the answer stands
    when each subgoal of the final round that has a value has at least min_agreement votes."""
    votes: list[tuple[int, int, Vote]] = []  # (round, subgoal index, its vote)

    def solve(s: Session, task: str, subgoal: str, index: int, round_no: int, variables: dict[str, Any],
              successes: list[Any]) -> dict[str, Any]:
        log, v = solve_subgoal_voted(s, task, subgoal, index, round_no, variables, successes)
        votes.append((round_no, index, v))
        return log

    outcome = run_hierarchical(s, task, context, solve=solve)
    last = max((r for r, _, _ in votes), default=0)
    final_round = [(i, v) for r, i, v in votes if r == last and v.groups] or [
        (i, v) for _, i, v in votes if v.groups]  # an answer from an earlier round's values: theirs
    if not final_round:
        return outcome
    index, weakest = min(final_round, key=lambda iv: (iv[1].agreement, iv[0]))
    outcome["voting"] = voting_summary(weakest, f"subgoal {index}")
    outcome["voting"]["subgoals"] = {str(i): v.agreement for i, v in final_round}
    if outcome.get("final") and not weakest.agreed:
        outcome.update(candidate=outcome["final"], final=None, reason="no_agreement",
                       reason_detail=_disagreement(weakest, f"subgoal {index}: "))
    return outcome


def solve_subgoal_voted(s: Session, task: str, subgoal: str, index: int, round_no: int,
                        variables: dict[str, Any], successes: list[Any]) -> tuple[dict[str, Any], Vote]:
    """K programs for one subgoal from one batched call; their RESULTs vote, and the leading value becomes
    S<index>."""
    k, need = s.sampling.samples, s.sampling.min_agreement
    s.trace.emit("subgoal_start", round=round_no, index=index, subgoal=subgoal)
    logs = [{"subgoal": subgoal, "ok": False, "result": None, "result_repr": "", "error": ""} for _ in range(k)]
    runs: list[Any] = [None] * k
    replied: set[int] = set()

    def tally() -> Vote:
        return vote([r.result if r is not None else None for r in runs], need)

    def on_reply(i: int, reply: str) -> bool:
        runs[i], _ = solver_attempt(s, task, reply, dict(variables), logs[i])
        replied.add(i)
        return settled(tally(), k - len(replied))

    s.call_samples("solver", [solver_messages(s, task, subgoal, variables, "") for _ in range(k)],
                   on_reply=on_reply)
    v = tally()
    s.trace.emit("vote", role="solver", round=round_no, index=index, **v.as_dict())
    ran = [i for i in range(k) if runs[i] is not None]
    pick = v.leader.members[0] if v.leader else (ran[0] if ran else None)  # a run without RESULT: no vote
    log = logs[pick] if pick is not None else next((lg for lg in logs if lg["error"]), logs[0])
    if pick is not None:
        keep_result(variables, index, runs[pick], log, successes)
    end_subgoal(s, round_no, index, log)
    return log, v


VOTED_CONTROLLERS = {"hierarchical": run_hierarchical_voted, "flat": run_flat_voted}
