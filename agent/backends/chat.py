"""The one interface every LLM backend implements: chat messages in, text out, with usage and latency.

Controllers only see `Backend.chat`, so the hierarchical agent and the flat baseline run unchanged on
the in-process MLX model, an OpenAI-compatible server or Ollama.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass
class ChatResult:
    """One model answer and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    model: str
    finish_reason: str = "stop"  # "stop" | "length"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Backend(Protocol):
    """A chat model. `name` is the backend kind ("mlx", "openai", "ollama"); `model` what it runs."""

    name: str
    model: str

    def chat(self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0,
             stop: list[str] | None = None, deadline: float | None = None,
             schema: dict[str, Any] | None = None) -> ChatResult:
        """Answer the conversation; raise `hrm_agent.errors.BackendError` when the model cannot answer.

        `deadline` is a `time.monotonic()` value (the run's wall budget) the call must not outlive: past it
        the call raises `hrm_agent.errors.DeadlineExceeded`, counting what had arrived.

        `schema` (a JSON Schema, hrm_agent.schemas.response_schema) asks for a reply generated under it:
        constrained decoding in process, `response_format` on OpenAI-compatible servers, `format` on Ollama.
        A backend that cannot enforce it answers as without it (and says so in `extra["structured"]`); the
        caller validates the reply either way.
        """
        ...
