"""HTTP chat backends: any OpenAI-compatible server and Ollama, plus `make_backend` to pick one by name.

Both speak plain JSON over a sync httpx client, retry what is worth retrying (connection errors, timeouts,
429, 5xx) with exponential backoff, and turn everything else into one `BackendError` line that names the
backend, the URL, the cause and what to do. The API key only ever travels in the Authorization header:
it is never put in a message, a repr or a trace.

httpx timeouts bound each read, not a whole answer: a server dripping a byte a second never trips them.
So every attempt runs in a worker thread that streams the body, and the caller stops waiting at the
attempt's total deadline (`timeout`, and the run's deadline passed to `chat`), whatever the server does.
The body is capped at `max_reply_bytes`, and a reply longer than `max_tokens` allows is cut to it, with its
tokens counted from what arrived when the server's own count is missing or implausible.

Structured output: a `chat(..., schema=...)` call asks the server to generate under that JSON Schema
(`response_format` on OpenAI-compatible servers, `format` on Ollama). A server that refuses the field
(HTTP 400/422 naming it) is asked again without it, and one that ignores it (its reply is not JSON) is not
asked again: each backend instance remembers, and the caller's parse-and-repair path does the rest.

Without `--model`, the OpenAI backend asks `/v1/models`; when that answers with an error, an empty list or
an unreadable body (mlx_lm.server does the last when the Hugging Face cache folder is missing) the request
goes out without a model field, which every OpenAI-compatible server reads as its default model, and the
model the reply names is recorded.
"""

from __future__ import annotations

import email.utils
import os
import re
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import httpx

from hrm_agent.backends.chat import Backend, ChatResult, Message
from hrm_agent.errors import AgentError, BackendError, DeadlineExceeded, ReplyTooLarge
from hrm_agent.untrusted import UntrustedJSON, load_json

BACKEND_KINDS = ("mlx", "openai", "ollama")
DEFAULT_OPENAI_URL = "http://127.0.0.1:8080/v1"
DEFAULT_OLLAMA_URL = "http://localhost:11434"
OLLAMA_PORT = 11434
EXAMPLE_MLX_MODEL = "mlx-community/Qwen2.5-0.5B-Instruct-4bit"
MAX_REPLY_BYTES = 1_000_000  # a chat answer of max_tokens_per_call tokens is a few KB; more is a runaway
MAX_CHARS_PER_TOKEN = 8  # no tokenizer averages more; a longer text holds more tokens than were counted
SERVER_DEFAULT_MODEL = "(server default)"  # what `model` says before a reply has named the default model
_SCHEMA_WORDS = ("response_format", "json_schema", "schema", "grammar")  # in a refusal of the schema field
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def _env(*names: str) -> str | None:
    """First non-empty environment variable among `names` (an empty variable counts as unset)."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _one_line(text: str, limit: int = 200) -> str:
    """Collapse whitespace so a server's multi-line error stays on the one line the CLI prints."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _strip_userinfo(url: str) -> str:
    """The URL without `user:password@`, so credentials in a base URL never reach a message."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _check_url(kind: str, url: str, example: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentError(f"{kind} backend: base URL '{_strip_userinfo(url)}' is not an http(s) URL; "
                         f"pass e.g. --base-url {example}")


def normalize_openai_url(url: str) -> str:
    """`http://h:8080`, `http://h:8080/`, `http://h:8080/v1/` (and a pasted `.../chat/completions`) all
    become `http://h:8080/v1`, the prefix every OpenAI-compatible route hangs off."""
    url = url.strip().rstrip("/")
    for tail in ("/chat/completions", "/models"):
        if url.endswith(tail):
            url = url[: -len(tail)]
    return url if url.endswith("/v1") else url + "/v1"


def normalize_ollama_url(url: str) -> str:
    """Ollama's root URL. Accepts OLLAMA_HOST forms (`0.0.0.0`, `host:port`, no scheme: port 11434 is
    implied when no scheme is given) and strips a trailing `/api`."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
        parts = urlsplit(url)
        if parts.port is None and parts.hostname:
            url = urlunsplit(parts._replace(netloc=f"{parts.netloc}:{OLLAMA_PORT}"))
    if url.endswith("/api"):
        url = url[: -len("/api")]
    return url


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _error_detail(resp: httpx.Response) -> str:
    """The server's own error text (untruncated): OpenAI `{"error": {"message"}}`, Ollama `{"error": "..."}`,
    FastAPI `{"detail"}`, or the raw body."""
    try:
        body = load_json(resp.content)
    except UntrustedJSON:
        return resp.text.strip() or resp.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err
        if err:
            return err if isinstance(err, str) else str(err)
    return resp.text


