"""One deadline for everything the agent waits on, against a real HTTP server on 127.0.0.1.

The servers misbehave the ways real ones do: one drips a byte a second (every per-read timeout stays
happy), one accepts and never answers, one sends a 10 MB reply claiming 10 tokens. The run's wall budget
must cut each model call, a runaway reply must be capped and counted from what arrived, and the trace
must stay small and readable.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fake_llm_server import FakeLLMServer

from hrm_agent.backends.http import MAX_CHARS_PER_TOKEN, MAX_REPLY_BYTES, OllamaBackend, OpenAIBackend
from hrm_agent.errors import BackendError, DeadlineExceeded, ReplyTooLarge
from hrm_agent.runner import run_agent
from hrm_agent.trace import TEXT_LIMIT, TraceWriter, read_trace
from hrm_engine.config import resolve_config

MSGS = [{"role": "user", "content": "What is 6 * 7?"}]
BACKENDS = {"openai": OpenAIBackend, "ollama": OllamaBackend}
SLACK = 5.0  # seconds past a deadline a cut call may take: thread hand-off on a loaded 2-core machine;
#              still far below the 30 s request timeout the cut replaces
TIMEOUT = 3  # --timeout of the CLI runs
CLI_SLACK = 20.0  # start-up and imports (~0.7 s quiet, several s under load), sandbox and exit; the
#                   stalled server would hold the run for its 60 s request timeout without the cut


def backend(kind: str, server: FakeLLMServer, **kw) -> OpenAIBackend | OllamaBackend:
    return BACKENDS[kind](**{"base_url": server.url, "model": "fake-model", "timeout": 30.0,
                             "connect_timeout": 2.0, "retries": 2, "backoff": 0.0, **kw})


# -- the backends hold every call to its deadline ---------------------------------------------------------

@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("mode", [{"drip": 0.5}, {"silent": True}], ids=["drip", "silent"])
def test_call_is_cut_at_the_deadline(fake_llm, kind, mode):
    fake_llm.script([], default=mode)
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="wall-clock budget ran out") as info:
        backend(kind, fake_llm).chat(MSGS, deadline=start + 1.5)
    took = time.monotonic() - start
    assert 1.5 <= took < 1.5 + SLACK
    assert len(fake_llm.chat_requests) == 1  # no retry after the deadline
    assert info.value.exit_code == 3 and "\n" not in str(info.value)
    if "drip" in mode:
        assert info.value.received_bytes >= 1  # what arrived is reported, to be counted
    else:
        assert info.value.received_bytes == 0


@pytest.mark.parametrize("kind", BACKENDS)
def test_request_timeout_is_total_per_attempt_not_per_read(fake_llm, kind):
    fake_llm.script([], default={"drip": 0.2})  # a byte every 0.2 s never trips a 1 s read timeout
    start = time.monotonic()
    with pytest.raises(BackendError, match=r"no answer within 1s \(after 2 attempts\)") as info:
        backend(kind, fake_llm, timeout=1.0, retries=1).chat(MSGS)
    assert not isinstance(info.value, DeadlineExceeded)
    assert 2.0 <= time.monotonic() - start < 2.0 + SLACK


def test_backoff_never_sleeps_past_the_deadline(fake_llm):
    sleeps: list[float] = []
    fake_llm.script([], default={"status": 503})
    deadline = time.monotonic() + 0.5
    with pytest.raises(DeadlineExceeded, match="before that: HTTP 503"):
        backend("openai", fake_llm, backoff=10.0, retries=5,
                sleep=lambda s: (sleeps.append(s), time.sleep(s))).chat(MSGS, deadline=deadline)
    assert sleeps and max(sleeps) <= 0.5


@pytest.mark.parametrize("kind", BACKENDS)
def test_huge_reply_is_cut_at_the_byte_limit(fake_llm, kind):
    fake_llm.script([{"huge": 10_000_000}])
    start = time.monotonic()
    with pytest.raises(ReplyTooLarge, match="max_reply_bytes") as info:
        backend(kind, fake_llm).chat(MSGS)
    assert time.monotonic() - start < 5
    assert MAX_REPLY_BYTES < info.value.received_bytes < MAX_REPLY_BYTES + 1_000_000
    assert len(fake_llm.chat_requests) == 1  # a runaway reply is not asked for again
    fake_llm.script([{"huge": 5_000}])
    with pytest.raises(ReplyTooLarge):
        backend(kind, fake_llm, max_reply_bytes=4_000).chat(MSGS)


@pytest.mark.parametrize("kind", BACKENDS)
def test_implausible_usage_is_counted_from_the_text_and_the_text_cut_to_max_tokens(fake_llm, kind):
    fake_llm.script([{"huge": 200_000}])  # under the byte limit, but "10 tokens" for 200 KB
    res = backend(kind, fake_llm).chat(MSGS, max_tokens=50)
    assert res.completion_tokens == 200_000 // 4  # the larger of reported (10) and estimated
    assert len(res.text) == 50 * MAX_CHARS_PER_TOKEN and res.finish_reason == "length"
    assert res.extra["estimated_tokens"] is True and res.extra["reported_completion_tokens"] == 10
    assert res.extra["truncated_chars"] == 200_000
    body = fake_llm.chat_requests[0].body  # the limit was asked of the server too
    assert (body["options"]["num_predict"] if kind == "ollama" else body["max_tokens"]) == 50


@pytest.mark.parametrize("kind", BACKENDS)
def test_exact_usage_over_max_tokens_cuts_the_text_in_proportion(fake_llm, kind):
    fake_llm.script([{"text": "a b c d e f g h", "completion_tokens": 8}, "one two"])
    b = backend(kind, fake_llm)
    res = b.chat(MSGS, max_tokens=4)
    assert (res.text, res.completion_tokens, res.finish_reason) == ("a b c d", 8, "length")
    assert "estimated_tokens" not in res.extra
    honest = b.chat(MSGS, max_tokens=4)  # within the limit: untouched, the server's count kept
    assert (honest.text, honest.completion_tokens, honest.finish_reason) == ("one two", 2, "stop")
    assert not {"estimated_tokens", "truncated_chars"} & set(honest.extra)


def test_mlx_generation_stops_between_tokens_at_the_deadline(tmp_path, monkeypatch):
    pytest.importorskip("mlx_lm")
    import mlx_lm

    from hrm_agent.backends.mlx_backend import MLXBackend

    class Step:
        def __init__(self, n: int) -> None:
            self.text, self.generation_tokens, self.generation_tps, self.finish_reason = "tok ", n, 5.0, None

    def slow_tokens(*_args, **_kw):
        for n in range(1, 1000):
            time.sleep(0.2)
            yield Step(n)

    monkeypatch.setattr(mlx_lm, "stream_generate", slow_tokens)
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="wall-clock budget ran out") as info:
        MLXBackend(model=str(tmp_path))._generate(None, None, [1, 2, 3], 500, 0.0, [], start + 0.7)
    assert time.monotonic() - start < 0.7 + SLACK
    assert 2 <= info.value.completion_tokens <= 6 and info.value.text.startswith("tok tok")


# -- traces stay small ------------------------------------------------------------------------------------

def test_trace_stores_long_texts_cut_with_their_full_size(tmp_path):
    with TraceWriter(tmp_path) as trace:
        trace.emit("model_call", response="x" * 1_000_000, messages=[{"role": "user", "content": "y" * 50_000}],
                   subgoals=["z" * 30_000], short="kept")
    [event] = read_trace(tmp_path)
    assert (tmp_path / "trace.jsonl").stat().st_size < 4 * TEXT_LIMIT
    assert event["response"].startswith("x" * TEXT_LIMIT) and "1,000,000 chars in all" in event["response"]
    assert event["response_chars"] == 1_000_000
    assert event["messages"][0]["content_chars"] == 50_000 and event["messages"][0]["role"] == "user"
    assert len(event["subgoals"][0]) < TEXT_LIMIT + 50 and event["short"] == "kept"


# -- whole runs: the CLI as a subprocess -------------------------------------------------------------------

def _cli_run(run_hrm, server: FakeLLMServer, tmp_path: Path, kind: str, *extra: str):
    start = time.monotonic()
    proc = run_hrm("agent", "run", "What is 6 * 7? Return exactly: 'Answer: <n>'.", "--backend", kind,
                   "--base-url", server.url, "--model", "fake-model", "--timeout", str(TIMEOUT),
                   "--run-id", "r", f"runs_dir={tmp_path / 'runs'}", "sandbox.wall_s=5", *extra, timeout=60)
    return proc, time.monotonic() - start, tmp_path / "runs" / "r"


def _check_trace(run_dir: Path) -> list[dict]:
    path = run_dir / "trace.jsonl"
    assert path.stat().st_size < 100_000
    lines = path.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]  # every line is JSON
    assert events[0]["event"] == "run_start" and events[-1]["event"] == "run_end"
    return events


def _check_stderr(proc, reason: str) -> None:
    assert "Traceback" not in proc.stderr and len(proc.stderr) < 500, proc.stderr
    assert f"no_answer ({reason})" in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("kind, mode", [("openai", {"drip": 1.0}), ("ollama", {"silent": True})],
                         ids=["openai-drip", "ollama-silent"])
def test_cli_run_ends_at_its_timeout(run_hrm, tmp_path, kind, mode):
    with FakeLLMServer(default=mode) as server:
        proc, took, run_dir = _cli_run(run_hrm, server, tmp_path, kind, "request_timeout_s=60")
    assert took < TIMEOUT + CLI_SLACK, (took, proc.stderr)
    assert proc.returncode == 1, proc.stderr  # no answer: the documented exit code
    _check_stderr(proc, "timeout")
    events = _check_trace(run_dir)
    [call] = [e for e in events if e["event"] == "model_call"]
    assert call["finish_reason"] == "timeout" and call["role"] == "planner"
    assert call["completion_tokens"] == -(-call["received_bytes"] // 4)  # counted from what arrived
    assert (call["received_bytes"] > 0) == ("drip" in mode)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["stop_reason"] == "timeout" and result["wall_s"] < TIMEOUT + SLACK
    assert [f["category"] for f in result["failures"]] == ["timeout"]
    assert result["completion_tokens"] == call["completion_tokens"]


def test_cli_run_caps_a_huge_reply_and_counts_what_arrived(run_hrm, tmp_path):
    with FakeLLMServer(default={"huge": 10_000_000}) as server:
        proc, took, run_dir = _cli_run(run_hrm, server, tmp_path, "openai")
        assert len(server.chat_requests) == 1  # the counted tokens used the budget up: no second call
    assert took < TIMEOUT + CLI_SLACK and proc.returncode == 1, proc.stderr
    _check_stderr(proc, "budget")
    events = _check_trace(run_dir)
    [call] = [e for e in events if e["event"] == "model_call"]
    assert call["finish_reason"] == "too_large" and call["received_bytes"] > MAX_REPLY_BYTES
    result = json.loads((run_dir / "result.json").read_text())
    assert result["completion_tokens"] >= MAX_REPLY_BYTES // 4 and result["final"] is None
    assert [f["category"] for f in result["failures"]] == ["budget", "budget"]
    assert "max_reply_bytes" in result["failures"][0]["detail"]


def test_long_reply_in_a_run_is_cut_in_the_trace_and_shown(run_hrm, fake_llm, tmp_path):
    fake_llm.script([{"huge": 300_000}])  # under the byte limit; a code-less reply: no answer, kept as the candidate
    cfg = resolve_config("agent", None, [f"runs_dir={tmp_path / 'runs'}", "controller=flat",
                                         "budget.max_tokens_per_call=5000"])
    b = OpenAIBackend(base_url=fake_llm.url, model="fake-model", retries=0, timeout=10)
    result = run_agent(cfg, "Say a lot.", backend=b, run_id="long")
    assert result["completion_tokens"] == 300_000 // 4
    assert result["final"] is None and result["status"] == "no_answer"
    assert len(result["candidate"]) == 5000 * MAX_CHARS_PER_TOKEN  # cut to max_tokens_per_call
    assert "budget" in [f["category"] for f in result["failures"]]
    events = _check_trace(Path(result["trace"]).parent)
    [call] = [e for e in events if e["event"] == "model_call"]
    assert call["response_chars"] == 5000 * MAX_CHARS_PER_TOKEN and call["truncated_chars"] == 300_000
    [final] = [e for e in events if e["event"] == "final"]
    assert final["candidate_chars"] == 5000 * MAX_CHARS_PER_TOKEN
    shown = run_hrm("agent", "show", result["trace"])
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    assert "flat call" in shown.stdout and "no answer (budget)" in shown.stdout and "rejected reply" in shown.stdout
    full = run_hrm("agent", "show", result["trace"], "--full")
    assert full.returncode == 0 and "chars in all]" in full.stdout
