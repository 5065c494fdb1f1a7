"""OpenAI and Ollama backends against a real HTTP server on 127.0.0.1 (tests/agent/fake_llm_server.py)."""

from __future__ import annotations

import sys
import types

import pytest
from fake_llm_server import FakeLLMServer

from hrm_agent.backends.http import OllamaBackend, OpenAIBackend, make_backend
from hrm_agent.errors import AgentError, BackendError

MSGS = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello twice please"}]
PROMPT_WORDS = 3 + 4  # the fake server counts whitespace-separated words
KEY = "sk-test-4f9c2a7b1e8d"
FAST = {"timeout": 2.0, "connect_timeout": 1.0, "backoff": 0.0}


def openai(server: FakeLLMServer, **kw) -> OpenAIBackend:
    return OpenAIBackend(**{"base_url": server.url, "model": "fake-model", **FAST, **kw})


def ollama(server: FakeLLMServer, **kw) -> OllamaBackend:
    return OllamaBackend(**{"base_url": server.url, "model": "fake-model", **FAST, **kw})


BACKENDS = {"openai": openai, "ollama": ollama}


# -- round trips ---------------------------------------------------------------------------------------

def test_openai_round_trip(fake_llm):
    fake_llm.script([{"text": "hello hello", "delay": 0.05}])
    result = openai(fake_llm).chat(MSGS, max_tokens=7, temperature=0.2, stop=["\n\n"])
    assert result.text == "hello hello"
    assert (result.prompt_tokens, result.completion_tokens) == (PROMPT_WORDS, 2)
    assert result.latency_s >= 0.05
    assert result.model == "fake-model" and result.finish_reason == "stop"
    assert result.extra == {"attempts": 1}
    [req] = fake_llm.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.messages == MSGS
    assert req.body["model"] == "fake-model" and req.body["stream"] is False
    assert (req.body["max_tokens"], req.body["temperature"], req.body["stop"]) == (7, 0.2, ["\n\n"])
    assert req.authorization is None


def test_ollama_round_trip(fake_llm):
    fake_llm.script([{"text": "hi there friend", "finish_reason": "length", "delay": 0.05}])
    result = ollama(fake_llm).chat(MSGS, max_tokens=3, temperature=0.7, stop=["END"])
    assert result.text == "hi there friend"
    assert (result.prompt_tokens, result.completion_tokens) == (PROMPT_WORDS, 3)
    assert result.finish_reason == "length"
    assert result.latency_s >= 0.05
    assert "estimated_tokens" not in result.extra
    [req] = fake_llm.requests
    assert (req.method, req.path) == ("POST", "/api/chat")
    assert req.body["stream"] is False and req.body["model"] == "fake-model"
    assert req.body["options"] == {"temperature": 0.7, "num_predict": 3, "stop": ["END"]}


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_openai_base_url_with_or_without_v1(fake_llm, suffix):
    fake_llm.script(["ok"])
    backend = openai(fake_llm, base_url=fake_llm.url + suffix)
    assert backend.base_url == fake_llm.url + "/v1"
    assert backend.chat(MSGS).text == "ok"


def test_openai_settings_from_env(fake_llm, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url)
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_llm.script(["ok"])
    result = OpenAIBackend(**FAST).chat(MSGS)
    assert result.model == "env-model"
    [req] = fake_llm.requests
    assert req.model == "env-model" and req.authorization == f"Bearer {KEY}"


def test_openai_model_discovered_from_v1_models(fake_llm):
    fake_llm.models = ["first-model", "second-model"]
    fake_llm.script(["ok"])
    backend = openai(fake_llm, model=None)
    assert backend.chat(MSGS).model == "first-model"
    assert [(r.method, r.path) for r in fake_llm.requests] == [("GET", "/v1/models"),
                                                              ("POST", "/v1/chat/completions")]
    assert fake_llm.chat_requests[0].model == "first-model"