def _estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token) for servers that report no usage."""
    return len(text) // 4


def _plausible(reported: int, text: str) -> bool:
    """Whether a server's completion count can be true of `text` (10 tokens for 10 MB cannot)."""
    return reported >= 0 and len(text) <= MAX_CHARS_PER_TOKEN * (reported + 8)


def _cap_text(text: str, tokens: int, max_tokens: int, exact: bool) -> str:
    """`text` cut to what `max_tokens` allows: in proportion when `tokens` is the server's exact count, else
    at MAX_CHARS_PER_TOKEN characters a token (an estimate must never cut an honest reply)."""
    keep = len(text)
    if exact and tokens > max_tokens > 0:
        keep = len(text) * max_tokens // tokens
    return text[: min(keep, max(max_tokens, 1) * MAX_CHARS_PER_TOKEN)]


def _plain_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """Response headers minus the transfer ones, for a response rebuilt from an already-decoded body."""
    drop = {"content-encoding", "content-length", "transfer-encoding"}
    return [(k, v) for k, v in headers.multi_items() if k.lower() not in drop]


class _Attempt:
    """One HTTP exchange, filled in by a worker thread; the caller may stop waiting for it at any time."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.cancel = threading.Event()  # set by the caller: the worker stops reading at its next chunk
        self.received = 0  # body bytes so far
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None
        self.too_large = False
        self.in_time = False  # finished before the caller stopped waiting


class _GaveUp(Exception):
    """The attempt did not finish by its deadline."""


class ServerReplyError(BackendError):
    """The server answered, but not usefully: an HTTP error status, or a body that is not JSON."""

    def __init__(self, message: str, status: int, detail: str = "") -> None:
        super().__init__(message)
        self.status, self.detail = status, detail

    def names(self, *words: str) -> bool:
        """Whether the server's error text mentions any of `words` (case-insensitive)."""
        low = self.detail.lower()
        return any(w in low for w in words)


