"""`hrm agent bench` and `hrm agent report`: hierarchical vs flat on benchmark suites (heavy imports inside)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from hrm_cli.agent.config import agent_config


def _split(text: Optional[str]) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def bench_cmd(
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value agent config overrides (budget.max_rounds=3)."),
    suite: Optional[str] = typer.Option(None, "--suite", "-s",
                                        help="coding, math, humaneval, curriculum, or a suite YAML file."),
    controller: str = typer.Option("hierarchical,flat", "--controller",
                                   help="Comma-separated controllers to compare (hrm: old name of hierarchical)."),
    repeats: int = typer.Option(1, "--repeats", "-r", help="Runs per task and controller (pass@k)."),
    samples: Optional[int] = typer.Option(None, "--samples", "-k",
                                          help="Programs sampled per solver/flat step that vote (self-consistency)."),
    min_agreement: Optional[int] = typer.Option(None, "--min-agreement",
                                                help="Votes an answer needs (default: more than half of K, >= 2)."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="mlx (local, default), openai or ollama."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="mlx: model folder; servers: model name."),
    adapter: Optional[str] = typer.Option(None, "--adapter",
                                          help="mlx: a LoRA adapter from `hrm agent tune` (name or folder)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Server URL (OpenAI-compatible or Ollama)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w",
                                          help="Parallel items for HTTP backends (default 4; mlx always 1)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature (> 0 for k > 1)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Only the first N tasks of the suite."),
    tasks: Optional[str] = typer.Option(None, "--tasks", help="Only these task ids (comma-separated)."),
    bench_id: Optional[str] = typer.Option(None, "--id", help="Name of the run (rerunning an id resumes it)."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Finish the run with this id (same suite and plan)."),
    runs_dir: Path = typer.Option(Path("runs/bench"), "--runs-dir", help="Where bench runs are written."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="YAML over configs/agent.yaml."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap interval."),
    validate: bool = typer.Option(False, "--validate", help="Check the suite (and reference solutions); no model."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json instead of the table."),
    allow_weak_sandbox: bool = typer.Option(False, "--allow-weak-sandbox",
                                            help="Run model code even where no OS sandbox exists (weaker)."),
) -> None:
    """Compare controllers on a suite: pass@1, pass@k, time, rounds, calls, tokens, failure categories.

    Writes runs/bench/<id>/ (results.jsonl appended as items finish, summary.json); rerunning with
    --resume ID (or the same --id) skips finished items.

    Examples:
      hrm agent bench --suite math --controller hierarchical,flat
      hrm agent bench --suite coding --backend openai --base-url http://127.0.0.1:8080 --workers 8
      hrm agent bench --suite curriculum --repeats 5 --temperature 0.7 --limit 20
      hrm agent bench --suite benchmarks/agent-probe.yaml --samples 5      # 5 programs vote per step
      hrm agent bench --resume 20261123-101500-ab12
      hrm agent bench --suite my_suite.yaml --validate
    """
    from hrm_agent.bench.runs import bench_dir, make_plan, resume_plan
    from hrm_agent.errors import AgentError
    from hrm_agent.voting.ballot import sampling_from_config
    from hrm_cli.console import console, err_console, print_json, warn

    if validate:
        _validate(suite, as_json)
        return
    if resume and bench_id and resume != bench_id:
        raise AgentError("--resume and --id name different runs; give one of them")
    run_id = resume or bench_id
    existing = run_id is not None and (bench_dir(runs_dir, run_id) / "bench.json").is_file()
    if resume and not existing:
        raise AgentError(f"no bench run {resume} under {runs_dir} to resume")
    if existing and suite is None:
        plan = resume_plan(bench_dir(runs_dir, run_id))
    else:
        if not suite:
            raise AgentError("give --suite NAME|FILE (coding, math, humaneval, curriculum, or a YAML file), "
                             "or --resume ID")
        cfg = agent_config(file, list(overrides or []), backend=backend, model=model, base_url=base_url,
                           adapter=adapter,
                           temperature=temperature, samples=samples, min_agreement=min_agreement,
                           **{"sandbox.allow_weak": True if allow_weak_sandbox else None})
        sampling_from_config(cfg)  # a bad --samples/--min-agreement: one line, exit 2, before any item
        plan = make_plan(suite, _split(controller), repeats, cfg, limit=limit, task_ids=_split(tasks) or None,
                         seed=seed)
    if plan.samples > 1 and float(plan.config.get("temperature") or 0.0) == 0.0:
        warn("--repeats > 1 at temperature 0 repeats the same greedy run; pass --temperature 0.7 for pass@k")
    http = plan.config.get("backend") != "mlx"
    n_workers = (workers or 4) if http else 1
    if not http and workers and workers > 1:
        warn("the mlx backend runs one generation at a time: --workers is 1")
    if not as_json and not http:
        err_console.print("[dim]loading the local model (first use converts it once, about a minute)...[/]")
    summary = _run_with_progress(plan, runs_dir, run_id, n_workers, quiet=as_json)
    if as_json:
        print_json(summary)
        return
    console.print(comparison_table(summary))
    err_console.print(f"[dim]results: {runs_dir / summary['bench_id']}/results.jsonl   report: hrm agent report "
                      f"{runs_dir / summary['bench_id']}[/]", highlight=False)


def eta_column() -> Any:
    """A progress column with the ETA from the mean item time of this invocation (hrm_agent.bench.runs.eta_s):
    rich's own estimate looks only at the last 30 s and stays at -:--:-- when an item takes minutes."""
    import time

    from rich.progress import ProgressColumn
    from rich.text import Text

    from hrm_agent.bench.runs import eta_s

    class EtaColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            f = task.fields
            now = time.monotonic()
            t0 = f.get("t0", now)
            left = eta_s(int(f.get("done_now", 0)), int((task.total or 0) - task.completed), now - t0,
                         now - f.get("t_last", now))
            if left is None:
                return Text("ETA -:--:--", style="progress.remaining")
            m, s = divmod(int(left + 0.5), 60)
            h, m = divmod(m, 60)
            return Text(f"ETA {h}:{m:02d}:{s:02d}", style="progress.remaining")

    return EtaColumn()


