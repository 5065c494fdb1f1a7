"""E3 of the thesis plan (seed 004): does a 2 -> 3 -> 4-step curriculum learn multi-step chains from fewer
examples than the same examples shuffled, and does it generalise to 5- and 6-step chains it never saw?

The training is `hrm agent tune --data chains --schedule curriculum|mixed` at equal `--examples`,
`--steps` and `--batch-size` (agent/tune/lora.py makes both schedules see every example equally often), with
`--snapshot-every N` keeping the adapter at every N-th step. This module evaluates every snapshot of each
adapter, and the base model once (0 examples), on the same held-out chains (a curriculum suite of depths
5 and 6 only, from the suite's own seed, which the tune data never uses) with the same controller and
budgets, through the ordinary bench (`run_bench`, so each point is a resumable bench run of its own), and
writes accuracy against the number of training examples seen, with 95% bootstrap intervals over tasks:
`e3.json`, `e3.png`, `e3.md` in the output folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from hrm_agent.bench.runs import make_plan, read_results, run_bench
from hrm_agent.errors import AgentError
from hrm_agent.bench.report import pass_interval
from hrm_agent.backends.adapters import list_snapshots, read_manifest, resolve_adapter
from hrm_engine.run.directory import write_json_atomic
from hrm_datasets.files import write_text_atomic

BASE = "base model"


@dataclass
class E3Point:
    """One evaluated adapter snapshot (or the base model): where it is on the curve and how it scored."""

    series: str  # the schedule (or BASE)
    adapter: str | None
    step: int
    examples_seen: int
    bench_id: str
    tasks: int = 0
    passed: int = 0
    pass_at_1: float | None = None
    lower: float | None = None
    upper: float | None = None
    by_depth: dict[str, float] | None = None
    model_calls_mean: float | None = None
    tokens_mean: float | None = None
    time_s_mean: float | None = None


def heldout_suite(per_depth: int, depths: list[int], seed: int = 0) -> dict[str, Any]:
    """The suite file (generator form) of the held-out chains: every depth listed is held out."""
    if per_depth < 1 or not depths or any(d < 5 for d in depths):
        raise AgentError(f"held-out chains need --per-depth >= 1 and depths of 5 or more (the tune data has 2-4), "
                         f"got {per_depth} and {depths}")
    return {"name": "e3-heldout", "description": f"held-out chains of depths {depths} for E3",
            "generator": {"name": "curriculum", "per_depth": per_depth, "depths": list(depths),
                          "heldout": list(depths), "seed": seed}}


def plan_points(adapters: list[str], include_base: bool = True) -> list[E3Point]:
    """The points to evaluate: the base model, then each adapter's snapshots by step; one line if one has none."""
    points = [E3Point(series=BASE, adapter=None, step=0, examples_seen=0, bench_id="base")] if include_base else []
    seen: set[str] = set()
    for spec in adapters:
        folder = resolve_adapter(spec)
        manifest = read_manifest(folder) or {}
        opts = manifest.get("options") or {}
        schedule = str(opts.get("schedule") or "?")
        series = f"{schedule} ({folder.name})"
        if series in seen:
            raise AgentError(f"adapter {folder.name} is listed twice")
        seen.add(series)
        snaps = list_snapshots(folder)
        if not snaps:
            raise AgentError(f"adapter {folder.name} has no snapshots; train it with --snapshot-every N "
                             f"(hrm agent tune --name {folder.name} --snapshot-every 25 ...)")
        batch = int(opts.get("batch_size") or 1)
        for step, path in snaps:
            points.append(E3Point(series=series, adapter=str(path), step=step, examples_seen=step * batch,
                                  bench_id=f"{folder.name}-step{step:07d}"))
    return points


def _score(point: E3Point, rows: list[dict[str, Any]], n_boot: int, seed: int) -> None:
    per_task: dict[str, list[bool]] = {}
    depth: dict[str, list[bool]] = {}
    for r in rows:
        per_task.setdefault(str(r["task_id"]), []).append(bool(r["pass"]))
        depth.setdefault(str(r.get("depth")), []).append(bool(r["pass"]))
    point.tasks = len(per_task)
    point.passed = sum(any(v) for v in per_task.values())
    point.pass_at_1 = sum(sum(v) / len(v) for v in per_task.values()) / len(per_task) if per_task else None
    point.lower, point.upper = pass_interval(rows, n_boot=n_boot, seed=seed)
    point.by_depth = {d: sum(v) / len(v) for d, v in sorted(depth.items())}

    def mean(key: str) -> float | None:
        vals = [float(r.get(key) or 0) for r in rows]
        return sum(vals) / len(vals) if vals else None

    point.model_calls_mean, point.tokens_mean, point.time_s_mean = mean("model_calls"), mean("tokens"), mean("time_s")


