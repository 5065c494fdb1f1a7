"""Self-consistency (issue 32): K sampled programs vote, the answer stands only with enough agreement.

Runs against the scripted OpenAI-compatible server on 127.0.0.1 with the real sandbox; each sampled reply
is chosen by the request's `seed`, so which sample said what does not depend on the order requests arrive.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_llm_server import FakeLLMServer

from hrm_agent.backends.http import make_backend
from hrm_agent.errors import AgentError
from hrm_agent.outcome import REASONS
from hrm_agent.runner import run_agent
from hrm_agent.trace import read_trace
from hrm_agent.trace_check import load_trace
from hrm_engine.config import resolve_config

TASK = "What is 17 * 23? Return exactly: 'Answer: <number>'."
PLAN = '{"subgoals": ["multiply 17 by 23"], "final_format": "Answer: <number>"}'
SUBMIT = '{"action": "submit", "reason": "done"}'


def code(expr: str) -> str:
    return f"```python\nRESULT = {expr}\n```"


AGREE = [code("17 * 23"), code("391.0"), code("' 391 '")]
DISAGREE = [code("240 * 35"), code("17 + 23"), code("625")]


def _role(req) -> str:
    system = req.messages[0]["content"] if req.messages else ""
    for role, mark in (("planner", "You are the planner"), ("critic", "You are the critic"),
                       ("synthesizer", "You give the final answer"), ("solver", "You write Python"),
                       ("flat", "You solve tasks")):
        if mark in system:
            return role
    return "?"


def by_seed(samples: list[str], rest: dict[str, str] | None = None):
    """A script item answering sampled requests by their seed (seed i -> samples[i % K]) and the others
    (planner, critic, synthesizer, at temperature 0) from `rest` by role."""
    def answer(req):
        body = req.body or {}
        if "seed" in body:
            return samples[int(body["seed"]) % len(samples)]
        return (rest or {})[_role(req)]
    return answer


def _run(server, tmp_path: Path, *overrides: str, task: str = TASK, run_id: str | None = None):
    cfg = resolve_config("agent", None, [f"runs_dir={tmp_path / 'runs'}", "sandbox.wall_s=10", *overrides])
    backend = make_backend("openai", base_url=server.url, model="fake-model", retries=0, timeout=10)
    return run_agent(cfg, task, backend=backend, run_id=run_id)


def _events(result, name):
    return [e for e in read_trace(result["trace"]) if e["event"] == name]


def test_flat_samples_that_agree_on_391_written_three_ways_answer(fake_llm, tmp_path):
    fake_llm.script([], default=by_seed(AGREE))
    result = _run(fake_llm, tmp_path, "controller=flat", "samples=3")
    assert result["status"] == "answered" and result["final"] == "Answer: 391", result
    (v,) = _events(result, "vote")
    assert v["role"] == "flat" and v["samples"] == 3 and v["min_agreement"] == 2
    assert v["counts"] == [{"value": "391", "votes": 3, "samples": [0, 1, 2]}] and v["agreed"] is True
    assert result["voting"]["agreement"] == 3 and result["voting"]["decided_by"] == "answer"
    calls = _events(result, "model_call")
    assert sorted(c["seed"] for c in calls) == [0, 1, 2] and {c["batch"] for c in calls} == {3}
    bodies = [r.body for r in fake_llm.chat_requests]
    assert all(b["temperature"] == 0.7 for b in bodies)  # sample_temperature, not the greedy 0
    load_trace(result["trace"])  # the vote event passes the trace check


def test_flat_samples_that_disagree_give_no_answer_with_the_vote_counts(fake_llm, tmp_path):
    fake_llm.script([], default=by_seed(DISAGREE))
    result = _run(fake_llm, tmp_path, "controller=flat", "samples=3")
    assert result["status"] == "no_answer" and result["final"] is None
    assert result["reason"] == "no_agreement" and "no_agreement" in REASONS
    assert "of 3 samples: 1 gave 8400; 1 gave 40; 1 gave 625" in result["reason_detail"]
    assert result["candidate"] == "Answer: 8400"  # what it would have answered, kept for the bench's curve
    (v,) = _events(result, "vote")
    assert [c["votes"] for c in v["counts"]] == [1, 1, 1] and v["winner"] is None and v["agreement"] == 0
    (final,) = _events(result, "final")
    assert final["reason"] == "no_agreement" and final["answer"] is None
    saved = json.loads((Path(result["trace"]).parent / "result.json").read_text())
    assert saved["voting"]["counts"] == v["counts"] and saved["reason"] == "no_agreement"


def test_two_of_three_agree_by_default_but_not_at_min_agreement_3(fake_llm, tmp_path):
    two = [code("391"), code("17 * 23"), code("390")]
    fake_llm.script([], default=by_seed(two))
    assert _run(fake_llm, tmp_path, "controller=flat", "samples=3")["final"] == "Answer: 391"
    fake_llm.script([], default=by_seed(two))
    strict = _run(fake_llm, tmp_path, "controller=flat", "samples=3", "min_agreement=3")
    assert strict["reason"] == "no_agreement" and strict["voting"]["agreement"] == 2


def test_a_failed_sample_is_not_retried_and_votes_for_nothing(fake_llm, tmp_path):
    broken = "```python\nRESULT = 17 *\n```"
    fake_llm.script([], default=by_seed([code("391"), broken, broken, code("391")]))
    result = _run(fake_llm, tmp_path, "controller=flat", "samples=3")
    assert result["reason"] == "no_agreement" and len(fake_llm.chat_requests) == 3  # seeds 0, 1, 2 only
    assert not [r for r in fake_llm.chat_requests if "Your last code failed" in r.last_user]
    (v,) = _events(result, "vote")
    assert v["counts"] == [{"value": "391", "votes": 1, "samples": [0]}] and v["no_value"] == 2
    assert "of 3 samples: 1 gave 391; 2 no value" in result["reason_detail"]


def test_a_server_that_honours_n_gets_one_request(tmp_path):
    with FakeLLMServer(honours_n=True) as server:
        server.script(AGREE)
        result = _run(server, tmp_path, "controller=flat", "samples=3")
        assert result["final"] == "Answer: 391"
        (req,) = server.chat_requests
        assert req.body["n"] == 3 and req.body["seed"] == 0
        calls = _events(result, "model_call")
        assert [c.get("shared_prefill", False) for c in calls] == [False, True, True]
        assert result["prompt_tokens"] == calls[0]["prompt_tokens"]  # the prompt counted once


def test_hierarchical_votes_per_subgoal(fake_llm, tmp_path):
    rest = {"planner": PLAN, "critic": SUBMIT, "synthesizer": "Answer: 391"}
    fake_llm.script([], default=by_seed(AGREE, rest))
    result = _run(fake_llm, tmp_path, "samples=3")
    assert result["status"] == "answered" and result["final"] == "Answer: 391"
    (v,) = _events(result, "vote")
    assert (v["role"], v["round"], v["index"], v["agreement"]) == ("solver", 1, 1, 3)
    assert result["voting"]["decided_by"] == "subgoal 1" and result["voting"]["subgoals"] == {"1": 3}
    roles = [_role(r) for r in fake_llm.chat_requests]
    assert roles.count("solver") == 3 and roles.count("planner") == roles.count("synthesizer") == 1
    assert all("seed" not in r.body for r in fake_llm.chat_requests if _role(r) != "solver")


def test_hierarchical_disagreement_is_no_agreement_with_the_would_be_answer(fake_llm, tmp_path):
    rest = {"planner": PLAN, "critic": SUBMIT, "synthesizer": "Answer: 8400"}
    fake_llm.script([], default=by_seed(DISAGREE, rest))
    result = _run(fake_llm, tmp_path, "samples=3")
    assert result["status"] == "no_answer" and result["reason"] == "no_agreement"
    assert result["reason_detail"].startswith("subgoal 1: the samples do not agree")
    assert result["candidate"] == "Answer: 8400" and result["voting"]["agreement"] == 0
    # only the leading value is a result to derive from: the synthesizer could not pick a minority value
    assert _events(result, "subgoal_end")[0]["result_repr"] == "8400"


def _shape(result):
    """The trace without times, ids and paths: what must not change at K = 1."""
    drop = {"seq", "time", "elapsed_s", "latency_s", "duration_s", "run_id", "config", "wall_s", "trace", "stdout",
            "stderr"}
    return [{k: v for k, v in e.items() if k not in drop} for e in read_trace(result["trace"])]


@pytest.mark.parametrize("controller", ["flat", "hierarchical"])
def test_samples_1_is_todays_run(fake_llm, tmp_path, controller):
    rest = {"planner": PLAN, "critic": SUBMIT, "synthesizer": "Answer: 391", "solver": code("17 * 23"),
            "flat": code("17 * 23")}
    fake_llm.script([], default=lambda req: rest[_role(req)])
    before = _run(fake_llm, tmp_path, f"controller={controller}", run_id="before")
    bodies_before = [r.body for r in fake_llm.chat_requests]
    fake_llm.clear_requests()
    after = _run(fake_llm, tmp_path, f"controller={controller}", "samples=1", "min_agreement=1", run_id="after")
    assert [r.body for r in fake_llm.chat_requests] == bodies_before
    assert all("seed" not in b and "n" not in b for b in bodies_before)
    assert _shape(after) == _shape(before) and "voting" not in after and not _events(after, "vote")
    assert after["final"] == before["final"] == "Answer: 391"


@pytest.mark.parametrize("overrides, message", [
    (["samples=0"], "--samples must be between 1 and 64, got 0"),
    (["min_agreement=2"], r"--min-agreement 2 needs --samples 2 or more \(got --samples 1\)"),
    (["samples=3", "min_agreement=4"], "--min-agreement 4 is more than the 3 samples"),
])
def test_bad_settings_stop_before_any_call(fake_llm, tmp_path, overrides, message):
    with pytest.raises(AgentError, match=message):
        _run(fake_llm, tmp_path, *overrides)
    assert fake_llm.chat_requests == []


# -- the CLI: exit codes and one-line errors ---------------------------------------------------------------

def _cli(run_hrm, server, tmp_path, *args):
    return run_hrm("agent", "run", TASK, "--backend", "openai", "--base-url", server.url, "--model", "fake-model",
                   "--controller", "flat", *args, f"runs_dir={tmp_path / 'runs'}", "retries=0")


def test_cli_agreeing_samples_answer_with_exit_0(fake_llm, tmp_path, run_hrm):
    fake_llm.script([], default=by_seed(AGREE))
    proc = _cli(run_hrm, fake_llm, tmp_path, "--samples", "3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Answer: 391"
    assert "votes (answer): 3 of 3 agree (2 needed): 391 x3" in proc.stderr


def test_cli_disagreeing_samples_give_no_answer_with_exit_1(fake_llm, tmp_path, run_hrm):
    fake_llm.script([], default=by_seed(DISAGREE))
    proc = _cli(run_hrm, fake_llm, tmp_path, "--samples", "3", "--verbose")
    assert proc.returncode == 1 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert "no answer (no_agreement): the samples do not agree" in proc.stderr
    assert "vote 0 of 3 agree (2 needed, not met): 8400 x1, 40 x1, 625 x1" in proc.stderr
    show = run_hrm("agent", "show", str(next((tmp_path / "runs").iterdir())))
    assert show.returncode == 0 and "vote 0 of 3 agree (2 needed): 8400 x1, 40 x1, 625 x1" in show.stdout


@pytest.mark.parametrize("args, message", [
    (["--samples", "0"], "--samples must be between 1 and 64, got 0"),
    (["--min-agreement", "2"], "--min-agreement 2 needs --samples 2 or more (got --samples 1)"),
    (["--samples", "1", "--min-agreement", "2"], "--min-agreement 2 needs --samples 2 or more (got --samples 1)"),
    (["--samples", "3", "--min-agreement", "4"], "--min-agreement 4 is more than the 3 samples"),
])
def test_cli_bad_values_are_one_line_and_exit_2(fake_llm, tmp_path, run_hrm, args, message):
    proc = _cli(run_hrm, fake_llm, tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert fake_llm.chat_requests == []


def test_cli_bench_bad_values_exit_2(run_hrm, tmp_path):
    proc = run_hrm("agent", "bench", "--suite", "math", "--samples", "2", "--min-agreement", "3",
                   "--runs-dir", str(tmp_path))
    assert proc.returncode == 2 and "--min-agreement 3 is more than the 2 samples" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def test_trace_check_requires_the_vote_fields_show_reads(tmp_path):
    trace = tmp_path / "trace.jsonl"
    trace.write_text(json.dumps({"seq": 0, "event": "vote", "samples": 3, "min_agreement": 2, "counts": []}) + "\n")
    with pytest.raises(AgentError, match="event 'vote' needs 'agreement' \\(a number\\)"):
        load_trace(trace)


class BatchScript:
    """A backend whose `chat_samples` hands replies over one by one as they 'finish' (the local model's
    protocol, agent/backends/mlx_backend.py) and stops when told to: the rest come back `cut`."""

    name, model = "scripted-batch", "scripted"

    def __init__(self, by_seed: list[str], other: dict[str, str]) -> None:
        self.by_seed, self.other, self.batches = by_seed, other, []

    def chat(self, messages, **kw):
        from hrm_agent.backends.chat import ChatResult

        return ChatResult(self.other[_role_of(messages)], 10, 5, 0.01, self.model)

    def chat_samples(self, conversations, *, seeds, on_result=None, **kw):
        from hrm_agent.backends.chat import ChatResult

        self.batches.append(list(seeds))
        out, stopped = [], False
        for i, seed in enumerate(seeds):
            if stopped:
                out.append(ChatResult("```python\nRESULT =", 10, 2, 0.01, self.model, finish_reason="cut"))
                continue
            out.append(ChatResult(self.by_seed[seed % len(self.by_seed)], 10, 5, 0.01, self.model))
            stopped = bool(on_result(i, out[-1])) if on_result else False
        return out


def _role_of(messages):
    system = messages[0]["content"]
    return next(role for role, mark in (("planner", "You are the planner"), ("critic", "You are the critic"),
                                        ("synthesizer", "You give the final answer")) if mark in system)


def test_a_settled_vote_cuts_the_samples_still_generating(tmp_path):
    backend = BatchScript([code("391"), code("17 * 23"), code("391.0"), code("1"), code("2")],
                          {"planner": PLAN, "critic": SUBMIT, "synthesizer": "Answer: 391"})
    cfg = resolve_config("agent", None, [f"runs_dir={tmp_path / 'runs'}", "sandbox.wall_s=10", "samples=5"])
    result = run_agent(cfg, TASK, backend=backend)
    assert result["final"] == "Answer: 391" and backend.batches == [[0, 1, 2, 3, 4]]
    calls = [e for e in read_trace(result["trace"]) if e["event"] == "model_call" and e["role"] == "solver"]
    assert [c["finish_reason"] for c in calls] == ["stop"] * 3 + ["cut"] * 2
    assert len([e for e in read_trace(result["trace"]) if e["event"] == "exec"]) == 3  # cut code never runs
    (v,) = _events(result, "vote")
    assert v["counts"][0]["votes"] == 3 and v["no_value"] == 2


def test_a_hopeless_vote_stops_too(tmp_path):
    backend = BatchScript([code("1"), code("2"), code("3"), code("4"), code("5")],
                          {"planner": PLAN, "critic": SUBMIT, "synthesizer": "Answer: 1"})
    cfg = resolve_config("agent", None, [f"runs_dir={tmp_path / 'runs'}", "sandbox.wall_s=10", "samples=5"])
    result = run_agent(cfg, TASK, backend=backend)
    # after 1, 2, 3 the two samples left could still make 1 + 2 = 3 votes; after 1, 2, 3, 4 the last one can
    # bring a value to 2 at most (< 3): it is cut
    assert result["reason"] == "no_agreement" and backend.batches == [[0, 1, 2, 3, 4]]
    (v,) = _events(result, "vote")
    assert [c["votes"] for c in v["counts"]] == [1, 1, 1, 1] and v["no_value"] == 1
