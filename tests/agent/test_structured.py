"""Structured output end to end: the agent's JSON calls under a schema on a scripted server, the local model
under constrained decoding, and a real `mlx_lm.server` without --model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fake_llm_server import FakeLLMServer

from hrm_agent.backends.http import OpenAIBackend
from hrm_agent.controllers import CRITIC_EXAMPLE, CRITIC_SCHEMA, PLAN_EXAMPLE, PLAN_SCHEMA
from hrm_agent.prompts import load_prompts
from hrm_agent.schemas import Critique, Plan, parse_reply, response_schema
from hrm_agent.toolkit import Budget, Session
from hrm_agent.trace import TraceWriter, read_trace

MSGS = [{"role": "user", "content": "Plan: what is 17 * 23?"}]
FAST = {"timeout": 5.0, "connect_timeout": 2.0, "backoff": 0.0, "retries": 0}
PLAN_JSON = '{"subgoals": ["compute 17 * 23"], "final_format": "Answer: <n>"}'


def _session(backend, tmp_path: Path) -> tuple[Session, TraceWriter]:
    trace = TraceWriter(tmp_path / "run")
    return Session(backend=backend, prompts=load_prompts("default"), budget=Budget(), trace=trace), trace


def _events(tmp_path: Path, name: str) -> list[dict]:
    return [e for e in read_trace(tmp_path / "run") if e["event"] == name]


def test_controllers_use_the_pydantic_schemas():
    assert PLAN_SCHEMA is Plan and CRITIC_SCHEMA is Critique
    parse_reply(PLAN_EXAMPLE, Plan), parse_reply(CRITIC_EXAMPLE, Critique)


def test_call_json_on_a_server_that_honours_the_schema_needs_no_repair(fake_llm, tmp_path):
    fake_llm.script([PLAN_JSON])
    s, trace = _session(OpenAIBackend(base_url=fake_llm.url, model="m", **FAST), tmp_path)
    with trace:
        plan = s.call_json("planner", MSGS, PLAN_SCHEMA, PLAN_EXAMPLE)
    assert plan == {"subgoals": ["compute 17 * 23"], "final_format": "Answer: <n>"}
    [req] = fake_llm.chat_requests
    assert req.body["response_format"]["json_schema"]["schema"] == response_schema(Plan)
    [call] = _events(tmp_path, "model_call")
    assert call["structured"] == "response_format" and not _events(tmp_path, "repair") and not s.failures


def test_call_json_falls_back_to_parse_and_repair_when_the_server_refuses_the_schema(tmp_path):
    """The server answers 400 to response_format: the same call goes out without it, the prose reply fails to
    parse, the repair prompt gets a fenced JSON answer, which is read; later calls do not send the field."""
    with FakeLLMServer(rejects={"response_format"}) as server:
        server.script(["I would compute 17 times 23.", "```json\n" + PLAN_JSON + "\n```",
                       '{"action": " Submit ", "reason": "ok"}'])
        s, trace = _session(OpenAIBackend(base_url=server.url, model="m", **FAST), tmp_path)
        with trace:
            plan = s.call_json("planner", MSGS, PLAN_SCHEMA, PLAN_EXAMPLE)
            verdict = s.call_json("critic", MSGS, CRITIC_SCHEMA, CRITIC_EXAMPLE)
        assert plan["subgoals"] == ["compute 17 * 23"] and verdict == {"action": "submit", "reason": "ok"}
        assert ["response_format" in r.body for r in server.chat_requests] == [True, False, False, False]
    assert [e["role"] for e in _events(tmp_path, "repair")] == ["planner"]
    noted = [e["structured"] for e in _events(tmp_path, "model_call")]
    assert noted == ["rejected", "unsupported", "unsupported"]
    assert not s.failures


def test_call_json_records_a_spec_error_when_even_the_repair_does_not_fit(fake_llm, tmp_path):
    fake_llm.script(['{"action": "maybe"}', '{"action": "perhaps"}'])
    s, trace = _session(OpenAIBackend(base_url=fake_llm.url, model="m", **FAST), tmp_path)
    with trace:
        assert s.call_json("critic", MSGS, CRITIC_SCHEMA, CRITIC_EXAMPLE) is None
    [failure] = s.failures
    assert failure.category == "spec_error" and "'action' must be one of" in failure.detail


# -- the local model under constrained decoding -----------------------------------------------------

@pytest.fixture
def local_backend(cache_root, monkeypatch):
    monkeypatch.setenv("HRM_CACHE_DIR", str(cache_root))
    from hrm_agent.backends.mlx_backend import MLXBackend

    return MLXBackend()


@pytest.mark.slow
def test_the_default_model_under_a_schema_writes_exactly_what_it_allows(local_backend):
    """A schema with one possible document: the model can only write it, token by token, then stop."""
    schema = {"type": "object", "properties": {"action": {"enum": ["revise"]}}, "required": ["action"],
              "additionalProperties": False}
    result = local_backend.chat([{"role": "user", "content": "Say hello."}], max_tokens=20, schema=schema)
    assert result.text == '{"action": "revise"}' and result.finish_reason == "stop"
    assert result.extra["structured"] == "grammar"


@pytest.mark.slow
def test_the_default_model_under_the_critic_schema_writes_valid_json(local_backend):
    messages = [{"role": "system", "content": "You are the critic."},
                {"role": "user", "content": "TASK: What is 17 * 23?\nRESULTS:\n1. compute 17 * 23 -> 391"}]
    result = local_backend.chat(messages, max_tokens=64, schema=response_schema(Critique))
    assert isinstance(json.loads(result.text), dict)  # strict JSON, no fence, no prose
    verdict = parse_reply(result.text, Critique)
    assert verdict.action in ("submit", "revise")
    free = local_backend.chat(messages, max_tokens=8)  # the same call without a schema is not constrained
    assert "structured" not in free.extra


# -- a real mlx_lm.server, no --model -----------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlx_server(cache_root, tmp_path):
    """`python -m mlx_lm.server --model <converted default model>` on 127.0.0.1, with an empty Hugging Face
    home (offline, and no cache folder: its /v1/models then answers 200 with an empty body)."""
    from hrm_agent.backends import local_model

    model_dir = cache_root / "models" / local_model.MODEL_DIR_NAME
    port = _free_port()
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1"}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "mlx_lm.server", "--model", str(model_dir), "--host",
                             "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.skip(f"mlx_lm.server could not start offline (exit {proc.returncode}): "
                            f"{(tmp_path / 'server.log').read_text()[-300:]}")
            try:
                if httpx.get(url + "/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.skip("mlx_lm.server did not answer /health within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.slow
def test_openai_backend_against_mlx_lm_server_without_model(mlx_server, tmp_path):
    models = httpx.get(mlx_server + "/v1/models", timeout=10, trust_env=False)
    assert models.status_code == 200 and models.text == ""  # the case this fallback is for
    backend = OpenAIBackend(base_url=mlx_server, timeout=120.0, retries=0)
    result = backend.chat([{"role": "user", "content": "Say hi."}], max_tokens=8)
    assert result.text and result.model == "default_model" and backend.model == "default_model"
    # mlx_lm.server accepts response_format and ignores it: the backend notices and stops sending it
    reply = backend.chat(MSGS, max_tokens=8, schema=response_schema(Plan))
    assert reply.extra["structured"] in ("ignored", "response_format")
    # and the CLI, with no --model, runs the agent to an outcome (answered or not), not a backend error
    run = subprocess.run([sys.executable, "-m", "hrm_cli.main", "agent", "run", "What is 17 * 23?",
                          "--backend", "openai", "--base-url", mlx_server, "--controller", "flat", "--json",
                          "budget.max_rounds=1", "budget.max_tokens_per_call=48", f"runs_dir={tmp_path}"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode in (0, 1), run.stderr[-500:]
    result = json.loads(run.stdout)
    assert result["model"] == "default_model" and result["status"] in ("answered", "no_answer")
