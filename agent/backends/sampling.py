"""K replies from any backend: its own `chat_samples` where it has one (the local model's batch, a server's
`n`), else one `chat` per reply in parallel threads, each with its own seed where `chat` takes one.

Why a fallback at all: self-consistency must work on every backend the agent runs on (Ollama has no `n`,
and test doubles or third-party backends only implement `Backend.chat`); parallel requests keep the K
samples within the run's deadline instead of K times one call's latency.
"""

from __future__ import annotations

import inspect
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hrm_agent.backends.chat import Backend, ChatResult, Message

MAX_PARALLEL = 8  # requests in flight at once for one sampled call


def sample_replies(backend: Backend, conversations: list[list[Message]], *, seeds: list[int],
                   **kw: Any) -> list[ChatResult]:
    """One reply per conversation (sample i drawn with `seeds[i]`), in the order given."""
    own = getattr(backend, "chat_samples", None)
    if callable(own):
        return own(conversations, seeds=seeds, **kw)
    return parallel_chats(backend, conversations, seeds=seeds, **kw)


def takes(backend: Backend, keyword: str) -> bool:
    """Whether the backend's `chat_samples` accepts `keyword` (e.g. `on_result`: replies as they finish)."""
    own = getattr(backend, "chat_samples", None)
    return callable(own) and keyword in inspect.signature(own).parameters


def parallel_chats(backend: Backend, conversations: list[list[Message]], *, seeds: list[int],
                   **kw: Any) -> list[ChatResult]:
    """`backend.chat` once per conversation, up to MAX_PARALLEL at a time; the first error (a
    BackendError, the run's deadline) is raised once every request has returned."""
    takes_seed = "seed" in inspect.signature(backend.chat).parameters
    kw = {k: v for k, v in kw.items() if v is not None}

    def one(i: int) -> ChatResult:
        result = backend.chat(conversations[i], **kw, **({"seed": seeds[i]} if takes_seed else {}))
        result.extra.setdefault("seed", seeds[i] if takes_seed else None)
        return result

    if len(conversations) == 1:
        return [one(0)]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(conversations))) as pool:
        futures = [pool.submit(one, i) for i in range(len(conversations))]
        errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return [f.result() for f in futures]
