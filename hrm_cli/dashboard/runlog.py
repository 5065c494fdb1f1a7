"""Reading run directories while they are written: discovery, status, and incremental JSONL tails.

The dashboard's screens (this folder) are thin views over this module, its only user. Nothing here imports
Textual, so the logic is testable without a terminal.

What a run looks like on disk (docs/run-directory.md, docs/agent-trace.md):

    <runs>/<name>/                 training: run.json (heartbeat), config.yaml, metrics.jsonl, checkpoints/
    <runs>/agent/<id>/             agent: trace.jsonl, result.json once finished
    <runs>/bench/<id>/             agent bench: results.jsonl, summary.json once finished
    <runs>/optimize/<id>/          agent optimize: its files, trace events in the agent format

Files are only ever appended to (JSONL) or replaced atomically (JSON), so a reader keeps a byte offset
per JSONL file and reads only what is new. A line without its newline yet is kept for the next read; a
line that is not a JSON object is counted and skipped, never an error.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from hrm_engine.errors import HRMError
from hrm_datasets.files import pid_alive

KINDS = ("train", "agent", "bench", "optimize")
# A running run whose files have not changed for this long is judged dead (crashed).
TRAIN_STALE_S = 900.0  # training updates run.json every log_interval steps; a long evaluation can pause it
AGENT_STALE_S = 600.0  # a slow local model may think for minutes per call
CHUNK_BYTES = 8 << 20  # one read of a tail: 8 MiB parses in well under a second


class RunLogError(HRMError):
    """A runs directory that cannot be read (e.g. the path is a file)."""


# -- incremental JSONL tail ---------------------------------------------------------------------------------


@dataclass
class TailBatch:
    """What one `JsonlTail.poll` found: new records, and whether earlier ones are void."""

    records: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False  # the file was truncated, replaced or re-created: drop what you had from it
    missing: bool = False  # the file does not exist (not yet, or deleted)


class JsonlTail:
    """Follows an append-only JSONL file, reading only the bytes added since the last poll.

    Keeps a byte offset and the incomplete last line. A file that shrinks or is replaced (another
    inode, as `RunDir.truncate_metrics_after` does on resume) is read again from the start and the
    batch says `reset`. A deleted file keeps what was read (the caller decides) until it re-appears.
    """

    def __init__(self, path: str | Path, *, chunk_bytes: int = CHUNK_BYTES, max_line_bytes: int = 64 << 20) -> None:
        self.path = Path(path)
        self.chunk_bytes = chunk_bytes
        self.max_line_bytes = max_line_bytes
        self.offset = 0  # bytes consumed (complete lines plus the pending partial line)
        self.size = 0  # file size at the last poll
        self.skipped = 0  # lines that were not JSON objects
        self.records = 0  # records returned since the last reset
        self.missing = True
        self._partial = b""
        self._discarding = False  # inside an over-long line: drop bytes until its newline
        self._ident: tuple[int, int] | None = None
        self._seen = False  # the file existed at some poll

    @property
    def caught_up(self) -> bool:
        """True when the last poll read up to the end of the file."""
        return self.offset >= self.size

    @property
    def pending_bytes(self) -> int:
        """Bytes of a last line still waiting for its newline."""
        return len(self._partial)

    def _restart(self) -> None:
        self.offset, self.skipped, self.records = 0, 0, 0
        self._partial, self._discarding = b"", False

    def poll(self, max_bytes: int | None = None) -> TailBatch:
        """Read at most `max_bytes` (default `chunk_bytes`) of new data; call again while not `caught_up`."""
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            self.missing, self._ident, self.size = True, None, 0
            return TailBatch(missing=True)
        ident = (st.st_dev, st.st_ino)
        reset = False
        if self._seen and (self._ident is None or ident != self._ident or st.st_size < self.offset):
            reset = True  # re-created, replaced or truncated
            self._restart()
        self._ident, self.size, self.missing, self._seen = ident, st.st_size, False, True
        if st.st_size <= self.offset:
            return TailBatch(reset=reset)
        want = min(st.st_size - self.offset, max_bytes or self.chunk_bytes)
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(want)
        except (FileNotFoundError, NotADirectoryError):  # deleted between stat and open
            self.missing, self._ident = True, None
            return TailBatch(reset=reset, missing=True)
        self.offset += len(data)
        return TailBatch(self._parse(data), reset=reset)

    def _parse(self, data: bytes) -> list[dict[str, Any]]:
        if self._discarding:
            cut = data.find(b"\n")
            if cut < 0:
                return []
            data, self._discarding = data[cut + 1:], False
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > self.max_line_bytes:
            self.skipped += 1
            self._partial, self._discarding = b"", True
        out = []
        loads = json.loads
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = loads(line)
            except ValueError:  # JSONDecodeError and UnicodeDecodeError
                self.skipped += 1
                continue
            if isinstance(rec, dict):
                out.append(rec)
            else:
                self.skipped += 1
        self.records += len(out)
        return out


def last_jsonl_record(path: Path, window: int = 1 << 16, limit: int = 4 << 20) -> dict[str, Any] | None:
    """The last complete JSON-object line of a file, reading only its end (for the runs list)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            while True:
                start = max(0, size - window)
                fh.seek(start)
                lines = fh.read(size - start).split(b"\n")
                lines.pop()  # after the last newline: empty, or a line still being written
                if start > 0 and lines:
                    lines = lines[1:]  # may begin mid-line
                for line in reversed(lines):
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(rec, dict):
                        return rec
                if start == 0 or window >= limit:
                    return None
                window *= 4
    except OSError:
        return None