class _HTTPBackend:
    """Shared plumbing: one httpx client, retries with backoff, error lines without secrets."""

    name = "http"
    start_hint = "is the server running?"

    def __init__(self, *, base_url: str, model: str | None, api_key: str | None, timeout: float,
                 connect_timeout: float, retries: int, backoff: float, max_retry_after: float,
                 sleep: Callable[[float], None] | None, max_reply_bytes: int = MAX_REPLY_BYTES) -> None:
        if retries < 0:
            raise AgentError(f"{self.name} backend: retries must be >= 0, got {retries}")
        if timeout <= 0 or connect_timeout <= 0:
            raise AgentError(f"{self.name} backend: timeouts must be > 0 seconds")
        if max_reply_bytes < 1:
            raise AgentError(f"{self.name} backend: max_reply_bytes must be >= 1, got {max_reply_bytes}")
        self.max_reply_bytes = int(max_reply_bytes)
        self.base_url = base_url
        self._model = model or None
        self._server_default = False  # no model given and none listed: requests name none
        self._reply_model: str | None = None  # the model a reply named, when requests name none
        self.schema_support: bool | None = None  # None: not yet known; False: refused or ignored, not sent
        self.n_support: bool | None = None  # OpenAI's `n`: None not yet known, False the server ignored it
        self.__api_key = api_key or None
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_retry_after = float(max_retry_after)
        self._sleep = sleep or time.sleep
        host = urlsplit(base_url).hostname or ""
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
            # A server on this machine never needs the user's HTTP proxy; a remote API may.
            trust_env=host not in _LOOPBACK,
        )

    # -- public helpers ------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        """The model name; asked from the server on first use when none was given."""
        return self.resolve_model()

    def resolve_model(self, deadline: float | None = None) -> str:
        """The model name, asking the server (within `deadline`, monotonic) when none was given; when the
        server lists none, the one its replies name (SERVER_DEFAULT_MODEL before the first reply)."""
        if self._model is None and not self._server_default:
            found = self._discover_model(deadline)
            if found is None:
                self._server_default = True
            else:
                self._model = found
        return self._model or self._reply_model or SERVER_DEFAULT_MODEL

    @property
    def has_api_key(self) -> bool:
        return self.__api_key is not None

    def describe(self) -> dict[str, Any]:
        """What a trace may record about this backend (never the key; no network call)."""
        return {"backend": self.name, "base_url": _strip_userinfo(self.base_url),
                "model": self._model or self._reply_model, "api_key": "set" if self.__api_key else None}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> _HTTPBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        key = "'***'" if self.__api_key else "None"
        return (f"{type(self).__name__}(base_url={_strip_userinfo(self.base_url)!r}, model={self._model!r}, "
                f"api_key={key}, timeout={self.timeout}, retries={self.retries})")

    # -- subclass hooks ------------------------------------------------------------------------------

    def _discover_model(self, deadline: float | None) -> str | None:
        """The model to name in requests, or None for the server's default."""
        raise NotImplementedError

    def _client_error(self, method: str, url: str, resp: httpx.Response, detail: str) -> BackendError:
        """A 4xx other than 429: the request itself is wrong, so no retry."""
        if resp.status_code in (401, 403):
            hint = "check the API key (OPENAI_API_KEY)"
        elif resp.status_code == 404:
            hint = "check --model and --base-url"
        else:
            hint = "check --model"
        return self._error(method, url, f"HTTP {resp.status_code}: {detail}", hint)

    # -- plumbing ------------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        if self.__api_key and self.__api_key in text:
            text = text.replace(self.__api_key, "***")
        return text

    def _snippet(self, text: str, limit: int = 200) -> str:
        """Server-provided text made safe for a message: key removed *before* truncation, one line."""
        return _one_line(self._redact(text), limit)

    def _error(self, method: str, url: str, cause: str, hint: str) -> BackendError:
        line = f"{self.name} backend: {method} {_strip_userinfo(url)} failed: {cause}; {hint}"
        return BackendError(_one_line(self._redact(line), limit=600))

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.__api_key:
            headers["Authorization"] = f"Bearer {self.__api_key}"
        return headers

    def _fetch(self, method: str, url: str, payload: dict[str, Any] | None, timeout: httpx.Timeout,
               att: _Attempt) -> None:
        """Worker thread: send, stream the body in (stopping at the byte cap or when cancelled), record."""
        try:
            with self._client.stream(method, url, json=payload, headers=self._headers(), timeout=timeout) as resp:
                body = bytearray()
                for chunk in resp.iter_bytes():
                    if att.cancel.is_set():
                        return
                    body += chunk
                    att.received = len(body)
                    if len(body) > self.max_reply_bytes:
                        att.too_large = True
                        return
                att.response = httpx.Response(resp.status_code, headers=_plain_headers(resp.headers),
                                              content=bytes(body))
        except BaseException as exc:  # handed to the caller, which maps it to a BackendError
            att.error = exc
        finally:
            att.done.set()

    def _exchange(self, method: str, url: str, payload: dict[str, Any] | None, stop_at: float) -> _Attempt:
        """One attempt, waited for until `stop_at` (monotonic) at the latest; unfinished, it is cancelled."""
        left = max(stop_at - time.monotonic(), 0.001)
        # Per-read limits no longer than the wait, so an abandoned worker never outlives it by much.
        timeout = httpx.Timeout(min(self.timeout, left), connect=min(self.connect_timeout, left))
        att = _Attempt()
        threading.Thread(target=self._fetch, args=(method, url, payload, timeout, att), daemon=True,
                         name=f"{self.name}-request").start()
        att.in_time = att.done.wait(left)
        if not att.in_time:
            att.cancel.set()
        return att

    def _deadline_error(self, method: str, url: str, received: int, last: str) -> DeadlineExceeded:
        got = f"{received:,} bytes of the answer had arrived" if received else "no answer yet"
        cause = f"the run's wall-clock budget ran out ({got}{'; before that: ' + last if last else ''})"
        line = self._error(method, url, cause, "raise --timeout (budget.wall_s), lower "
                                               "budget.max_tokens_per_call or use a faster model")
        return DeadlineExceeded(str(line), received_bytes=received)

    def _too_large_error(self, method: str, url: str, received: int) -> ReplyTooLarge:
        line = self._error(method, url, f"the reply passed max_reply_bytes ({self.max_reply_bytes:,} bytes) "
                                        f"and was cut there", "the server ignored max_tokens; check its "
                                                              "settings or raise max_reply_bytes")
        return ReplyTooLarge(str(line), received_bytes=received)

    def _request(self, method: str, url: str, payload: dict[str, Any] | None = None,
                 deadline: float | None = None) -> tuple[Any, int]:
        """Send one request with retries, each attempt within `timeout` in total and all of them within
        `deadline` (monotonic, the run's); returns (parsed JSON body, attempts used)."""
        attempts = self.retries + 1
        cause, hint = "", ""
        last_status: int | None = None  # the last HTTP status the server answered with, if any
        for attempt in range(attempts):
            delay = self.backoff * (2 ** attempt)
            att = self._exchange(method, url, payload, self._attempt_stop(method, url, deadline, cause))
            last_status = None
            failure = self._transport_failure(method, url, att, deadline, cause)
            if failure is not None:
                cause, hint = failure
            else:
                assert att.response is not None
                resp = att.response
                last_status = resp.status_code
                if last_status < 400:
                    return self._json_answer(method, url, resp), attempt + 1
                cause, hint, wait = self._status_failure(method, url, resp)
                if wait is not None:
                    delay = min(wait, self.max_retry_after)
            if deadline is not None and time.monotonic() >= deadline:
                raise self._deadline_error(method, url, 0, cause)
            if attempt + 1 < attempts and delay > 0:
                if deadline is not None:
                    delay = min(delay, max(deadline - time.monotonic(), 0.0))
                self._sleep(delay)
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        err = self._error(method, url, cause + tries, hint)
        if last_status is not None:  # the last attempt got an answer (429 or 5xx)
            raise ServerReplyError(str(err), last_status, cause)
        raise err

    def _attempt_stop(self, method: str, url: str, deadline: float | None, last_cause: str) -> float:
        """When the next attempt is given up (monotonic): `timeout` from now, or the run's deadline if sooner;
        a deadline already passed ends the request here."""
        stop_at = time.monotonic() + self.timeout
        if deadline is not None:
            if time.monotonic() >= deadline:
                raise self._deadline_error(method, url, 0, last_cause)
            stop_at = min(stop_at, deadline)
        return stop_at

    def _transport_failure(self, method: str, url: str, att: _Attempt, deadline: float | None,
                           last_cause: str) -> tuple[str, str] | None:
        """Why an attempt got no HTTP answer, as (cause, hint) worth a retry; raises where a retry cannot help
        (the deadline passed, the reply was too large, the URL is not HTTP). None: the server answered."""
        try:
            if not att.in_time:
                raise _GaveUp()
            if att.too_large:
                raise self._too_large_error(method, url, att.received)
            if att.error is not None:
                raise att.error
        except _GaveUp:
            if deadline is not None and time.monotonic() >= deadline:
                raise self._deadline_error(method, url, att.received, last_cause) from None
            return (f"no answer within {self.timeout:g}s",
                    "raise request_timeout_s, lower budget.max_tokens_per_call or use a smaller model")
        except httpx.UnsupportedProtocol as exc:
            raise self._error(method, url, _one_line(str(exc)), "check --base-url") from exc
        except httpx.ConnectTimeout:
            return f"could not connect within {self.connect_timeout:g}s", self.start_hint
        except httpx.TimeoutException:
            return (f"no answer within {self.timeout:g}s",
                    "raise request_timeout_s, lower budget.max_tokens_per_call or use a smaller model")
        except httpx.ConnectError as exc:
            return f"cannot connect ({_one_line(str(exc)) or type(exc).__name__})", self.start_hint
        except httpx.RemoteProtocolError:
            return ("the server closed the connection without answering",
                    f"check the server log; {self.start_hint}")
        except httpx.TransportError as exc:
            return f"{type(exc).__name__}: {_one_line(str(exc))}", self.start_hint
        return None

    def _status_failure(self, method: str, url: str, resp: httpx.Response) -> tuple[str, str, float | None]:
        """An HTTP error status as (cause, hint, the server's Retry-After) worth a retry (429, 5xx); any other
        4xx raises, since the same request would fail again."""
        status = resp.status_code
        if status == 429:
            return ("rate limited (HTTP 429)", "wait a moment, or lower the request rate",
                    _retry_after(resp.headers.get("Retry-After")))
        if status >= 500:
            return f"HTTP {status}: {self._snippet(_error_detail(resp))}", "check the server log", None
        detail = self._snippet(_error_detail(resp))
        err = self._client_error(method, url, resp, detail)
        raise ServerReplyError(str(err), status, detail) from None

    def _json_answer(self, method: str, url: str, resp: httpx.Response) -> Any:
        """A successful answer's body, size- and depth-bounded, lone surrogates replaced
        (hrm_agent.untrusted)."""
        try:
            return load_json(resp.content, max_bytes=self.max_reply_bytes)
        except UntrustedJSON:
            err = self._error(method, url, f"the answer is not JSON ({self._snippet(resp.text, 80)!r})",
                              f"check that --base-url points at a {self.name} server")
            raise ServerReplyError(str(err), resp.status_code) from None

    def _note_structured(self, structured: str, text: str, finish: str | None) -> str:
        """After a reply asked for under a schema: a whole reply that is not a JSON object means the server
        ignored the field, so it is not sent again ("ignored"); a JSON object shows it is honoured."""
        if structured not in ("response_format", "format") or finish == "length":
            return structured
        try:
            is_object = isinstance(load_json(text), dict)
        except UntrustedJSON:
            is_object = False
        if not is_object:
            self.schema_support = False
            return "ignored"
        self.schema_support = True
        return structured

    def _malformed(self, method: str, url: str, what: str) -> BackendError:
        return self._error(method, url, f"unexpected answer: {what}",
                           f"check that --base-url points at a {self.name} server")

    def _result(self, messages: list[Message], text: str, prompt_tokens: Any, completion_tokens: Any,
                latency: float, finish: str | None, extra: dict[str, Any], max_tokens: int) -> ChatResult:
        """A ChatResult held to `max_tokens`: token counts the server left out, or that cannot be true of the
        text received, are estimated from it (the larger count wins) and flagged; a longer text is cut."""
        exact = isinstance(completion_tokens, int) and _plausible(completion_tokens, text)
        if not isinstance(prompt_tokens, int):
            extra["estimated_tokens"] = True
            prompt_tokens = _estimate_tokens("".join(str(m.get("content", "")) for m in messages))
        if not exact:
            extra["estimated_tokens"] = True
            if isinstance(completion_tokens, int):
                extra["reported_completion_tokens"] = completion_tokens
                completion_tokens = max(completion_tokens, _estimate_tokens(text))
            else:
                completion_tokens = _estimate_tokens(text)
        kept = _cap_text(text, completion_tokens, max_tokens, exact)
        if len(kept) < len(text):
            extra["truncated_chars"] = len(text)
            text, finish = kept, "length"
        if finish not in (None, "stop", "length"):
            extra["finish_reason_raw"] = finish
        return ChatResult(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          latency_s=latency, model=self.model,
                          finish_reason="length" if finish == "length" else "stop", extra=extra)