def test_openai_unreachable_server_without_model_says_how_to_name_one(dead_llm_url):
    with pytest.raises(BackendError, match=r"GET .*/v1/models.*OPENAI_MODEL") as info:
        OpenAIBackend(base_url=dead_llm_url, retries=0, **FAST).chat(MSGS)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("models_reply", [
    {"raw": ""},  # mlx_lm.server without a Hugging Face cache folder: 200 and an empty body
    {"raw": "<html>nope</html>"},
    {"status": 404},
    {"status": 500},
    {"body": {"object": "list", "data": []}},
    {"body": {"object": "list", "data": [{"id": ""}]}},
], ids=["empty-body", "not-json", "404", "500", "empty-list", "blank-id"])
def test_openai_without_a_listed_model_uses_the_server_default(models_reply):
    """No --model and no usable /v1/models: the request names no model (the server's default) and the
    backend then reports the model the reply names."""
    with FakeLLMServer(models_reply=models_reply) as server:
        server.script(["one", "two"])
        backend = OpenAIBackend(base_url=server.url, retries=0, **FAST)
        first = backend.chat(MSGS)
        assert first.text == "one" and first.model == "fake-default-model"
        assert backend.model == "fake-default-model" and backend.describe()["model"] == "fake-default-model"
        assert backend.chat(MSGS).text == "two"
        chats = server.chat_requests
        assert all("model" not in r.body for r in chats)
        assert [r.path for r in server.requests].count("/v1/models") == 1  # asked once, then remembered


def test_openai_model_before_the_first_reply_says_server_default():
    with FakeLLMServer(models_reply={"raw": ""}) as server:
        backend = OpenAIBackend(base_url=server.url, retries=0, **FAST)
        assert backend.resolve_model() == "(server default)"
        assert server.chat_requests == []


# -- structured output -------------------------------------------------------------------------------

def _plan_schema() -> dict:
    from hrm_agent.schemas import Plan, response_schema

    return response_schema(Plan)


PLAN_JSON = '{"subgoals": ["compute 17 * 23"], "final_format": "Answer: <n>"}'


def test_openai_sends_the_schema_as_response_format(fake_llm):
    fake_llm.script([PLAN_JSON])
    backend = openai(fake_llm)
    result = backend.chat(MSGS, schema=_plan_schema())
    assert result.text == PLAN_JSON and result.extra["structured"] == "response_format"
    [req] = fake_llm.chat_requests
    fmt = req.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "plan"
    assert fmt["json_schema"]["schema"] == _plan_schema() and fmt["json_schema"]["strict"] is True
    assert backend.schema_support is True
    fake_llm.script(["plain"])
    assert "structured" not in backend.chat(MSGS).extra  # no schema asked: none sent
    assert "response_format" not in fake_llm.chat_requests[-1].body


def test_openai_server_that_rejects_response_format_is_asked_without_it_from_then_on():
    with FakeLLMServer(rejects={"response_format"}) as server:
        server.script(["not json, but an answer", PLAN_JSON])
        backend = openai(server)
        first = backend.chat(MSGS, schema=_plan_schema())
        assert first.text == "not json, but an answer" and first.extra["structured"] == "rejected"
        assert ["response_format" in r.body for r in server.chat_requests] == [True, False]
        second = backend.chat(MSGS, schema=_plan_schema())
        assert second.text == PLAN_JSON and second.extra["structured"] == "unsupported"
        assert ["response_format" in r.body for r in server.chat_requests] == [True, False, False]
        assert backend.schema_support is False


def test_openai_server_that_ignores_response_format_is_not_asked_again(fake_llm):
    """mlx_lm.server accepts the field and ignores it: a reply that is not JSON shows it."""
    fake_llm.script(["Sure! 1. compute x", PLAN_JSON])
    backend = openai(fake_llm)
    assert backend.chat(MSGS, schema=_plan_schema()).extra["structured"] == "ignored"
    assert backend.chat(MSGS, schema=_plan_schema()).extra["structured"] == "unsupported"
    assert ["response_format" in r.body for r in fake_llm.chat_requests] == [True, False]


def test_a_reply_cut_at_max_tokens_does_not_count_as_ignoring_the_schema(fake_llm):
    fake_llm.script([{"text": '{"subgoals": ["a', "finish_reason": "length"}])
    backend = openai(fake_llm)
    assert backend.chat(MSGS, schema=_plan_schema()).extra["structured"] == "response_format"
    assert backend.schema_support is None


def test_other_client_errors_are_not_mistaken_for_a_refused_schema():
    with FakeLLMServer(rejects={"messages"}) as server:  # a 400 that names another field
        server.script(["never used"])
        with pytest.raises(BackendError, match="HTTP 400: unsupported field: messages"):
            openai(server).chat(MSGS, schema=_plan_schema())
        assert len(server.chat_requests) == 1


