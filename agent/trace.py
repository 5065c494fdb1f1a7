"""Agent traces: one JSON event per line, appended and flushed as it happens.

A viewer (`hrm agent show`, the dashboard) can follow a run live by re-reading the file; a
half-written last line (the writer is mid-flush) is skipped, never an error. A write that fails (disk
full, read-only) is cut back to the last whole event and raises WriteError (exit 4). Texts longer than
TEXT_LIMIT characters are stored cut, with their full length beside them, so a runaway model reply
can never grow a trace to many MB. Lone surrogates (a RESULT of "\\ud800" decodes to one) are written as
U+FFFD, so no text can make a write fail. `emit` is thread-safe, and `seal` ends the trace for good: the
run's watchdog (hrm_agent.runner) writes the last events while a stuck step may still try to emit. The
schema is in docs/agent-trace.md.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from hrm_agent.errors import AgentError
from hrm_agent.untrusted import UntrustedJSON, clean, load_json
from hrm_datasets.files import append_all, writing

SCHEMA_VERSION = 1

# Keys whose values are secrets: never written, whatever the caller passes.
_SECRET_KEYS = {"api_key", "authorization", "openai_api_key", "token", "password"}
TEXT_LIMIT = 20_000  # characters of one text kept in a trace (prompts, replies and code are far shorter)
CUT_MARK = " …[cut: {n:,} chars in all]"


def new_run_id() -> str:
    """Sortable and unique: UTC time plus 4 random hex digits."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def clip_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text`, or its first `limit` characters and a mark giving the full length."""
    return text if len(text) <= limit else text[:limit] + CUT_MARK.format(n=len(text))


def _scrub(value: Any) -> Any:
    """Secrets masked and long texts cut; a cut text under key `k` gets `k_chars`, its full length."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if str(k).lower() in _SECRET_KEYS:
                out[k] = "***"
            elif isinstance(v, str) and len(v) > TEXT_LIMIT:
                out[k], out[f"{k}_chars"] = clip_text(clean(v)), len(v)
            else:
                out[k] = _scrub(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return clip_text(clean(value))
    return value


class TraceWriter:
    """Appends events to `<dir>/trace.jsonl`; each event carries seq, time and seconds since start."""

    def __init__(self, run_dir: str | Path, listener: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.dir = Path(run_dir)
        self.listener = listener  # e.g. `hrm agent run --verbose` printing steps as they happen
        self.path = self.dir / "trace.jsonl"
        with writing(self.path):
            self.dir.mkdir(parents=True, exist_ok=True)
            # unbuffered: each event reaches the file whole (or, on a full disk, not at all) as it happens
            self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open for the run
        self._t0 = time.monotonic()
        self._seq = 0
        self.lock = threading.RLock()  # held for one whole event; the watchdog takes it too
        self.sealed = False

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event (nothing once sealed) and tell the listener; returns the record."""
        fields = _scrub(fields)
        with self.lock:
            record = {"seq": self._seq, "event": event,
                      "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                      "elapsed_s": round(time.monotonic() - self._t0, 3), **fields}
            if self.sealed:
                return record
            self._seq += 1
            line = clean(json.dumps(record, ensure_ascii=False, default=repr)) + "\n"  # repr() may hold one too
            with writing(self.path):
                append_all(self._fh, line.encode("utf-8"))
                if event in ("run_start", "run_end"):
                    os.fsync(self._fh.fileno())
        if self.listener is not None:
            self.listener(record)
        return record

    def seal(self) -> None:
        """No event is written after this one returns (the run has ended, or its watchdog ended it)."""
        with self.lock:
            self.sealed = True

    def close(self) -> None:
        with self.lock:
            self.sealed = True
            if not self._fh.closed:
                self._fh.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def resolve_trace(path: str | Path) -> Path:
    """A trace file, or a run directory holding trace.jsonl."""
    p = Path(path)
    if p.is_dir():
        p = p / "trace.jsonl"
    if not p.is_file():
        raise AgentError(f"no trace at {path}: pass runs/agent/<id> or its trace.jsonl")
    return p


def read_trace(path: str | Path) -> list[dict[str, Any]]:
    """All complete events of a trace (a partial last line from a live run is skipped)."""
    return list(iter_trace(path))


def iter_trace(path: str | Path) -> Iterator[dict[str, Any]]:
    p = resolve_trace(path)
    with open(p, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.endswith("\n"):
                return  # being written right now
            line = line.strip()
            if not line:
                continue
            try:  # depth-bounded: `hrm agent show` may be pointed at any file
                yield load_json(line, max_bytes=1 << 30, max_depth=200)
            except UntrustedJSON:
                raise AgentError(f"{p}:{lineno}: not a JSON event; is this an hrm agent trace?") from None