class OpenAIBackend(_HTTPBackend):
    """Any server speaking OpenAI's `/v1/chat/completions`: `mlx_lm.server`, llama.cpp, vLLM, LM Studio,
    Ollama's `/v1`, or the hosted API."""

    name = "openai"
    start_hint = (f"is the server running? start one with `mlx_lm.server --model {EXAMPLE_MLX_MODEL}` "
                  f"or pass --base-url")

    def __init__(self, model: str | None = None, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0, connect_timeout: float = 10.0, retries: int = 2,
                 backoff: float = 0.5, max_retry_after: float = 30.0,
                 sleep: Callable[[float], None] | None = None, max_reply_bytes: int = MAX_REPLY_BYTES) -> None:
        raw = base_url or _env("OPENAI_API_BASE", "OPENAI_BASE_URL") or DEFAULT_OPENAI_URL
        url = normalize_openai_url(raw)
        _check_url(self.name, url, DEFAULT_OPENAI_URL)
        super().__init__(base_url=url, model=model or _env("OPENAI_MODEL"),
                         api_key=api_key or _env("OPENAI_API_KEY"), timeout=timeout,
                         connect_timeout=connect_timeout, retries=retries, backoff=backoff,
                         max_retry_after=max_retry_after, sleep=sleep, max_reply_bytes=max_reply_bytes)

    def _discover_model(self, deadline: float | None) -> str | None:
        """The first model `/v1/models` lists; None (the server's default) when it answers with an error
        status, an unreadable body or an empty list. A server that cannot be reached is an error here."""
        url = f"{self.base_url}/models"
        try:
            body, _ = self._request("GET", url, deadline=deadline)
        except DeadlineExceeded:
            raise
        except ServerReplyError:
            return None
        except BackendError as exc:
            raise BackendError(f"{exc} (no model given: pass --model or set OPENAI_MODEL)") from exc
        items = body.get("data", body.get("models")) if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else []:
            name = item.get("id") or item.get("name") or item.get("model") if isinstance(item, dict) else item
            if isinstance(name, str) and name:
                return name
        return None

    def chat(self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0,
             stop: list[str] | None = None, deadline: float | None = None,
             schema: dict[str, Any] | None = None, seed: int | None = None) -> ChatResult:
        """One chat completion within `deadline` (monotonic); latency covers the whole call, retries included.

        With `schema`, `response_format` asks for a reply under it (see the module docstring for servers
        that refuse or ignore it); `extra["structured"]` says what happened. `seed` is sent as OpenAI's
        `seed` (servers that do not know it ignore it).
        """
        return self._completions(messages, 1, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                 deadline=deadline, schema=schema, seed=seed)[0]

    def chat_samples(self, conversations: list[list[Message]], *, seeds: list[int], max_tokens: int = 512,
                     temperature: float = 0.7, stop: list[str] | None = None, deadline: float | None = None,
                     schema: dict[str, Any] | None = None) -> list[ChatResult]:
        """One reply per conversation: equal conversations as one request with OpenAI's `n` (the prompt read
        once), the rest, and the choices a server that ignores `n` did not send, as parallel requests with
        their own seeds, all within `deadline`."""
        from hrm_agent.backends.sampling import parallel_chats

        out: list[ChatResult | None] = [None] * len(conversations)
        groups: dict[str, list[int]] = {}
        for i, messages in enumerate(conversations):
            groups.setdefault(repr(messages), []).append(i)
        for members in groups.values():
            if len(members) < 2 or self.n_support is False:
                continue
            got = self._completions(conversations[members[0]], len(members), max_tokens=max_tokens,
                                    temperature=temperature, stop=stop, deadline=deadline, schema=schema,
                                    seed=seeds[members[0]])
            self.n_support = len(got) >= len(members)  # one choice back: the server ignores n
            for i, result in zip(members, got):
                result.extra.update(sample=i, seed=seeds[members[0]], n=len(members))
                out[i] = result
        rest = [i for i, r in enumerate(out) if r is None]
        if rest:
            more = parallel_chats(self, [conversations[i] for i in rest], seeds=[seeds[i] for i in rest],
                                  max_tokens=max_tokens, temperature=temperature, stop=stop, deadline=deadline,
                                  schema=schema)
            for i, result in zip(rest, more):
                result.extra["sample"] = i
                out[i] = result
        return [r for r in out if r is not None]

    def _completions(self, messages: list[Message], n: int, *, max_tokens: int, temperature: float,
                     stop: list[str] | None, deadline: float | None, schema: dict[str, Any] | None,
                     seed: int | None) -> list[ChatResult]:
        """`n` choices of one request (fewer when the server ignores `n`); the usage is the request's: the
        prompt counted on the first choice only, the completion tokens shared out by length."""
        start = time.perf_counter()
        url = f"{self.base_url}/chat/completions"
        model = self.resolve_model(deadline)
        payload: dict[str, Any] = {"messages": list(messages), "max_tokens": max_tokens,
                                   "temperature": temperature, "stream": False}
        if not self._server_default:
            payload = {"model": model, **payload}
        if n > 1:
            payload["n"] = n
        if seed is not None:
            payload["seed"] = int(seed)
        if stop:
            payload["stop"] = list(stop)
        structured = ""
        if schema is not None and self.schema_support is False:
            structured = "unsupported"
        elif schema is not None:
            structured = "response_format"
            name = re.sub(r"[^a-z0-9_-]+", "_", str(schema.get("title") or "reply").lower())  # OpenAI's rule
            payload["response_format"] = {"type": "json_schema",
                                          "json_schema": {"name": name, "schema": schema, "strict": True}}
        try:
            body, attempts = self._request("POST", url, payload, deadline)
        except ServerReplyError as exc:
            refused = exc.status in (400, 422) and exc.names(*_SCHEMA_WORDS)
            if "response_format" not in payload or not refused:
                raise
            self.schema_support, structured = False, "rejected"  # this server refuses it: never sent again
            payload.pop("response_format")
            body, attempts = self._request("POST", url, payload, deadline)
        latency = time.perf_counter() - start
        choices = body.get("choices") if isinstance(body, dict) else None
        texts, finishes = [], []
        for choice in (choices if isinstance(choices, list) else [None])[:max(n, 1)]:
            try:
                text = choice["message"].get("content") or ""
                finish = choice.get("finish_reason")
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise self._malformed("POST", url, "no choices[0].message in the JSON") from exc
            if not isinstance(text, str):
                raise self._malformed("POST", url, "choices[0].message.content is not text")
            texts.append(text)
            finishes.append(finish)
        if not texts:
            raise self._malformed("POST", url, "no choices[0].message in the JSON")
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        named = body.get("model")
        if self._server_default and isinstance(named, str) and named.strip():
            self._reply_model = named.strip()
        completion = usage.get("completion_tokens")
        total_chars = sum(len(t) for t in texts) or 1
        out = []
        for i, (text, finish) in enumerate(zip(texts, finishes)):
            extra: dict[str, Any] = {"attempts": attempts}
            if structured:
                extra["structured"] = self._note_structured(structured, text, finish)
            share = completion
            if len(texts) > 1:  # one usage for all choices: the prompt once, the completion by length
                extra["split_usage"] = True
                share = round(completion * len(text) / total_chars) if isinstance(completion, int) else None
                if i:
                    extra["shared_prefill"] = True
            out.append(self._result(messages, text, usage.get("prompt_tokens"), share, latency, finish, extra,
                                    max_tokens))
        return out