def run_e3(adapters: list[str], config: dict[str, Any], out_dir: str | Path, *, per_depth: int = 10,
           depths: list[int] | None = None, controller: str = "flat", include_base: bool = True,
           n_boot: int = 2000, seed: int = 0, backend: Any = None,
           on_point: Callable[[E3Point, int, int], None] | None = None,
           on_start: Callable[[int, int], None] | None = None,
           on_item: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Evaluate every point (resuming finished bench runs), then write e3.json, e3.png and e3.md.

    `backend` replaces the one the config names (the adapter is then the caller's business: tests)."""
    out = Path(out_dir)
    depths = list(depths or [5, 6])
    suite = heldout_suite(per_depth, depths)
    points = plan_points(adapters, include_base)
    out.mkdir(parents=True, exist_ok=True)
    suite_path = out / "heldout-suite.yaml"
    if suite_path.is_file() and yaml.safe_load(suite_path.read_text(encoding="utf-8")) != suite:
        raise AgentError(f"{out} holds an E3 run on other held-out tasks ({suite_path}); use another --output")
    write_text_atomic(suite_path, yaml.safe_dump(suite, sort_keys=False))
    for i, point in enumerate(points):
        if on_point:
            on_point(point, i, len(points))
        cfg = {**config, "adapter": point.adapter}
        plan = make_plan(str(suite_path), [controller], 1, cfg, n_boot=n_boot, seed=seed)
        run_bench(plan, root=out / "bench", bench_id=point.bench_id, backend=backend, on_start=on_start,
                  on_item=on_item)
        _score(point, read_results(out / "bench" / point.bench_id / "results.jsonl"), n_boot, seed)
    result = {"format": "hrm-e3/1", "suite": suite, "controller": controller, "model": config.get("model"),
              "backend": config.get("backend"), "points": [asdict(p) for p in points]}
    write_json_atomic(out / "e3.json", result)
    write_plot(result, out / "e3.png")
    write_text_atomic(out / "e3.md", markdown(result))
    return result


def _series(points: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Points by series, each series starting from the base model's point when there is one."""
    base = [p for p in points if p["series"] == BASE]
    out: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        if p["series"] != BASE:
            out.setdefault(p["series"], list(base)).append(p)
    return out or ({BASE: base} if base else {})


def write_plot(result: dict[str, Any], path: Path) -> Path:
    """Held-out pass@1 against training examples seen, one line and bootstrap band per schedule."""
    from hrm_agent.bench.plots import line_chart

    series = _series(result["points"])
    xs = sorted({p["examples_seen"] for ps in series.values() for p in ps})
    lines = []
    for name, ps in series.items():
        at = {p["examples_seen"]: p for p in ps}
        lines.append((name, [at[x]["pass_at_1"] if x in at else None for x in xs],
                      [at[x]["lower"] if x in at else None for x in xs],
                      [at[x]["upper"] if x in at else None for x in xs]))
    depths = result["suite"]["generator"]["depths"]
    return line_chart(path, f"E3: held-out {'- and '.join(map(str, depths))}-step chains, {result['controller']} "
                            f"controller", xs, lines, xlabel="training examples seen (steps x batch)",
                      ylabel="pass@1 (band: 95% bootstrap over tasks)")


def markdown(result: dict[str, Any]) -> str:
    """The points as a table, one row per evaluated snapshot."""
    depths = result["suite"]["generator"]["depths"]
    head = ["series", "step", "examples seen", "tasks", "pass@1", "95% interval",
            *[f"depth {d}" for d in depths], "calls / run", "tokens / run", "s / run"]
    lines = [f"# E3: curriculum against mixed, held-out chains of depths {depths}", "",
             f"Controller `{result['controller']}`; each point is a bench run in `bench/<id>/`.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def f(v: float | None, digits: int = 3) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    for p in result["points"]:
        by = p.get("by_depth") or {}
        lines.append("| " + " | ".join([p["series"], str(p["step"]), str(p["examples_seen"]), str(p["tasks"]),
                                         f(p["pass_at_1"]), f"[{f(p['lower'])}, {f(p['upper'])}]",
                                         *[f(by.get(str(d))) for d in depths], f(p["model_calls_mean"], 2),
                                         f(p["tokens_mean"], 0), f(p["time_s_mean"], 1)]) + " |")
    return "\n".join(lines) + "\n"
