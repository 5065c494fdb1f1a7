"""Run a suite x controllers x samples, one agent run per item, into runs/bench/<id>/ (resumable).

    runs/bench/<id>/bench.json      what was asked: suite, controllers, samples, agent config, backend
    runs/bench/<id>/suite.json      the tasks as resolved when the run started (a resume reuses them)
    runs/bench/<id>/results.jsonl   one line per task x controller x sample, appended as items finish
    runs/bench/<id>/summary.json    metrics per controller and the hierarchical - flat comparison
    runs/bench/<id>/traces/<task>__<controller>__s<k>/trace.jsonl

Rerunning with the same id skips the items already in results.jsonl, so an interrupted benchmark costs
nothing twice. The metrics (unbiased pass@k, bootstrap interval over tasks) are defined in
docs/agent-bench.md; `summarize` recomputes everything from results.jsonl alone.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
import shutil
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from hrm_agent.controllers import controller_name
from hrm_agent.errors import AgentError, BackendError
from hrm_agent.bench.failure_rules import classify
from hrm_agent.bench.selective import row_fields, selective_metrics
from hrm_agent.bench.suites import Suite, Task, check_answer, load_suite
from hrm_engine.errors import HRMError
from hrm_engine.run.directory import write_json_atomic
from hrm_datasets.files import append_all, writing

BASELINE_PAIR = ("hierarchical", "flat")
ABORT_AFTER_BACKEND_ERRORS = 3  # consecutive items whose backend never answered: the server is down


# -- metrics -------------------------------------------------------------------------------------------

def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k), computed as a stable product."""
    if k < 1 or n < k:
        raise ValueError(f"pass@k needs 1 <= k <= n, got n={n}, k={k}")
    if not 0 <= c <= n:
        raise ValueError(f"c must be in 0..n, got c={c}, n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def bootstrap_ci(values: Iterable[float], n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: resample the values (tasks) with replacement."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_boot, arr.size))
    means = arr[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def _mean(xs: list[float]) -> float | None:
    return float(statistics.fmean(xs)) if xs else None


def _median(xs: list[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def _ks(max_n: int) -> list[int]:
    return sorted({1, max_n} | {k for k in (2, 5, 10, 20, 50, 100) if k < max_n})


def _per_task(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = {}
    for r in rows:
        n_c = out.setdefault(r["task_id"], [0, 0])
        n_c[0] += 1
        n_c[1] += bool(r["pass"])
    return {t: (n, c) for t, (n, c) in out.items()}


def controller_metrics(rows: list[dict[str, Any]], n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Metrics of one controller's finished items (pass@k averaged over tasks; `selective`: answered-wrong,
    abstention and accuracy among answered with bootstrap intervals, and the vote-threshold curve)."""
    per_task = _per_task(rows)
    max_n = max((n for n, _ in per_task.values()), default=0)
    pass_k = {}
    for k in _ks(max_n) if max_n else []:
        vals = [pass_at_k(n, c, k) for n, c in per_task.values() if n >= k]
        pass_k[str(k)] = float(np.mean(vals)) if vals else None
    solved = [r for r in rows if r["pass"]]
    tokens = [r.get("tokens") or 0 for r in rows]

    def by(key: str) -> dict[str, Any]:
        groups: dict[Any, list[dict[str, Any]]] = {}
        for r in rows:
            if r.get(key) is not None:
                groups.setdefault(r[key], []).append(r)
        return {str(g): {"pass@1": float(np.mean([c / n for n, c in _per_task(rs).values()])),
                         "tasks": len(_per_task(rs)), "items": len(rs)}
                for g, rs in sorted(groups.items(), key=lambda kv: (str(type(kv[0])), kv[0]))}

    recorded: Counter[str] = Counter()
    for r in rows:
        recorded.update(r.get("failures") or [])
    no_answer = [r for r in rows if r.get("status") in ("no_answer", "failed")]  # "failed": before issue 18
    misuse_spec = recorded.get("tool_misuse", 0) + recorded.get("spec_error", 0)
    return {
        "items": len(rows), "tasks": len(per_task), "passed": len(solved),
        "no_answer": len(no_answer),
        "no_answer_reasons": dict(sorted(Counter(r.get("reason") or "?" for r in no_answer).items())),
        "pass@1": pass_k.get("1"), "pass@k": pass_k,
        "time_s": {"mean": _mean([r["time_s"] for r in rows]), "median": _median([r["time_s"] for r in rows])},
        "time_to_solve_s": {"mean": _mean([r["time_s"] for r in solved]),
                            "median": _median([r["time_s"] for r in solved])},
        "rounds_mean": _mean([r.get("rounds") or 0 for r in rows]),
        "model_calls_mean": _mean([r.get("model_calls") or 0 for r in rows]),
        "tool_calls_mean": _mean([r.get("tool_calls") or 0 for r in rows]),
        "tokens_mean": _mean(tokens), "tokens_total": int(sum(tokens)),
        "failure_categories": dict(sorted(Counter(r["failure_category"] for r in rows
                                                  if not r["pass"] and r.get("failure_category")).items())),
        "recorded_failures": dict(sorted(recorded.items())),
        "tool_misuse_spec_error": misuse_spec,
        "by_depth": by("depth"), "by_split": by("split"),
        "selective": selective_metrics(rows, n_boot=n_boot, seed=seed),
    }


def compare(rows: list[dict[str, Any]], a: str, b: str, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """pass@1 of `a` minus `b` over the tasks both ran, with a bootstrap 95% interval over tasks."""
    ta = _per_task([r for r in rows if r["controller"] == a])
    tb = _per_task([r for r in rows if r["controller"] == b])
    common = sorted(set(ta) & set(tb))
    diffs = [ta[t][1] / ta[t][0] - tb[t][1] / tb[t][0] for t in common]
    lo, hi = bootstrap_ci(diffs, n_boot=n_boot, seed=seed)
    ms_a = sum(1 for r in rows if r["controller"] == a for c in (r.get("failures") or [])
               if c in ("tool_misuse", "spec_error"))
    ms_b = sum(1 for r in rows if r["controller"] == b for c in (r.get("failures") or [])
               if c in ("tool_misuse", "spec_error"))
    return {"a": a, "b": b, "tasks": len(common), "pass@1_diff": float(np.mean(diffs)) if diffs else None,
            "ci95": [lo, hi] if diffs else None, "bootstrap": n_boot, "seed": seed,
            "wins": sum(d > 0 for d in diffs), "losses": sum(d < 0 for d in diffs),
            "tool_misuse_spec_error": {a: ms_a, b: ms_b},
            "tool_misuse_spec_error_change": (ms_a - ms_b) / ms_b if ms_b else None}


def summarize(rows: list[dict[str, Any]], meta: dict[str, Any] | None = None, n_boot: int = 2000,
              seed: int = 0) -> dict[str, Any]:
    """Everything summary.json holds, recomputed from result rows alone."""
    meta = meta or {}
    rows = [_canonical_row(r) for r in rows]
    controllers = [controller_name(c) for c in meta.get("controllers") or dict.fromkeys(r["controller"] for r in rows)]
    per = {c: controller_metrics([r for r in rows if r["controller"] == c], n_boot=n_boot, seed=seed)
           for c in controllers}
    pair = None
    if all(c in controllers for c in BASELINE_PAIR):
        pair = BASELINE_PAIR
    elif len(controllers) >= 2:
        pair = (controllers[0], controllers[1])
    total = meta.get("items_total")
    return {
        "bench_id": meta.get("id"), "suite": (meta.get("suite") or {}).get("name"),
        "backend": meta.get("backend"), "model": meta.get("model"), "samples": meta.get("samples"),
        "items_done": len(rows), "items_total": total, "complete": total is not None and len(rows) >= total,
        "controllers": per,
        "comparison": compare(rows, *pair, n_boot=n_boot, seed=seed) if pair else None,
        "updated": _now(),
    }


# -- results file ----------------------------------------------------------------------------------------

def item_key(row: dict[str, Any]) -> tuple[str, str, int]:
    return (str(row["task_id"]), controller_name(str(row["controller"])), int(row["sample"]))


def _canonical_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of a run made before the rename (`hrm`) under the controller's current name (`hierarchical`)."""
    name = controller_name(str(row.get("controller")))
    return row if row.get("controller") == name else {**row, "controller": name}


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Rows of results.jsonl, the last line per item winning; a half-written last line is ignored."""
    path = Path(path)
    if not path.is_file():
        return []
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.endswith("\n") or not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise AgentError(f"{path}:{lineno}: not a JSON line; is this a bench results file?") from None
            rows[item_key(row)] = _canonical_row(row)
    return list(rows.values())


def drop_partial_line(path: Path) -> None:
    """Cut a half-written last line (a crash mid-append), so the next append starts on a fresh line."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def finished_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows that count: items whose backend never answered are retried on resume and left out."""
    return [r for r in rows if not r.get("incomplete")]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")




def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "task"


# -- running ---------------------------------------------------------------------------------------------

@dataclass
class BenchPlan:
    """What one `hrm agent bench` invocation runs."""

    suite: Suite
    controllers: list[str]
    samples: int
    config: dict[str, Any]  # the resolved agent config (controller is set per item)
    suite_spec: str = ""
    limit: int | None = None
    task_ids: list[str] | None = None
    n_boot: int = 2000
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def tasks(self) -> list[Task]:
        tasks = self.suite.tasks
        if self.task_ids:
            wanted = set(self.task_ids)
            unknown = wanted - {t.id for t in tasks}
            if unknown:
                raise AgentError(f"--tasks: no task {', '.join(sorted(unknown))} in suite {self.suite.name}")
            tasks = [t for t in tasks if t.id in wanted]
        return tasks[: self.limit] if self.limit else tasks

    def items(self) -> list[tuple[Task, str, int]]:
        """sample-major, then task, then controller: a stopped run has compared both on the same tasks."""
        return [(t, c, s) for s in range(self.samples) for t in self.tasks() for c in self.controllers]


def bench_dir(root: str | Path, bench_id: str) -> Path:
    return Path(root) / bench_id


def load_meta(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "bench.json"
    if not path.is_file():
        raise AgentError(f"{run_dir} is not a bench run (no bench.json); pass runs/bench/<id>")
    return json.loads(path.read_text(encoding="utf-8"))


def resume_plan(run_dir: str | Path, **changes: Any) -> BenchPlan:
    """The plan of an earlier run, from its bench.json and suite.json (so the tasks are the same)."""
    run_dir = Path(run_dir)
    meta = load_meta(run_dir)
    suite = Suite.from_dict(json.loads((run_dir / "suite.json").read_text(encoding="utf-8")))
    plan = BenchPlan(suite=suite, controllers=[controller_name(c) for c in meta["controllers"]],
                     samples=int(meta["samples"]),
                     config=meta["config"], suite_spec=meta["suite"].get("spec", ""), limit=meta.get("limit"),
                     task_ids=meta.get("task_ids"), n_boot=int(meta.get("bootstrap", 2000)),
                     seed=int(meta.get("seed", 0)))
    for key, value in changes.items():
        if value is not None:
            setattr(plan, key, value)
    return plan


def make_plan(suite_spec: str, controllers: list[str], samples: int, config: dict[str, Any], *,
              limit: int | None = None, task_ids: list[str] | None = None, n_boot: int = 2000,
              seed: int = 0) -> BenchPlan:
    from hrm_agent.controllers import CONTROLLERS

    controllers = [controller_name(c) for c in controllers]
    if samples < 1:
        raise AgentError(f"--samples must be >= 1, got {samples}")
    if limit is not None and limit < 1:
        raise AgentError(f"--limit must be >= 1, got {limit}")
    if not controllers:
        raise AgentError("--controller needs at least one of: " + ", ".join(CONTROLLERS))
    for c in controllers:
        if c not in CONTROLLERS:
            raise AgentError(f"unknown controller {c!r}; choose from: {', '.join(CONTROLLERS)} "
                             f"(hrm is the old name of hierarchical)")
    if len(set(controllers)) != len(controllers):
        raise AgentError(f"--controller lists a controller twice: {','.join(controllers)}")
    return BenchPlan(suite=load_suite(suite_spec), controllers=controllers, samples=samples, config=config,
                     suite_spec=str(suite_spec), limit=limit, task_ids=task_ids, n_boot=n_boot, seed=seed)


class _Recorder:
    """Appends rows to results.jsonl from worker threads, one whole line at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def append(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, ensure_ascii=False, default=repr) + "\n"
        with self.lock, writing(self.path), open(self.path, "ab", buffering=0) as fh:
            append_all(fh, line.encode())  # a full disk cuts the line back off: no half row for the next
            os.fsync(fh.fileno())


def run_item(task: Task, controller: str, sample: int, *, config: dict[str, Any], backend: Any, run_dir: Path,
             bench_id: str, suite_name: str) -> dict[str, Any]:
    """One agent run of `task`, graded; the row for results.jsonl."""
    from hrm_agent.runner import run_agent, sandbox_limits_from_config
    from hrm_agent.trace import read_trace

    cfg = copy.deepcopy(config)
    cfg["controller"] = controller
    cfg["runs_dir"] = str(run_dir / "traces")
    run_id = f"{_safe(task.id)}__{controller}__s{sample}"
    shutil.rmtree(run_dir / "traces" / run_id, ignore_errors=True)  # a half-finished earlier attempt
    t0 = time.monotonic()
    error, result = None, None
    try:
        result = run_agent(cfg, task.agent_prompt(), context=task.context, backend=backend, run_id=run_id)
    except BackendError as exc:  # the backend never answered in this run
        error = str(exc)
    trace_path = run_dir / "traces" / run_id / "trace.jsonl"
    events = read_trace(trace_path) if trace_path.is_file() else []
    if result is None:
        result_file = trace_path.parent / "result.json"
        result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else {}
    answer = result.get("final")
    limits = sandbox_limits_from_config(cfg)
    check = check_answer(task, answer, events, limits)
    row: dict[str, Any] = {
        "bench_id": bench_id, "suite": suite_name, "task_id": task.id, "controller": controller, "sample": sample,
        "kind": task.kind, "depth": task.depth, "split": task.split,
        "pass": bool(check.passed), "answer": answer,
        "expected": task.answer if task.kind != "code" else f"tests of {task.entry_point}",
        "parsed": check.parsed if task.kind != "code" else None, "readable": check.readable,
        "check": check.reason,
        "time_s": round(float(result.get("wall_s") or (time.monotonic() - t0)), 3),
        "rounds": result.get("rounds") or 0, "model_calls": result.get("model_calls") or 0,
        "tool_calls": result.get("code_runs") or 0,
        "prompt_tokens": result.get("prompt_tokens") or 0, "completion_tokens": result.get("completion_tokens") or 0,
        "status": result.get("status"), "reason": result.get("reason"), "stop_reason": result.get("stop_reason"),
        "failures": [f.get("category") for f in result.get("failures") or []],
        "trace": str(trace_path),
        "error": error,
        "incomplete": error is not None,
        "finished_at": _now(),
    }
    row.update(row_fields(result, row["pass"], lambda candidate: check_answer(task, candidate, events, limits).passed))
    row["tokens"] = row["prompt_tokens"] + row["completion_tokens"]
    row["failure_category"] = classify(row, events)
    return row


class _Progress:
    """What the workers share about the backend: the run stops after ABORT_AFTER_BACKEND_ERRORS items in a
    row whose backend never answered, or after the first such item when none has answered yet."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.consecutive_backend_errors = 0
        self.answered = 0
        self.last_error = ""
        self._lock = threading.Lock()

    def record(self, row: dict[str, Any]) -> None:
        with self._lock:
            if row["incomplete"]:
                self.consecutive_backend_errors += 1
                self.last_error = row["error"]
                if self.consecutive_backend_errors >= ABORT_AFTER_BACKEND_ERRORS or not self.answered:
                    self.stop.set()
            else:
                self.consecutive_backend_errors = 0
                self.answered += 1


def run_bench(plan: BenchPlan, *, root: str | Path = "runs/bench", bench_id: str | None = None,
              workers: int = 1, backend: Any = None,
              on_start: Callable[[int, int], None] | None = None,
              on_item: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run every item of `plan` not yet in the run's results.jsonl; return the summary (also written)."""
    from hrm_agent.runner import backend_from_config
    from hrm_agent.trace import new_run_id

    bench_id = bench_id or new_run_id()
    run_dir = bench_dir(root, bench_id)
    old_meta = _open_run_dir(run_dir, plan, bench_id)
    backend = backend or backend_from_config(plan.config)
    if plan.config.get("backend") == "mlx" or getattr(backend, "name", "") == "mlx":
        workers = 1  # one in-process model: generations cannot overlap
    items = plan.items()
    meta = _bench_meta(plan, bench_id, old_meta, backend, workers, len(items))
    write_json_atomic(run_dir / "bench.json", meta)
    results_path = run_dir / "results.jsonl"
    drop_partial_line(results_path)
    done = {item_key(r) for r in finished_rows(read_results(results_path))}
    todo = [(t, c, s) for t, c, s in items if (t.id, c, s) not in done]
    if on_start:
        on_start(len(items) - len(todo), len(items))
    recorder = _Recorder(results_path)
    progress = _Progress()

    def work(item: tuple[Task, str, int]) -> None:
        if progress.stop.is_set():
            return
        task, controller, sample = item
        try:
            row = run_item(task, controller, sample, config=plan.config, backend=backend, run_dir=run_dir,
                           bench_id=bench_id, suite_name=plan.suite.name)
        except BaseException:
            progress.stop.set()  # a bug or Ctrl-C: let the other workers finish their item, start no new ones
            raise
        recorder.append(row)
        progress.record(row)
        if on_item:
            on_item(row)

    try:
        _run_items(todo, work, workers, progress.stop)
    except BaseException:
        with contextlib.suppress(HRMError, OSError):  # best effort: the first failure is the one reported
            write_summary(run_dir)
        raise
    summary = write_summary(run_dir)
    if progress.stop.is_set() and progress.last_error:
        raise BackendError(f"{progress.last_error} (bench stopped; finished items are kept: rerun with "
                           f"--resume {bench_id})")
    return summary


def _open_run_dir(run_dir: Path, plan: BenchPlan, bench_id: str) -> dict[str, Any] | None:
    """Create the run's folder, or check that an existing one ran the same suite; write suite.json once.
    Returns the existing run's bench.json, if any."""
    with writing(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
    suite_path = run_dir / "suite.json"
    old_meta = load_meta(run_dir) if (run_dir / "bench.json").is_file() else None
    if old_meta and old_meta["suite"]["name"] != plan.suite.name:
        raise AgentError(f"bench run {bench_id} is suite {old_meta['suite']['name']!r}, not {plan.suite.name!r}; "
                         f"pick another --id")
    if not suite_path.is_file():
        write_json_atomic(suite_path, plan.suite.to_dict())
    return old_meta


def _bench_meta(plan: BenchPlan, bench_id: str, old_meta: dict[str, Any] | None, backend: Any, workers: int,
                items_total: int) -> dict[str, Any]:
    """bench.json: what the run is (suite, controllers, samples, backend, config), kept across resumes."""
    return {
        "id": bench_id, "created": (old_meta or {}).get("created") or _now(), "updated": _now(),
        "suite": {"name": plan.suite.name, "spec": plan.suite_spec, "source": plan.suite.source,
                  "tasks": len(plan.tasks())},
        "controllers": plan.controllers, "samples": plan.samples, "limit": plan.limit, "task_ids": plan.task_ids,
        "items_total": items_total, "workers": workers, "bootstrap": plan.n_boot, "seed": plan.seed,
        "backend": getattr(backend, "name", plan.config.get("backend")),
        "model": str(getattr(backend, "model", plan.config.get("model"))),
        "config": plan.config, **plan.extra,
    }


def _run_items(todo: list[tuple[Task, str, int]], work: Callable[[tuple[Task, str, int]], None],
               workers: int, stop: threading.Event) -> None:
    """`work` on every item, in order on this thread or on `workers` threads; a failure stops new items and
    is raised once the running ones have finished."""
    if workers <= 1:
        for item in todo:
            if stop.is_set():
                break
            work(item)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench")
    try:
        for fut in [pool.submit(work, item) for item in todo]:
            fut.result()
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def write_summary(run_dir: str | Path) -> dict[str, Any]:
    """Recompute summary.json from results.jsonl (also what `hrm agent report` trusts)."""
    run_dir = Path(run_dir)
    meta = load_meta(run_dir)
    rows = finished_rows(read_results(run_dir / "results.jsonl"))
    summary = summarize(rows, meta, n_boot=int(meta.get("bootstrap", 2000)), seed=int(meta.get("seed", 0)))
    write_json_atomic(run_dir / "summary.json", summary)
    return summary


def eta_s(done_now: int, remaining: int, elapsed_s: float, since_last_s: float = 0.0) -> float | None:
    """Seconds left, from the mean item time of this invocation: (time to the last finished item / items
    finished) x items left, less the time since the last one. None before the first item finishes.

    A rate over a short recent window (rich's own estimate) says nothing when one item takes minutes."""
    if remaining <= 0:
        return 0.0
    if done_now <= 0:
        return None
    per_item = max(elapsed_s - since_last_s, 0.0) / done_now
    return max(per_item * remaining - since_last_s, 0.0)


def fmt_num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