def test_ollama_sends_the_schema_as_format_and_falls_back_when_refused(fake_llm):
    fake_llm.script([PLAN_JSON])
    result = ollama(fake_llm).chat(MSGS, schema=_plan_schema())
    assert fake_llm.chat_requests[0].body["format"] == _plan_schema()
    assert result.extra["structured"] == "format"
    with FakeLLMServer(rejects={"format"}) as old:
        old.script([PLAN_JSON])
        result = ollama(old).chat(MSGS, schema=_plan_schema())
        assert result.text == PLAN_JSON and result.extra["structured"] == "rejected"
        assert ["format" in r.body for r in old.chat_requests] == [True, False]


def test_ollama_host_without_scheme_and_model_from_tags(fake_llm, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{fake_llm.port}")
    fake_llm.models = ["llama-fake:latest"]
    fake_llm.script(["ok"])
    backend = OllamaBackend(**FAST)
    assert backend.base_url == fake_llm.url
    assert backend.chat(MSGS).model == "llama-fake:latest"
    assert [r.path for r in fake_llm.requests] == ["/api/tags", "/api/chat"]


@pytest.mark.parametrize("kind", BACKENDS)
def test_missing_usage_is_estimated_and_flagged(fake_llm, kind):
    fake_llm.script([{"text": "x" * 40, "usage": False}])
    result = BACKENDS[kind](fake_llm).chat(MSGS)
    assert result.extra["estimated_tokens"] is True
    assert result.completion_tokens == 10
    assert result.prompt_tokens == sum(len(m["content"]) for m in MSGS) // 4


# -- retries -------------------------------------------------------------------------------------------

FAILURES = {"500": {"status": 500}, "503": {"status": 503}, "429": {"status": 429, "retry_after": 0},
            "drop": {"drop": True}}


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("failure", FAILURES)
def test_retries_then_success(fake_llm, kind, failure):
    fake_llm.script([FAILURES[failure], FAILURES[failure], "finally"])
    result = BACKENDS[kind](fake_llm, retries=2).chat(MSGS)
    assert result.text == "finally"
    assert result.extra["attempts"] == 3
    assert len(fake_llm.chat_requests) == 3


@pytest.mark.parametrize("failure", FAILURES)
def test_retries_exhausted(fake_llm, failure):
    fake_llm.script([FAILURES[failure]] * 2, default="too late")
    with pytest.raises(BackendError, match=r"after 2 attempts") as info:
        openai(fake_llm, retries=1).chat(MSGS)
    assert len(fake_llm.chat_requests) == 2
    assert info.value.exit_code == 3 and "\n" not in str(info.value)


def test_backoff_is_exponential_and_retry_after_is_honoured_up_to_cap(fake_llm):
    sleeps: list[float] = []
    fake_llm.script([{"status": 429, "retry_after": 7}, {"status": 502}, {"status": 429, "retry_after": 1},
                     "ok"])
    backend = openai(fake_llm, retries=3, backoff=0.25, max_retry_after=2.0, sleep=sleeps.append)
    assert backend.chat(MSGS).text == "ok"
    assert sleeps == [2.0, 0.5, 1.0]  # capped Retry-After, then 0.25 * 2**1, then Retry-After as given


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_are_not_retried(fake_llm, kind, status):
    fake_llm.script([{"status": status, "error": "max_tokens\nmust be positive"}], default="never")
    with pytest.raises(BackendError, match=f"HTTP {status}: max_tokens must be positive") as info:
        BACKENDS[kind](fake_llm, retries=3).chat(MSGS)
    assert len(fake_llm.chat_requests) == 1
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", BACKENDS)
def test_hang_past_timeout_fails_after_retries(fake_llm, kind):
    fake_llm.script([{"hang": 5}] * 3, default="never")
    with pytest.raises(BackendError, match=r"no answer within 0.3s \(after 3 attempts\).*request_timeout_s") as info:
        BACKENDS[kind](fake_llm, timeout=0.3, retries=2).chat(MSGS)
    assert len(fake_llm.chat_requests) == 3
    assert f"{kind} backend" in str(info.value) and fake_llm.url in str(info.value)


# -- failures that need the user -----------------------------------------------------------------------

@pytest.mark.parametrize("kind, hint", [("openai", "mlx_lm.server --model"), ("ollama", "ollama serve")])
def test_server_down(dead_llm_url, kind, hint):
    backend = make_backend(kind, model="m", base_url=dead_llm_url, retries=1, backoff=0.01, connect_timeout=1.0)
    with pytest.raises(BackendError) as info:
        backend.chat(MSGS)
    msg = str(info.value)
    assert info.value.exit_code == 3
    assert "\n" not in msg
    assert msg.startswith(f"{kind} backend: POST {dead_llm_url}")
    assert "cannot connect" in msg and "after 2 attempts" in msg and hint in msg


def test_unknown_ollama_model(fake_llm):
    fake_llm.script(["never"])
    with pytest.raises(BackendError, match=r"model 'llama9' not found; run `ollama pull llama9`") as info:
        ollama(fake_llm, model="llama9", retries=2).chat(MSGS)
    assert info.value.exit_code == 3
    assert len(fake_llm.chat_requests) == 1 and fake_llm.remaining == 1


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("raw, match", [("{not json", "not JSON"), ('{"foo": 1}', "unexpected answer"),
                                        ("", "not JSON")])
def test_malformed_body(fake_llm, kind, raw, match):
    fake_llm.script([{"raw": raw}], default="never")
    with pytest.raises(BackendError, match=match) as info:
        BACKENDS[kind](fake_llm).chat(MSGS)
    assert info.value.exit_code == 3 and "\n" not in str(info.value)
    assert len(fake_llm.chat_requests) == 1


def test_api_key_sent_as_bearer_but_never_shown(fake_llm, dead_llm_url):
    fake_llm.script(["ok", {"status": 401, "error": f"Incorrect API key provided: {KEY}"},
                     {"status": 500, "error": "x" * 185 + KEY}])  # truncation must not leak half the key
    backend = openai(fake_llm, api_key=KEY, retries=0)
    assert backend.chat(MSGS).text == "ok"
    assert fake_llm.chat_requests[0].authorization == f"Bearer {KEY}"
    assert KEY not in repr(backend) and "***" in repr(backend)
    assert KEY not in str(backend.describe()) and backend.has_api_key
    for _ in range(2):
        with pytest.raises(BackendError) as info:
            backend.chat(MSGS)
        assert KEY[:8] not in str(info.value)
    down = OpenAIBackend(base_url=dead_llm_url, model="m", api_key=KEY, retries=0, **FAST)
    with pytest.raises(BackendError) as info:
        down.chat(MSGS)
    assert KEY not in str(info.value) and KEY not in repr(down)


def test_bad_base_url_is_a_usage_error():
    with pytest.raises(AgentError, match="not an http") as info:
        OpenAIBackend(base_url="ftp://example.org/v1")
    assert info.value.exit_code == 2


# -- make_backend --------------------------------------------------------------------------------------

def test_make_backend_http_kinds(fake_llm):
    backend = make_backend("openai", model="a", base_url=fake_llm.url, api_key=KEY, timeout=5, retries=4)
    assert isinstance(backend, OpenAIBackend)
    assert (backend.name, backend.model, backend.timeout, backend.retries) == ("openai", "a", 5.0, 4)
    fake_llm.script(["ok"])
    backend = make_backend(" Ollama ", model="fake-model", base_url=fake_llm.url, backoff=0.0)
    assert isinstance(backend, OllamaBackend) and backend.chat(MSGS).text == "ok"


def test_make_backend_unknown_kind():
    with pytest.raises(AgentError, match="unknown backend 'gpt'; choose one of: mlx, openai, ollama") as info:
        make_backend("gpt")
    assert info.value.exit_code == 2


def test_make_backend_mlx_is_imported_lazily(monkeypatch):
    calls = []

    class MLXBackend:
        def __init__(self, model=None, **kw):
            calls.append((model, kw))

    module = types.ModuleType("hrm_agent.backends.mlx_backend")
    module.MLXBackend = MLXBackend
    monkeypatch.setitem(sys.modules, "hrm_agent.backends.mlx_backend", module)
    assert isinstance(make_backend("mlx", model="some/model", max_kv=8), MLXBackend)
    assert calls == [("some/model", {"max_kv": 8})]
    with pytest.raises(AgentError, match="--base-url"):
        make_backend("mlx", base_url="http://127.0.0.1:1")


# -- the fake server itself (other tests script whole agent runs with it) ------------------------------

def test_fake_server_callable_items_default_and_exhaustion(fake_llm):
    fake_llm.script([lambda req: f"echo: {req.last_user}"], default=None)
    backend = openai(fake_llm, retries=0)
    assert backend.chat(MSGS).text == "echo: Say hello twice please"
    with pytest.raises(BackendError, match="script exhausted"):
        backend.chat(MSGS)
    fake_llm.script([], default="again")
    assert [backend.chat(MSGS).text for _ in range(2)] == ["again", "again"]