def first_jsonl_record(path: Path, limit: int = 4 << 20) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            line = fh.readline(limit)
        rec = json.loads(line) if line.endswith(b"\n") else None
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def read_json(path: Path) -> dict[str, Any] | None:
    """A small JSON object file, or None when missing, half-written or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- discovery ------------------------------------------------------------------------------------------------


@dataclass
class RunInfo:
    """One row of the runs list."""

    path: Path
    kind: str  # train | agent | bench | optimize
    name: str
    status: str  # running | finished | interrupted | crashed | failed | answered | waiting
    progress: str  # current step or result, one short line
    started: float | None  # unix time
    note: str = ""  # why the status was judged so (e.g. "no heartbeat for 20 min")

    @property
    def key(self) -> str:
        return str(self.path)

    @property
    def live(self) -> bool:
        return self.status in ("running", "waiting")


def classify(path: Path) -> str | None:
    """Which kind of run a directory holds, from its files and where it sits; None if not a run."""
    parent = path.parent.name
    if parent == "optimize":
        return "optimize"
    if parent == "bench" or (path / "results.jsonl").is_file():
        return "bench"
    if (path / "trace.jsonl").is_file():
        return "agent"
    if (path / "run.json").is_file() or (path / "metrics.jsonl").is_file():
        return "train"
    if (path / "config.yaml").is_file() and (path / "checkpoints").is_dir():
        return "train"
    if parent == "agent" and (path / "result.json").is_file():
        return "agent"
    return None


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def find_runs(root: Path) -> list[tuple[Path, str]]:
    """Run directories under `root`: root itself, its children, and its children's children.

    Two levels cover `runs/<name>` (training) and `runs/agent/<id>`, `runs/bench/<id>`,
    `runs/optimize/<id>`. A run's own subfolders (checkpoints/, traces/) are not searched.
    """
    kind = classify(root)
    if kind:
        return [(root, kind)]
    found = []
    for child in _subdirs(root):
        kind = classify(child)
        if kind:
            found.append((child, kind))
            continue
        for grandchild in _subdirs(child):
            kind = classify(grandchild)
            if kind:
                found.append((grandchild, kind))
    return found


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _newest_mtime(path: Path) -> float | None:
    times = [t for t in (_mtime(p) for p in [path, *_children(path)]) if t is not None]
    return max(times) if times else None


def _children(path: Path) -> list[Path]:
    try:
        return list(path.iterdir())
    except OSError:
        return []


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _iso_time(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _id_time(name: str) -> float | None:
    """Run ids like 20250101-120000-ab12 (hrm_agent.trace.new_run_id) are UTC times."""
    try:
        return datetime.strptime(name[:15] + "+0000", "%Y%m%d-%H%M%S%z").timestamp()
    except ValueError:
        return None


def training_status(info: dict[str, Any] | None, now: float, stale_s: float = TRAIN_STALE_S,
                    alive: Callable[[Any], bool | None] = pid_alive) -> tuple[str, str]:
    """(status, note) of a training run from run.json: a `running` run whose process is gone, or whose
    heartbeat is older than `stale_s`, crashed."""
    if not info:
        return "waiting", "no run.json yet"
    status = str(info.get("status") or "running")
    if status != "running":
        return status, ""
    heartbeat = info.get("heartbeat")
    age = now - heartbeat if isinstance(heartbeat, (int, float)) else None
    if alive(info.get("pid")) is False:
        return "crashed", f"process {info.get('pid')} is gone"
    if age is not None and age > stale_s:
        return "crashed", f"no heartbeat for {_age(age)}"
    return "running", ""


def _pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


class RunScanner:
    """Finds and describes the runs under a directory; call `scan()` on every refresh.

    Reads only small JSON files and the ends of live traces; what never changes (a trace's start
    time) is cached.
    """

    def __init__(self, root: str | Path, *, clock: Callable[[], float] = time.time,
                 train_stale_s: float = TRAIN_STALE_S, agent_stale_s: float = AGENT_STALE_S) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise RunLogError(f"{self.root} is a file; pass the runs directory (default runs/) or one run's folder")
        self.clock = clock
        self.train_stale_s = train_stale_s
        self.agent_stale_s = agent_stale_s
        self._started: dict[Path, float | None] = {}

    def scan(self) -> list[RunInfo]:
        """Every run found, newest first."""
        now = self.clock()
        runs = []
        for path, kind in find_runs(self.root):
            try:
                runs.append(getattr(self, f"_{kind}")(path, now))
            except OSError:  # deleted while we looked
                continue
        runs.sort(key=lambda r: (-(r.started or 0.0), r.name))
        return runs

    def describe(self, path: Path) -> RunInfo | None:
        kind = classify(path)
        return getattr(self, f"_{kind}")(path, self.clock()) if kind else None

    def _train(self, path: Path, now: float) -> RunInfo:
        info = read_json(path / "run.json")
        status, note = training_status(info, now, self.train_stale_s)
        info = info or {}
        step, total = info.get("step"), info.get("total_steps")
        progress = f"step {step}/{total}" if step is not None else "starting"
        best = read_json(path / "checkpoints" / "best.json")
        if best and best.get("exact_accuracy") is not None:
            progress += f"  exact {_pct(best['exact_accuracy'])}"
        started = info.get("started")
        if not isinstance(started, (int, float)):
            started = _mtime(path)
        return RunInfo(path, "train", path.name, status, progress, started, note)

    def _agent(self, path: Path, now: float) -> RunInfo:
        trace = path / "trace.jsonl"
        if path not in self._started or self._started[path] is None:
            first = first_jsonl_record(trace) or {}
            self._started[path] = _iso_time(first.get("time")) or _id_time(path.name)
        started = self._started[path] or _mtime(path)
        result = read_json(path / "result.json")
        if result is not None:
            status = str(result.get("status") or "finished")
            final = result.get("final")
            why = result.get("reason") or result.get("stop_reason")
            progress = "answer " + _one_line(final) if final else f"no answer ({why})" if why else "no answer"
            return RunInfo(path, "agent", path.name, status, progress, started)
        last = last_jsonl_record(trace) or {}
        if last.get("event") == "run_end":
            return RunInfo(path, "agent", path.name, str(last.get("status") or "finished"),
                           _one_line(last.get("final") or last.get("reason") or last.get("stop_reason") or ""), started)
        mtime = _mtime(trace) or _mtime(path) or now
        progress = f"#{last.get('seq', '?')} {last.get('event', 'starting')}" if last else "starting"
        if now - mtime > self.agent_stale_s:
            return RunInfo(path, "agent", path.name, "crashed", progress, started,
                           f"trace unchanged for {_age(now - mtime)} and no run_end")
        return RunInfo(path, "agent", path.name, "running", progress, started)

    def _bench(self, path: Path, now: float) -> RunInfo:
        return self._summarised(path, "bench", now)

    def _optimize(self, path: Path, now: float) -> RunInfo:
        return self._summarised(path, "optimize", now)

    def _summarised(self, path: Path, kind: str, now: float) -> RunInfo:
        """Bench and optimize runs: finished once summary.json (or result.json) says so."""
        summary = read_json(path / "summary.json") or read_json(path / "result.json")
        meta = read_json(path / "bench.json") or {}
        started = _iso_time(meta.get("created") or (summary or {}).get("started") or (summary or {}).get("created"))
        started = started or _id_time(path.name) or _mtime(path)
        newest = _newest_mtime(path) or now
        stale = now - newest > self.agent_stale_s
        results = path / "results.jsonl"
        if summary is not None:
            status = str(summary.get("status") or "finished")
            status = {"done": "finished"}.get(status, status)
            progress = summary_headline(summary)
            if summary.get("complete") is False:  # hrm_agent.bench.runs: items still to run (or it stopped)
                status = "incomplete" if stale else "running"
                progress = f"{summary.get('items_done')}/{summary.get('items_total')} items  {progress}"
            return RunInfo(path, kind, path.name, status, progress, started)
        done = _count_lines(results) if results.is_file() else 0
        progress = f"{done} results" if results.is_file() else "starting"
        if stale:
            return RunInfo(path, kind, path.name, "crashed", progress, started,
                           f"no file changed for {_age(now - newest)} and no summary")
        return RunInfo(path, kind, path.name, "running", progress, started)


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return 0


def _one_line(value: Any, limit: int = 60) -> str:
    s = " ".join(str(value).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


# -- training metrics --------------------------------------------------------------------------------------

TRAIN_SERIES = ("lm_loss", "exact_accuracy", "accuracy", "lr", "tokens_per_s", "steps", "steps_per_s")
# averaged over the rows that halted in the logging window: undefined (logged as 0) when none halted
PER_HALTED = ("exact_accuracy", "accuracy", "steps")
EVAL_SERIES = ("lm_loss", "exact_accuracy", "accuracy", "steps", "q_halt_accuracy")


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Series:
    """Points (step, value) of one metric, in arrival order; `None` values are left out."""

    __slots__ = ("xs", "ys")

    def __init__(self) -> None:
        self.xs: list[float] = []
        self.ys: list[float] = []

    def __len__(self) -> int:
        return len(self.xs)

    def add(self, x: float, y: Any) -> None:
        y = _num(y)
        if y is not None:
            self.xs.append(x)
            self.ys.append(y)

    def points(self, max_points: int = 1000) -> tuple[list[float], list[float]]:
        """At most `max_points`, evenly strided, always ending with the newest point."""
        n = len(self.xs)
        if n <= max_points:
            return list(self.xs), list(self.ys)
        stride = -(-n // max_points)
        xs, ys = self.xs[::stride], self.ys[::stride]
        if (n - 1) % stride:
            xs.append(self.xs[-1])
            ys.append(self.ys[-1])
        return xs, ys


class TrainingLog:
    """The series of a metrics.jsonl, built incrementally from tailed records."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.train = {k: Series() for k in TRAIN_SERIES}
        self.eval = {k: Series() for k in EVAL_SERIES}
        self.last_train: dict[str, Any] | None = None
        self.last_eval: dict[str, Any] | None = None
        self.evals: list[dict[str, Any]] = []
        self.ignored = 0  # JSON objects that are not metrics (no numeric step)

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        for rec in records:
            step = _num(rec.get("step"))
            if step is None:
                self.ignored += 1
                continue
            if rec.get("type") == "eval":
                for k in EVAL_SERIES:
                    self.eval[k].add(step, rec.get(k))
                self.last_eval = rec
                self.evals.append({k: rec.get(k) for k in ("step", "split", "exact_accuracy", "accuracy")})
            else:
                none_halted = rec.get("count") == 0
                for k in TRAIN_SERIES:
                    if not (none_halted and k in PER_HALTED):
                        self.train[k].add(step, rec.get(k))
                self.last_train = rec


