"""Agent traces: one JSON event per line, appended and flushed as it happens.

A viewer (`hrm agent show`, the dashboard) can follow a run live by re-reading the file; a
half-written last line (the writer is mid-flush) is skipped, never an error. A write that fails (disk
full, read-only) is cut back to the last whole event and raises WriteError (exit 4). Texts longer than
TEXT_LIMIT characters are stored cut, with their full length beside them, so a runaway model reply
can never grow a trace to many MB. The schema is in docs/agent-trace.md.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from hrm_agent.errors import AgentError
from hrm_engine.writes import append_all, writing

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
                out[k], out[f"{k}_chars"] = clip_text(v), len(v)
            else:
                out[k] = _scrub(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return clip_text(value)
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

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"seq": self._seq, "event": event, "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                  "elapsed_s": round(time.monotonic() - self._t0, 3), **_scrub(fields)}
        self._seq += 1
        with writing(self.path):
            append_all(self._fh, (json.dumps(record, ensure_ascii=False, default=repr) + "\n").encode())
            if event in ("run_start", "run_end"):
                os.fsync(self._fh.fileno())
        if self.listener is not None:
            self.listener(record)
        return record

    def close(self) -> None:
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
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                raise AgentError(f"{p}:{lineno}: not a JSON event; is this an hrm agent trace?") from None
