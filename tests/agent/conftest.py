"""Agent test fixtures: a scripted fake LLM server, a dead URL, and an environment free of LLM settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_llm_server import FakeLLMServer, closed_port_url

_LLM_ENV = ("OPENAI_API_BASE", "OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL",
            "OLLAMA_BASE_URL", "OLLAMA_HOST", "OLLAMA_MODEL")


@pytest.fixture(autouse=True)
def _no_llm_env(monkeypatch):
    """The developer's own OPENAI_* / OLLAMA_* settings must not steer tests at a real server."""
    for name in _LLM_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _weak_sandbox_where_no_boundary(monkeypatch):
    """Where this machine has no OS sandbox (macOS, no bubblewrap), agent tests run the code in the weak
    mode instead of being refused; the sandbox's own tests check both modes and skip the boundary's."""
    from hrm_agent.sandbox import execute as sandbox

    if sandbox.isolation().strong:
        return
    real = sandbox.isolation_for

    def accept_weak(limits):
        import dataclasses

        return real(dataclasses.replace(limits, allow_weak=True))
    monkeypatch.setattr(sandbox, "isolation_for", accept_weak)


@pytest.fixture
def fake_llm():
    """A started FakeLLMServer (see tests/agent/fake_llm_server.py); stopped after the test."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def dead_llm_url() -> str:
    """A base URL where no server listens."""
    return closed_port_url()


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    """A private hrm cache with the default local model converted into it (once per session)."""
    from hrm_agent.backends import local_model

    root = tmp_path_factory.mktemp("hrm-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HRM_CACHE_DIR", str(root))
        local_model.default_model_path()
    return root


@pytest.fixture
def model_dir(cache_root, monkeypatch) -> Path:
    from hrm_agent.backends import local_model

    monkeypatch.setenv("HRM_CACHE_DIR", str(cache_root))
    return local_model.default_model_dir()