class TrainingRun:
    """One training run followed live: run.json, config.yaml and a tail of metrics.jsonl."""

    def __init__(self, path: str | Path, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.tail = JsonlTail(self.path / "metrics.jsonl", chunk_bytes=chunk_bytes)
        self.log = TrainingLog()
        self.info: dict[str, Any] = {}
        self._info_mtime: float | None = None
        self.gone = False  # the run directory was deleted
        self.version = 0  # bumped whenever the series change (to redraw only then)

    @property
    def skipped(self) -> int:
        return self.tail.skipped + self.log.ignored

    def poll(self, max_bytes: int | None = None) -> bool:
        """Read what is new (at most `max_bytes` of metrics); True when anything changed."""
        changed = False
        mtime = _mtime(self.path / "run.json")
        if mtime != self._info_mtime:
            info = read_json(self.path / "run.json")
            if info is not None:
                self.info, changed = info, True
            self._info_mtime = mtime if info is not None else None
        batch = self.tail.poll(max_bytes)
        if batch.reset:
            self.log.clear()
        if batch.records:
            self.log.add(batch.records)
        if batch.reset or batch.records:
            self.version += 1
            changed = True
        gone = not self.path.is_dir()
        changed |= gone != self.gone
        self.gone = gone
        return changed

    @property
    def caught_up(self) -> bool:
        return self.tail.caught_up

    def status(self, now: float) -> tuple[str, str]:
        if self.gone:
            return "deleted", "the run directory was removed"
        return training_status(self.info or None, now)

    def current_step(self) -> int | None:
        step = self.info.get("step")
        if isinstance(step, int):
            return step
        last = self.log.last_train
        return int(last["step"]) if last else None

    def eta_s(self, now: float) -> float | None:
        """Seconds to total_steps at the latest logged speed; None unless running."""
        if self.status(now)[0] != "running":
            return None
        total, step = self.info.get("total_steps"), self.current_step()
        if not isinstance(total, int) or step is None:
            return None
        speed = _num((self.log.last_train or {}).get("steps_per_s"))
        if not speed:
            wall = _num(self.info.get("wall_s"))
            speed = step / wall if wall and step else None
        return max(0.0, (total - step) / speed) if speed else None


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


# -- agent traces ------------------------------------------------------------------------------------------


class AgentTrace:
    """An agent trace followed live: the events so far and the tail that reads new ones."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.path = path if path.name.endswith(".jsonl") else path / "trace.jsonl"
        self.tail = JsonlTail(self.path)
        self.events: list[dict[str, Any]] = []

    @property
    def skipped(self) -> int:
        return self.tail.skipped

    @property
    def finished(self) -> bool:
        return any(e.get("event") == "run_end" for e in self.events[-3:])

    def poll(self, max_bytes: int | None = None) -> TailBatch:
        batch = self.tail.poll(max_bytes)
        if batch.reset:
            self.events = []
        self.events.extend(e for e in batch.records if isinstance(e.get("event"), str))
        self.tail.skipped += sum(1 for e in batch.records if not isinstance(e.get("event"), str))
        return batch


# -- bench and optimize summaries ---------------------------------------------------------------------------

_TABLE_KEYS = ("controllers", "per_controller", "by_controller", "arms", "table", "rows")
_NOT_CONTROLLERS = {"config", "settings", "args", "suite", "diff", "difference", "delta", "ci", "bootstrap", "meta"}
_FAILURE_HINTS = ("fail", "categor")


def is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def per_controller(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{controller: {metric: value}} found in a bench summary, whatever its exact layout.

    Accepts a dict of dicts or a list of dicts with a `controller`/`name` field, under one of the
    keys in _TABLE_KEYS or at the top level.
    """
    for key in (*_TABLE_KEYS, None):
        table = summary if key is None else summary.get(key)
        if isinstance(table, list) and table and all(isinstance(r, dict) for r in table):
            out = {}
            for i, row in enumerate(table):
                name = row.get("controller") or row.get("name") or f"#{i + 1}"
                out[str(name)] = {k: v for k, v in row.items() if k not in ("controller", "name")}
            return out
        if isinstance(table, dict):
            rows = {str(k): v for k, v in table.items() if isinstance(v, dict) and str(k).lower() not in _NOT_CONTROLLERS
                    and any(is_scalar(x) for x in v.values()) and not any(h in str(k) for h in _FAILURE_HINTS)}
            if rows:
                return rows
    return {}


def split_metrics(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A controller's row as (scalar metrics, failure-category counts).

    Nested dicts are flattened (`pass@k.5`, `time_s.mean`); of per-group tables (`by_depth`, `by_split`)
    only pass@1 is kept (`by_depth.5.pass@1`: accuracy against depth). The failure counts are
    `failure_categories` (hrm_agent.bench.runs) or else the first nested dict named like failures.
    """
    metrics: dict[str, Any] = {}
    fkey = "failure_categories" if isinstance(row.get("failure_categories"), dict) else next(
        (k for k, v in row.items() if isinstance(v, dict) and any(h in k.lower() for h in _FAILURE_HINTS)), None)
    failures = {str(c): n for c, n in (row.get(fkey) or {}).items() if is_scalar(n)} if fkey else {}

    def flatten(prefix: str, value: Any, grouped: bool) -> None:
        if prefix.startswith("selective.") and not isinstance(value, dict):  # issue 32: the rates, not
            if prefix.endswith(".value") and prefix != "selective.pass@1.value":  # their counts or intervals
                metrics[prefix] = value
            return
        if isinstance(value, dict):
            for k, v in value.items():
                flatten(f"{prefix}.{k}", v, grouped or str(k).startswith("by_"))
        elif is_scalar(value) and (not grouped or prefix.endswith("pass@1")):
            metrics[prefix] = value

    for k, v in row.items():
        if k == fkey:
            continue
        if isinstance(v, dict):
            for c, x in v.items():
                flatten(f"{k}.{c}", x, k.startswith("by_"))
        elif is_scalar(v):
            metrics[k] = v
    return metrics, failures


def _norm(key: str) -> str:
    return key.lower().replace("@", "_at_").replace(".", "_").replace("__", "_")


def summary_headline(summary: dict[str, Any]) -> str:
    """One short line for the runs list: pass@1 (or the first metric) per controller, or the best value."""
    rows = per_controller(summary)
    parts = []
    for name, row in list(rows.items())[:3]:
        metrics, _ = split_metrics(row)
        numeric = [k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        key = next((k for k in numeric if _norm(k) in ("pass_at_1", "pass1", "pass_at_k_1", "pass_rate")),
                   numeric[0] if numeric else None)
        if key is not None:
            value = metrics[key]
            parts.append(f"{name} {value:.3g}" if isinstance(value, float) else f"{name} {value}")
    if parts:
        return "  ".join(parts)
    for key in ("best", "best_value", "best_score"):
        if is_scalar(summary.get(key)):
            return f"best {summary[key]}"
    return "summary"
