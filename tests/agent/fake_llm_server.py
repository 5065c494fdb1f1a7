"""A real HTTP LLM server for tests: speaks OpenAI and Ollama, replays a script of answers and failures.

    server = FakeLLMServer().start()          # or the `fake_llm` fixture
    server.script(["answer 1", {"status": 500}, "answer 2"])
    backend = OpenAIBackend(base_url=server.url)          # server.url has no /v1
    ...
    server.chat_requests[0].messages, server.chat_requests[0].authorization

Each chat request (`POST /v1/chat/completions` or `POST /api/chat`) takes the next script item:
  "text"                                  answer with this text
  {"text": "...", "finish_reason": "length", "prompt_tokens": 9, "completion_tokens": 2,
   "usage": False, "delay": 0.05}         answer with options (usage False: no token counts in the answer)
  {"status": 500, "error": "msg"}         that HTTP status with an error body in the protocol's shape
  {"status": 429, "retry_after": 0}       ... plus a Retry-After header
  {"hang": 2.0}                           sleep (past the client timeout), then close without answering
  {"silent": True}                        accept the request and never answer (until the server stops)
  {"drip": 1.0, "text": "..."}            send the headers, then the answer one byte every 1.0 s (keeps
                                          every per-read timeout alive; never finishes a real answer)
  {"huge": 10_000_000}                    answer with a text of that many bytes, claiming 10 completion
                                          tokens (override with "completion_tokens")
  {"drop": True}                          close the connection without any response
  {"raw": "not json", "status": 200}      this body verbatim
  callable(request) -> item               decide from the request (e.g. its last user message)
When the script runs out the server answers `default` if set, else HTTP 400 "script exhausted".
`GET /v1/models` and `GET /api/tags` list `server.models`; `/api/chat` answers 404 "model ... not found"
(like Ollama) for a model not in `server.models`. Token counts default to whitespace-separated words.

    FakeLLMServer(models_reply={"raw": ""})       `/v1/models` answers with that item instead (a 200 with an
                                                  empty body is what mlx_lm.server sends without an HF cache)
    FakeLLMServer(rejects={"response_format"})    a chat request carrying that field gets HTTP 400 naming it
                                                  (consuming no script item), like a server without support
    FakeLLMServer(honours_n=True)                 an OpenAI request with `n` > 1 takes n script items and
                                                  answers them as n choices (otherwise `n` is ignored: one)
A chat request without a model field is answered as `server.default_model_name`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Union

Item = Union[str, dict, Callable[["RecordedRequest"], Any]]


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    raw: bytes = b""
    time: float = field(default_factory=time.time)

    @property
    def protocol(self) -> str:
        return "ollama" if self.path.startswith("/api/") else "openai"

    @property
    def is_chat(self) -> bool:
        return self.method == "POST" and self.path in ("/v1/chat/completions", "/api/chat")

    @property
    def messages(self) -> list[dict[str, str]]:
        return list((self.body or {}).get("messages", [])) if isinstance(self.body, dict) else []

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def last_user(self) -> str:
        """Content of the last user message ("" if none): what a scripted callable usually looks at."""
        for msg in reversed(self.messages):
            if msg.get("role") == "user":
                return str(msg.get("content", ""))
        return ""

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


def _words(text: str) -> int:
    return len(str(text).split())


def _filler(n: int) -> str:
    """`n` bytes of plain words (ASCII, so characters and bytes agree)."""
    return ("lorem ipsum dolor sit amet " * (n // 27 + 1))[:n]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request logging
        pass

    def do_GET(self) -> None:
        self.server.fake._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._handle(self, "POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLMServer


class FakeLLMServer:
    """A scripted OpenAI + Ollama server on 127.0.0.1 (random port) in a background thread."""

    def __init__(self, models: Iterable[str] = ("fake-model",), default: Item | None = None, *,
                 models_reply: dict | None = None, rejects: Iterable[str] = (), honours_n: bool = False) -> None:
        self.models: list[str] = list(models)
        self.honours_n = honours_n
        self.default = default
        self.models_reply = models_reply
        self.rejects = set(rejects)
        self.default_model_name = "fake-default-model"
        self._script: deque[Item] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a "hang"
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test API ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL without /v1 (both backends accept it)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    def script(self, items: Iterable[Item], *, default: Item | None = None) -> FakeLLMServer:
        """Replace the pending answers (and the fallback answer once they run out)."""
        with self._lock:
            self._script = deque(items)
            self.default = default
        return self

    def add(self, *items: Item) -> FakeLLMServer:
        """Append answers to the script."""
        with self._lock:
            self._script.extend(items)
        return self

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Only the chat requests (the ones that consume script items)."""
        return [r for r in self.requests if r.is_chat]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- serving -------------------------------------------------------------------------------------

    def _next_item(self, req: RecordedRequest) -> Item:
        with self._lock:
            if self._script:
                item = self._script.popleft()
            elif self.default is not None:
                item = self.default
            else:
                item = {"status": 400, "error": f"fake_llm: script exhausted (request #{len(self._requests)})"}
        return item(req) if callable(item) else item

    def _handle(self, h: _Handler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        req = RecordedRequest(method=method, path=h.path.split("?")[0],
                              headers={k.lower(): v for k, v in h.headers.items()}, body=body, raw=raw)
        with self._lock:
            self._requests.append(req)
        ollama = req.protocol == "ollama"
        if method == "GET" and req.path == "/v1/models" and self.models_reply is not None:
            reply = self.models_reply
            if "raw" in reply:
                return self._send_bytes(h, int(reply.get("status", 200)), str(reply["raw"]).encode(),
                                        "application/json")
            return self._send(h, int(reply.get("status", 200)), reply.get("body", self._error_body(False, "no")))
        if method == "GET" and req.path == "/v1/models":
            return self._send(h, 200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "fake"} for m in self.models]})
        if method == "GET" and req.path == "/api/tags":
            return self._send(h, 200, {"models": [{"name": m, "model": m} for m in self.models]})
        if not req.is_chat:
            return self._send(h, 404, {"error": f"no route {method} {req.path}"})
        if body is None or not isinstance(body.get("messages"), list):
            return self._send(h, 400, self._error_body(ollama, "request body must be JSON with messages"))
        if ollama and req.model not in self.models:
            return self._send(h, 404, {"error": f'model "{req.model}" not found, try pulling it first'})
        refused = sorted(self.rejects & set(body))
        if refused:
            return self._send(h, 400, self._error_body(ollama, f"unsupported field: {refused[0]}"))
        item = self._next_item(req)
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict):
            raise TypeError(f"fake_llm: bad script item {item!r}")
        if "hang" in item or item.get("silent"):
            self._stopping.wait(float(item["hang"]) if "hang" in item else None)
            h.close_connection = True
            return None
        if "huge" in item:
            item = {"completion_tokens": 10, **item, "text": _filler(int(item["huge"]))}
        if "drip" in item:
            data = json.dumps(self._answer(req, item, ollama)).encode()
            return self._drip(h, data, float(item["drip"]))
        if item.get("drop"):
            h.close_connection = True
            return None
        if "raw" in item:
            return self._send_bytes(h, int(item.get("status", 200)), str(item["raw"]).encode(),
                                    item.get("content_type", "application/json"))
        if "status" in item and "text" not in item:
            headers = {}
            if "retry_after" in item:
                headers["Retry-After"] = str(item["retry_after"])
            message = item.get("error", f"fake_llm scripted HTTP {item['status']}")
            return self._send(h, int(item["status"]), item.get("body", self._error_body(ollama, message)),
                              headers)
        if item.get("delay"):
            self._stopping.wait(float(item["delay"]))
        answer = self._answer(req, item, ollama)
        n = body.get("n") if isinstance(body.get("n"), int) else 1
        if self.honours_n and not ollama and n > 1:  # the further choices: the next script items' texts
            for k in range(1, n):
                more = self._next_item(req)
                more = {"text": more} if isinstance(more, str) else more
                answer["choices"].append({"index": k, "message": {"role": "assistant", "content": str(more["text"])},
                                          "finish_reason": more.get("finish_reason", "stop")})
                if "usage" in answer:
                    answer["usage"]["completion_tokens"] += _words(more["text"])
                    answer["usage"]["total_tokens"] += _words(more["text"])
        return self._send(h, int(item.get("status", 200)), answer)

    @staticmethod
    def _error_body(ollama: bool, message: str) -> dict[str, Any]:
        return {"error": message} if ollama else {"error": {"message": message, "type": "fake_error"}}

    def _answer(self, req: RecordedRequest, item: dict[str, Any], ollama: bool) -> dict[str, Any]:
        text = str(item.get("text", ""))
        prompt = item.get("prompt_tokens", sum(_words(m.get("content", "")) for m in req.messages))
        completion = item.get("completion_tokens", _words(text))
        finish = item.get("finish_reason", "stop")
        model = req.model or self.default_model_name
        if ollama:
            out: dict[str, Any] = {"model": model, "created_at": "2024-01-01T00:00:00Z",
                                   "message": {"role": "assistant", "content": text},
                                   "done": True, "done_reason": finish, "total_duration": 1_000_000}
            if item.get("usage", True):
                out.update(prompt_eval_count=prompt, eval_count=completion)
            return out
        out = {"id": f"chatcmpl-fake-{len(self._requests)}", "object": "chat.completion",
               "created": int(time.time()), "model": model,
               "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                            "finish_reason": finish}]}
        if item.get("usage", True):
            out["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion,
                            "total_tokens": prompt + completion}
        return out

    def _drip(self, h: _Handler, data: bytes, interval: float) -> None:
        """Headers at once, then one body byte per `interval` until done, stopped or hung up on."""
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.flush()
            for i in range(len(data)):
                if self._stopping.wait(interval):
                    break
                h.wfile.write(data[i:i + 1])
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        h.close_connection = True

    def _send(self, h: _Handler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(h, status, json.dumps(body).encode(), "application/json", headers)

    @staticmethod
    def _send_bytes(h: _Handler, status: int, data: bytes, content_type: str,
                    headers: dict[str, str] | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            h.close_connection = True


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (a port just bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