class OllamaBackend(_HTTPBackend):
    """Ollama's native `/api/chat` (non-streaming), which reports exact prompt and completion token counts."""

    name = "ollama"
    start_hint = "is Ollama running? start it with `ollama serve` or pass --base-url"

    def __init__(self, model: str | None = None, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0, connect_timeout: float = 10.0, retries: int = 2,
                 backoff: float = 0.5, max_retry_after: float = 30.0,
                 sleep: Callable[[float], None] | None = None, max_reply_bytes: int = MAX_REPLY_BYTES) -> None:
        raw = base_url or _env("OLLAMA_BASE_URL", "OLLAMA_HOST") or DEFAULT_OLLAMA_URL
        url = normalize_ollama_url(raw)
        _check_url(self.name, url, DEFAULT_OLLAMA_URL)
        super().__init__(base_url=url, model=model or _env("OLLAMA_MODEL"), api_key=api_key,
                         timeout=timeout, connect_timeout=connect_timeout, retries=retries, backoff=backoff,
                         max_retry_after=max_retry_after, sleep=sleep, max_reply_bytes=max_reply_bytes)

    def _discover_model(self, deadline: float | None) -> str:
        url = f"{self.base_url}/api/tags"
        try:
            body, _ = self._request("GET", url, deadline=deadline)
        except DeadlineExceeded:
            raise
        except BackendError as exc:
            raise BackendError(f"{exc} (no model given: pass --model)") from exc
        for item in (body.get("models") if isinstance(body, dict) else None) or []:
            name = item.get("name") or item.get("model") if isinstance(item, dict) else None
            if isinstance(name, str) and name:
                return name
        raise self._error("GET", url, "Ollama has no models", "run `ollama pull <model>` or pass --model")

    def _client_error(self, method: str, url: str, resp: httpx.Response, detail: str) -> BackendError:
        low = detail.lower()
        if resp.status_code == 404 and "not found" in low and "model" in low:
            model = self._model or "<model>"
            return self._error(method, url, f"model '{model}' not found",
                               f"run `ollama pull {model}` (see `ollama list`) or check --model")
        return super()._client_error(method, url, resp, detail)

    def chat(self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0,
             stop: list[str] | None = None, deadline: float | None = None,
             schema: dict[str, Any] | None = None, seed: int | None = None) -> ChatResult:
        """One `/api/chat` call within `deadline` (monotonic); latency covers the whole call and its retries.

        With `schema`, Ollama's `format` field carries it (Ollama 0.5+ generates under it); an Ollama that
        refuses it is asked again without it and not asked again. `seed` goes in `options`.
        """
        start = time.perf_counter()
        url = f"{self.base_url}/api/chat"
        options: dict[str, Any] = {"temperature": temperature, "num_predict": max_tokens}
        if seed is not None:
            options["seed"] = int(seed)
        if stop:
            options["stop"] = list(stop)
        payload: dict[str, Any] = {"model": self.resolve_model(deadline), "messages": list(messages),
                                   "stream": False, "options": options}
        structured = ""
        if schema is not None and self.schema_support is False:
            structured = "unsupported"
        elif schema is not None:
            structured, payload["format"] = "format", schema
        try:
            body, attempts = self._request("POST", url, payload, deadline)
        except ServerReplyError as exc:
            if "format" not in payload or exc.status not in (400, 422) or not exc.names("format", "schema"):
                raise
            self.schema_support, structured = False, "rejected"
            payload.pop("format")
            body, attempts = self._request("POST", url, payload, deadline)
        latency = time.perf_counter() - start
        try:
            text = body["message"].get("content") or ""
        except (KeyError, TypeError, AttributeError) as exc:
            raise self._malformed("POST", url, "no message in the JSON") from exc
        if not isinstance(text, str):
            raise self._malformed("POST", url, "message.content is not text")
        extra: dict[str, Any] = {"attempts": attempts}
        if isinstance(body.get("total_duration"), (int, float)):
            extra["server_duration_s"] = body["total_duration"] / 1e9
        finish = body.get("done_reason") or ("stop" if body.get("done") else None)
        if structured:
            extra["structured"] = self._note_structured(structured, text, finish)
        return self._result(messages, text, body.get("prompt_eval_count"), body.get("eval_count"),
                            latency, finish, extra, max_tokens)


def make_backend(kind: str, *, model: str | None = None, base_url: str | None = None,
                 api_key: str | None = None, timeout: float = 120.0, retries: int = 2, **kw: Any) -> Backend:
    """The backend called `kind` ("mlx", "openai" or "ollama"); extra keywords go to its constructor."""
    name = (kind or "").strip().lower()
    if name == "openai":
        return OpenAIBackend(model=model, base_url=base_url, api_key=api_key, timeout=timeout,
                             retries=retries, **kw)
    if name == "ollama":
        return OllamaBackend(model=model, base_url=base_url, api_key=api_key, timeout=timeout,
                             retries=retries, **kw)
    if name == "mlx":
        if base_url or api_key:
            raise AgentError("--base-url applies to the openai and ollama backends, not mlx; drop it or pass "
                             "--backend openai")
        try:
            from hrm_agent.backends.mlx_backend import MLXBackend
        except ImportError as exc:
            raise BackendError(f"mlx backend: cannot load MLX ({_one_line(str(exc))}); "
                               f"install mlx-lm, or use --backend openai / ollama") from exc
        return MLXBackend(model=model, **kw)
    raise AgentError(f"unknown backend '{kind}'; choose one of: {', '.join(BACKEND_KINDS)}")
