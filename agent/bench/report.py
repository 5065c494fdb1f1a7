"""`hrm agent report`: one or more bench runs as a Markdown report with tables and PNG charts.

Numbers are recomputed from each run's results.jsonl (not read from summary.json), so the report is
what the raw data says. Charts (matplotlib, headless: `hrm_agent.bench.plots`): pass@1 per controller with
95% bootstrap intervals over tasks, accuracy against curriculum depth with the same intervals as bands,
and failure categories (counts, integer ticks).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hrm_agent.bench.runs import bootstrap_ci, fmt_num, load_meta, read_results, finished_rows, summarize
from hrm_agent.errors import AgentError
from hrm_agent.bench.failure_rules import rules_table
from hrm_agent.bench.plots import bar_chart, coverage_chart, line_chart
from hrm_agent.toolkit import CATEGORIES
from hrm_datasets.files import write_text_atomic

__all__ = ["bar_chart", "line_chart", "comparison_rows", "load_run", "resolve_run", "selective_table",
           "write_report"]


def pass_interval(rows: list[dict[str, Any]], n_boot: int = 2000,
                  seed: int = 0) -> tuple[float | None, float | None]:
    """95% percentile bootstrap interval of pass@1 over the tasks in `rows` (each task's pass rate once)."""
    per_task: dict[str, list[int]] = {}
    for r in rows:
        per_task.setdefault(str(r["task_id"]), []).append(bool(r["pass"]))
    if not per_task:
        return None, None
    lo, hi = bootstrap_ci([sum(v) / len(v) for v in per_task.values()], n_boot=n_boot, seed=seed)
    return lo, hi


# -- loading runs ------------------------------------------------------------------------------------------

def resolve_run(spec: str | Path, root: str | Path = "runs/bench") -> Path:
    """A run directory, or a bench id under `root`."""
    path = Path(spec)
    if (path / "bench.json").is_file():
        return path
    if (Path(root) / str(spec) / "bench.json").is_file():
        return Path(root) / str(spec)
    raise AgentError(f"no bench run at {spec} (looked for {path}/bench.json and {root}/{spec}/bench.json)")


def load_run(spec: str | Path, root: str | Path = "runs/bench") -> dict[str, Any]:
    """{dir, meta, rows, summary} of one bench run, the summary recomputed from results.jsonl."""
    run_dir = resolve_run(spec, root)
    meta = load_meta(run_dir)
    rows = finished_rows(read_results(run_dir / "results.jsonl"))
    summary = summarize(rows, meta, n_boot=int(meta.get("bootstrap", 2000)), seed=int(meta.get("seed", 0)))
    return {"dir": run_dir, "meta": meta, "rows": rows, "summary": summary}


# -- tables shared with the CLI ---------------------------------------------------------------------------

def _signed(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:+.{digits}f}"


def comparison_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the comparison table: one metric per row, one column per controller."""
    ctrls = list(summary["controllers"])
    comp = summary.get("comparison")
    diff_col = f"{comp['a']} - {comp['b']}" if comp else None
    header = ["metric", *ctrls] + ([diff_col] if diff_col else [])
    rows: list[list[str]] = []

    def add(label: str, getter: Any, digits: int = 3, diff: bool = True) -> None:
        vals = [getter(summary["controllers"][c]) for c in ctrls]
        row = [label, *[fmt_num(v, digits) for v in vals]]
        if diff_col:
            a, b = getter(summary["controllers"][comp["a"]]), getter(summary["controllers"][comp["b"]])
            row.append(_signed(a - b, digits) if diff and a is not None and b is not None else "")
        rows.append(row)

    add("items (tasks x samples)", lambda m: m["items"], diff=False)
    add("passed", lambda m: m["passed"], diff=False)
    add("no answer (status no_answer)", lambda m: m.get("no_answer"), diff=False)
    add("pass@1", lambda m: m["pass@1"])
    ks = sorted({k for c in ctrls for k in summary["controllers"][c]["pass@k"] if k != "1"}, key=int)
    for k in ks:
        add(f"pass@{k}", lambda m, k=k: m["pass@k"].get(k))
    add("time-to-solve mean (s)", lambda m: m["time_to_solve_s"]["mean"], 1)
    add("time-to-solve median (s)", lambda m: m["time_to_solve_s"]["median"], 1)
    add("time per item mean (s)", lambda m: m["time_s"]["mean"], 1)
    add("rounds (mean)", lambda m: m["rounds_mean"], 2)
    add("model calls (mean)", lambda m: m["model_calls_mean"], 2)
    add("tool calls (mean)", lambda m: m["tool_calls_mean"], 2)
    add("tokens (mean)", lambda m: m["tokens_mean"], 0)
    cats = [cat for cat in CATEGORIES
            if any(summary["controllers"][c]["failure_categories"].get(cat) for c in ctrls)]
    for cat in cats:
        add(f"failed: {cat}", lambda m, cat=cat: m["failure_categories"].get(cat, 0), 0)
    add("recorded tool_misuse + spec_error", lambda m: m["tool_misuse_spec_error"], 0)
    add("answered wrong (rate)", lambda m: _sel(m, "answered_wrong"))
    add("abstained (rate)", lambda m: _sel(m, "abstained"))
    add("accuracy among answered", lambda m: _sel(m, "accuracy_answered"))
    if diff_col and comp.get("ci95"):
        lo, hi = comp["ci95"]
        rows.append([f"{diff_col} pass@1, 95% bootstrap CI", *["" for _ in ctrls],
                     f"[{lo:+.3f}, {hi:+.3f}]"])
    return header, rows


def _sel(metrics: dict[str, Any], key: str) -> float | None:
    """A selective-answering rate of a controller's metrics (None for a summary written before them)."""
    return ((metrics.get("selective") or {}).get(key) or {}).get("value")


def selective_table(summary: dict[str, Any]) -> list[str]:
    """Markdown: per controller, pass@1, answered-wrong, abstention and accuracy among answered with their
    95% bootstrap intervals over tasks, and the accuracy-coverage points per vote threshold."""
    ctrls = [c for c, m in summary["controllers"].items() if m.get("selective")]
    if not ctrls:
        return []

    def cell(m: dict[str, Any]) -> str:
        if m.get("value") is None:
            return "-"
        ci = m.get("ci95")
        return f"{m['value']:.3f} ({m['count']}/{m['of']})" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

    rows = [[label, *[cell(summary["controllers"][c]["selective"][key]) for c in ctrls]]
            for label, key in (("pass@1", "pass@1"), ("answered wrong", "answered_wrong"),
                               ("abstained", "abstained"), ("accuracy among answered", "accuracy_answered"))]
    md = ["Selective answering (rate (count/of) [95% bootstrap interval over tasks]):", "",
          _md_table(["metric", *ctrls], rows), ""]
    curve_rows = []
    for c in ctrls:
        for p in summary["controllers"][c]["selective"]["coverage_curve"]:
            curve_rows.append([c, str(p["threshold"]), f"{p['coverage']:.3f} ({p['answered']}/{p['items']})",
                               fmt_num(p["accuracy"]) + (f" ({p['correct']}/{p['answered']})" if p["answered"] else "")])
    md += ["Accuracy against coverage as the vote threshold t varies (an item answers at t when its winning "
           "value has at least t votes):", "",
           _md_table(["controller", "t", "coverage", "accuracy among answered"], curve_rows, numeric_from=1), ""]
    return md


def _md_table(header: list[str], rows: list[list[str]], numeric_from: int = 1,
              align: list[str] | None = None) -> str:
    """A Markdown table; columns from `numeric_from` on are right-aligned unless `align` says otherwise."""
    align = align or ["---" if i < numeric_from else "---:" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(out)


def _label(run: dict[str, Any], many: bool) -> str:
    meta = run["meta"]
    model = Path(str(meta.get("model") or "?")).name
    return f"{meta['suite']['name']}/{model}" + (f" ({meta['id']})" if many else "")


# -- the report ---------------------------------------------------------------------------------------------

def write_report(runs: list[str | Path], out_dir: str | Path | None = None,
                 root: str | Path = "runs/bench") -> dict[str, Any]:
    """Write report.md and its PNGs; returns {"report": path, "plots": [paths], "runs": [dirs]}."""
    if not runs:
        raise AgentError("give at least one bench run: hrm agent report runs/bench/<id>")
    loaded = [load_run(r, root) for r in runs]
    out = Path(out_dir) if out_dir else loaded[0]["dir"] / "report"
    out.mkdir(parents=True, exist_ok=True)
    labels = _labels(loaded)
    plots = [_pass_chart(out, loaded, labels)]
    plots += [p for p in (_depth_chart(out, loaded, labels), _failure_chart(out, loaded, labels),
                          _coverage_chart(out, loaded, labels)) if p is not None]
    report = out / "report.md"
    write_text_atomic(report, "\n".join(_report_markdown(out, loaded, labels, plots)) + "\n")
    return {"report": str(report), "plots": [str(p) for p in plots], "runs": [str(r["dir"]) for r in loaded]}


def _labels(loaded: list[dict[str, Any]]) -> list[str]:
    """One label per run, numbered where two runs would read the same."""
    labels = [_label(r, len(loaded) > 1) for r in loaded]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} #{i + 1}" for i, lab in enumerate(labels)]
    return labels


def _series_name(label: str, controller: str, many: bool) -> str:
    return controller if not many else f"{label}: {controller}"


def _interval(r: dict[str, Any], keep: Any) -> tuple[float | None, float | None]:
    """The run's bootstrap interval of pass@1 over the rows that `keep` selects (its resamples and seed)."""
    rows = [row for row in r["rows"] if keep(row)]
    meta = r["meta"]
    return pass_interval(rows, n_boot=int(meta.get("bootstrap", 2000)), seed=int(meta.get("seed", 0)))


def _pass_chart(out: Path, loaded: list[dict[str, Any]], labels: list[str]) -> Path:
    """pass@1 per controller: groups = runs, bars = controllers, error bars = bootstrap over tasks."""
    ctrls = list(dict.fromkeys(c for r in loaded for c in r["summary"]["controllers"]))
    series = []
    for c in ctrls:
        cis = [_interval(r, lambda row, c=c: row["controller"] == c) for r in loaded]
        series.append((c, [r["summary"]["controllers"].get(c, {}).get("pass@1") for r in loaded],
                       [lo for lo, _ in cis], [hi for _, hi in cis]))
    return bar_chart(out / "pass_at_1.png", "pass@1 per controller (95% bootstrap interval over tasks)",
                     labels, series, ylabel="pass@1", ymax=1.05)


def _depth_chart(out: Path, loaded: list[dict[str, Any]], labels: list[str]) -> Path | None:
    """Accuracy against curriculum depth, held-out depths shaded; None when no run has depths."""
    depth_runs = [(lab, r) for lab, r in zip(labels, loaded)
                  if any(r["summary"]["controllers"][c]["by_depth"] for c in r["summary"]["controllers"])]
    if not depth_runs:
        return None
    depths = sorted({int(d) for _, r in depth_runs for c in r["summary"]["controllers"]
                     for d in r["summary"]["controllers"][c]["by_depth"]})
    held = sorted({int(row["depth"]) for _, r in depth_runs for row in r["rows"]
                   if row.get("split") == "heldout" and row.get("depth") is not None})
    lines = []
    for lab, r in depth_runs:
        for c, m in r["summary"]["controllers"].items():
            name = f"{c}" if len(depth_runs) == 1 else f"{lab}: {c}"
            cis = [_interval(r, lambda row, c=c, d=d: row["controller"] == c
                             and row.get("depth") is not None and int(row["depth"]) == d) for d in depths]
            lines.append((name, [m["by_depth"].get(str(d), {}).get("pass@1") for d in depths],
                          [lo for lo, _ in cis], [hi for _, hi in cis]))
    return line_chart(out / "accuracy_by_depth.png",
                      "accuracy vs number of steps (band: 95% bootstrap over tasks)", depths, lines,
                      shade_from=min(held) if held else None, ylabel="pass@1",
                      xlabel="depth (steps)", ylim=(-0.02, 1.02))


def _failure_chart(out: Path, loaded: list[dict[str, Any]], labels: list[str]) -> Path | None:
    """Failure categories of failed items; None when nothing failed."""
    many = len(loaded) > 1
    cats = [cat for cat in CATEGORIES if any(r["summary"]["controllers"][c]["failure_categories"].get(cat)
                                             for r in loaded for c in r["summary"]["controllers"])]
    if not cats:
        return None
    fseries = [(_series_name(lab, c, many), [m["failure_categories"].get(cat, 0) for cat in cats])
               for lab, r in zip(labels, loaded) for c, m in r["summary"]["controllers"].items()]
    return bar_chart(out / "failure_categories.png", "failure categories (failed items)",
                     [cat.replace("_", " ") for cat in cats], fseries, ylabel="failed items",
                     value_fmt="{:.0f}", integer=True)


def _coverage_chart(out: Path, loaded: list[dict[str, Any]], labels: list[str]) -> Path | None:
    """Accuracy against coverage as the vote threshold varies (one line per run and controller); None unless
    a run voted (samples > 1) and has a curve."""
    many = len(loaded) > 1
    cseries = []
    for lab, r in zip(labels, loaded):
        for c, m in r["summary"]["controllers"].items():
            curve = (m.get("selective") or {}).get("coverage_curve") or []
            if curve:
                cseries.append((_series_name(lab, c, many), [p["coverage"] for p in curve],
                                [p["accuracy"] for p in curve], [f"t={p['threshold']}" for p in curve]))
    if not (cseries and any(int((r["meta"].get("config") or {}).get("samples") or 1) > 1 for r in loaded)):
        return None
    return coverage_chart(out / "accuracy_coverage.png",
                          "accuracy vs coverage as the vote threshold t varies", cseries)


def _report_markdown(out: Path, loaded: list[dict[str, Any]], labels: list[str],
                     plots: list[Path]) -> list[str]:
    """report.md's lines: the charts drawn, one section per run, then the failure rules."""
    md = ["# Agent benchmark report", "",
          f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by `hrm agent report` from "
          f"{len(loaded)} run(s). Every number is recomputed from the runs' `results.jsonl`; definitions in "
          f"docs/agent-bench.md.", ""]
    for name, png in (("pass@1 per controller", "pass_at_1.png"), ("Accuracy vs curriculum depth",
                                                                   "accuracy_by_depth.png"),
                      ("Failure categories", "failure_categories.png"),
                      ("Accuracy against coverage", "accuracy_coverage.png")):
        if (out / png) in plots:
            md += [f"![{name}]({png})", ""]
    md += ["Error bars and bands: 95% percentile bootstrap intervals of pass@1 over tasks (each task's pass "
           "rate counted once; the run's bootstrap resamples and seed).", ""]
    for lab, r in zip(labels, loaded):
        md += _run_section(lab, r)
    md += ["## Failure rules", "", "A failed item gets the first category whose rule matches its trace:", ""]
    md += [_md_table(["#", "category", "rule"], [[str(i), f"`{cat}`", text] for i, cat, text in rules_table()],
                    numeric_from=3), ""]
    return md


def _run_section(label: str, run: dict[str, Any]) -> list[str]:
    meta, summary, rows = run["meta"], run["summary"], run["rows"]
    cfg = meta.get("config") or {}
    budget = cfg.get("budget") or {}
    md = [f"## {label}", "",
          f"- run: `{run['dir']}`",
          f"- suite: **{meta['suite']['name']}** ({meta['suite'].get('source', '')}), "
          f"{meta['suite'].get('tasks', '?')} tasks, {meta['samples']} run(s) each"
          + (f", {cfg['samples']} voting samples per step (min agreement "
             f"{cfg.get('min_agreement') or 'default'}, temperature {cfg.get('sample_temperature')})"
             if int(cfg.get("samples") or 1) > 1 else ""),
          f"- backend: {meta.get('backend')} `{meta.get('model')}`"
          + (f", adapter `{cfg['adapter']}`" if cfg.get("adapter") else "")
          + f", temperature {cfg.get('temperature')}, "
          f"budget {budget.get('max_rounds')} rounds / {budget.get('max_model_tokens')} tokens / "
          f"{budget.get('wall_s')} s",
          f"- items finished: {summary['items_done']} of {summary['items_total']}"
          + ("" if summary["complete"] else " (**incomplete**: resume with `hrm agent bench --resume "
                                            f"{meta['id']}`)"), ""]
    header, trows = comparison_rows(summary)
    md += [_md_table(header, trows), ""]
    md += selective_table(summary)
    comp = summary.get("comparison")
    if comp and comp.get("pass@1_diff") is not None:
        lo, hi = comp["ci95"]
        md += [f"{comp['a']} - {comp['b']} pass@1 = **{comp['pass@1_diff']:+.3f}**, 95% bootstrap interval "
               f"[{lo:+.3f}, {hi:+.3f}] over {comp['tasks']} tasks ({comp['bootstrap']} resamples, seed "
               f"{comp['seed']}); {comp['a']} better on {comp['wins']} tasks, worse on {comp['losses']}.", ""]
    by_depth = {c: m["by_depth"] for c, m in summary["controllers"].items() if m["by_depth"]}
    if by_depth:
        depths = sorted({int(d) for v in by_depth.values() for d in v})
        split_of = {int(r["depth"]): r.get("split") for r in rows if r.get("depth") is not None}
        table = [[f"{d}" + (" (held out)" if split_of.get(d) == "heldout" else ""),
                  *[fmt_num(by_depth[c].get(str(d), {}).get("pass@1")) for c in by_depth]] for d in depths]
        md += ["Accuracy by depth:", "", _md_table(["depth", *by_depth], table), ""]
    md += _disagreements(summary, rows)
    return md


def _disagreements(summary: dict[str, Any], rows: list[dict[str, Any]], limit: int = 40) -> list[str]:
    comp = summary.get("comparison")
    if not comp:
        return []
    a, b = comp["a"], comp["b"]
    rate: dict[tuple[str, str], list[int]] = {}
    cat: dict[tuple[str, str], str] = {}
    for r in rows:
        n_c = rate.setdefault((r["task_id"], r["controller"]), [0, 0])
        n_c[0] += 1
        n_c[1] += bool(r["pass"])
        if not r["pass"] and r.get("failure_category"):
            cat[(r["task_id"], r["controller"])] = r["failure_category"]
    tasks = sorted({t for t, _ in rate})
    diff = []
    for t in tasks:
        if (t, a) in rate and (t, b) in rate:
            pa, pb = rate[(t, a)][1] / rate[(t, a)][0], rate[(t, b)][1] / rate[(t, b)][0]
            if pa != pb:
                diff.append([t, f"{pa:.2f}", f"{pb:.2f}", cat.get((t, a), ""), cat.get((t, b), "")])
    if not diff:
        return [f"No task where {a} and {b} differ.", ""]
    more = f" (first {limit} of {len(diff)})" if len(diff) > limit else ""
    table = _md_table(["task", f"{a} pass", f"{b} pass", f"{a} failure", f"{b} failure"], diff[:limit],
                      align=["---", "---:", "---:", "---", "---"])
    return [f"Tasks where {a} and {b} differ{more}:", "", table, ""]