def _run_with_progress(plan: Any, runs_dir: Path, run_id: Optional[str], workers: int, quiet: bool) -> dict:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from hrm_agent.bench.runs import run_bench
    from hrm_cli.console import progress_bar

    with progress_bar(TextColumn("[bold]bench[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("pass {task.fields[passed]}"), TextColumn("no answer {task.fields[no_answer]}"),
                      TimeElapsedColumn(), eta_column(), disable=quiet) as progress:
        bar = progress.add_task(plan.suite.name, total=len(plan.items()), passed=0, no_answer=0,
                                t0=time.monotonic(), done_now=0)
        counts = {"passed": 0, "no_answer": 0, "done_now": 0}

        def on_start(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total, t0=time.monotonic())

        def on_item(row: dict) -> None:
            counts["passed"] += bool(row["pass"])
            counts["no_answer"] += row.get("status") == "no_answer"
            counts["done_now"] += 1
            progress.update(bar, advance=1, passed=counts["passed"], no_answer=counts["no_answer"],
                            done_now=counts["done_now"], t_last=time.monotonic(),
                            description=f"{plan.suite.name} {row['task_id']} {row['controller']}")

        return run_bench(plan, root=runs_dir, bench_id=run_id, workers=workers, on_start=on_start, on_item=on_item)


def comparison_table(summary: dict) -> Any:
    """The rich table printed after a bench: metrics down, controllers across, hrm - flat last."""
    from rich.table import Table

    from hrm_agent.bench.report import comparison_rows

    from hrm_cli.console import shown

    header, rows = comparison_rows(summary)
    done = f"{summary['items_done']}/{summary['items_total']} items"
    # the model's name may be a server's words (the server's default model): controls written out
    table = Table(title=f"hrm agent bench: {shown(summary['suite'])} on {summary['backend']}:"
                        f"{shown(Path(str(summary['model'])).name)} ({done})")
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right", style="bold" if i == len(header) - 1 and
                         summary.get("comparison") else None)
    for row in rows:
        table.add_row(*row)
    return table


def _validate(suite: Optional[str], as_json: bool) -> None:
    from hrm_agent.errors import AgentError
    from hrm_agent.bench.suites import load_suite, validate_solutions
    from hrm_cli.console import console, print_json

    if not suite:
        raise AgentError("--validate needs --suite NAME|FILE")
    s = load_suite(suite)
    kinds: dict[str, int] = {}
    for t in s.tasks:
        kinds[t.kind] = kinds.get(t.kind, 0) + 1
    checks = validate_solutions(s)
    failed = [(tid, c.reason) for tid, c in checks if not c.passed]
    report = {"suite": s.name, "source": s.source, "tasks": len(s.tasks), "kinds": kinds,
              "solutions_checked": len(checks), "solutions_failed": [{"task": t, "reason": r} for t, r in failed]}
    if as_json:
        print_json(report)
    else:
        console.print(f"{s.name}: {len(s.tasks)} tasks ({', '.join(f'{n} {k}' for k, n in kinds.items())}) - valid",
                      highlight=False)
        if checks:
            console.print(f"reference solutions: {len(checks) - len(failed)}/{len(checks)} pass their tests",
                          highlight=False)
        for tid, reason in failed:
            console.print(f"  [red]{tid}[/]: {reason}", highlight=False)
    if failed:
        raise typer.Exit(1)


def report_cmd(
    runs: List[str] = typer.Argument(..., help="Bench run directories or ids (runs/bench/<id>)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for report.md and PNGs "
                                                                      "(default: <first run>/report)."),
    runs_dir: Path = typer.Option(Path("runs/bench"), "--runs-dir", help="Where bench ids are looked up."),
    as_json: bool = typer.Option(False, "--json", help="Print the paths written as JSON."),
) -> None:
    """Render bench runs as a Markdown report with tables and PNG charts (pass@1, depth, failures).

    Examples:
      hrm agent report runs/bench/20261123-101500-ab12
      hrm agent report RUN_A RUN_B --output reports/math-vs-curriculum
    """
    from hrm_agent.bench.report import write_report
    from hrm_cli.console import console, print_json

    out = write_report(list(runs), output, root=runs_dir)
    if as_json:
        print_json(out)
        return
    console.print(f"report: {out['report']}", highlight=False)
    for p in out["plots"]:
        console.print(f"  plot: {p}", highlight=False)
