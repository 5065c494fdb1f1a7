"""`hrm solve --adapt` and `hrm eval --adapt`: parse, call hrm_engine.adapt, render.

The engine does the work (docs/test-time-adaptation.md); this module turns the options into settings,
draws progress and tables, and writes the run folder of a measurement.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer

ADAPT_HELP = "Choose the task's embedding from its demonstrations first: none, mean, random, bopro, gradient, trained."


def settings_from(evaluations: int, seed: int, acquisition: str, batch: int, lr: float,
                  draws: str = "gaussian") -> Any:
    """SearchSettings from the options, each checked in one line."""
    from hrm_engine.adapt.search import DRAWS, SearchSettings
    from hrm_engine.bayesopt import ACQUISITIONS
    from hrm_engine.errors import EngineError

    if acquisition not in ACQUISITIONS:
        raise EngineError(f"--acquisition must be one of: {', '.join(ACQUISITIONS)}, got {acquisition!r}")
    if batch < 1:
        raise EngineError(f"--batch must be at least 1, got {batch}")
    if not lr > 0:
        raise EngineError(f"--lr must be positive, got {lr}")
    if draws not in DRAWS:
        raise EngineError(f"--draws must be one of: {', '.join(DRAWS)}, got {draws!r}")
    return SearchSettings(evaluations=evaluations, seed=seed, acquisition=acquisition, batch=batch, lr=lr,
                          draws=draws)


def solve_adapted(loaded: Any, text: str, where: str, method: str, evaluations: int, samples: int,
                  settings: Any, latent_dim: int, segments: Optional[int], points: Optional[Path],
                  as_json: bool) -> None:
    """One task: search its embedding, answer its test inputs, print them (exit 1 if a known answer is wrong)."""
    from hrm_cli.console import console, print_json
    from hrm_datasets.render import render_example
    from hrm_engine.adapt.points import point_lines, write_points
    from hrm_engine.adapt.task import adapt_task, adaptation_space, check_adapt_args
    from hrm_engine.solving.arc_task import model_canvas, parse_arc_text
    from hrm_datasets.arc import encode

    import numpy as np

    check_adapt_args([method], evaluations, samples)
    space = adaptation_space(loaded, latent_dim)
    canvas = model_canvas(loaded.metadata)
    task = parse_arc_text(text, canvas, where, need_demos=True)
    started = time.perf_counter()
    adapted = adapt_task(loaded, task, method, settings, space, samples=samples, segments=segments)
    wall = time.perf_counter() - started
    if points is not None:
        write_points(points, point_lines(task.name, adapted.search))
    best = adapted.search.points[adapted.search.best()]
    if as_json:
        print_json({"checkpoint": str(loaded.path), "task": task.name, **adapted.summary(),
                    "seconds_total": round(wall, 3), "latent_dim": space.dim,
                    "votes": [[c.votes for c in cands] for cands in adapted.candidates],
                    "points": None if points is None else str(points)})
    else:
        for t, ((inp, _), out) in enumerate(zip(task.tests, adapted.outputs)):
            x = encode(inp, np.zeros((1, 1), np.uint8), canvas=canvas)[0]
            y = encode(out, out, canvas=canvas)[0]
            console.print(render_example("arc", x, y, loaded.build_info, titles=(f"test[{t}]", "model's answer")))
            if adapted.correct[t] is not None:
                console.print("[bold green]correct[/]" if adapted.correct[t] else "[bold red]wrong[/] (the task "
                              "file's test output differs)")
        console.print(f"adapt {method}: {adapted.search.evaluations} evaluations in {adapted.search.seconds:.2f} s "
                      f"({wall:.2f} s with the answer); best on the demonstrations: {best.exact:.2f} solved, "
                      f"token accuracy {best.token:.3f} (evaluation {best.evaluation})", highlight=False)
        if points is not None:
            console.print(f"points: {points}", highlight=False)
    if any(c is False for c in adapted.correct):
        raise typer.Exit(1)


def default_output(checkpoint: Path) -> Path:
    """runs/adapt/<run name>-<time>: where a measurement's points and result go by default."""
    run = Path(checkpoint).resolve()
    name = run.name if not run.name.startswith("step_") else run.parent.parent.name
    return Path("runs") / "adapt" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def eval_adapted(checkpoint: Path, data: Path, split: str, methods_csv: str, evaluations: int, settings: Any,
                 latent_dim: int, segments: Optional[int], limit: Optional[int], output: Optional[Path],
                 plot: Optional[Path], as_json: bool) -> None:
    """Every method on every task of DATA; the table, result.json and points.jsonl in the output folder."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from hrm_cli.console import console, print_json, progress_bar, warn
    from hrm_engine.adapt.measure import measure, task_files
    from hrm_engine.adapt.task import adaptation_space, check_adapt_args
    from hrm_engine.run.checkpoint import load_checkpoint
    from hrm_engine.errors import EngineError
    from hrm_engine.run.directory import write_json_atomic

    methods = [m.strip() for m in methods_csv.split(",") if m.strip()]
    check_adapt_args(methods, evaluations)
    if limit is not None and limit < 1:
        raise EngineError(f"--limit must be at least 1, got {limit}")
    files = task_files(data, split)[:limit]
    loaded = load_checkpoint(checkpoint)
    if loaded.note:
        warn(loaded.note)
    space = adaptation_space(loaded, latent_dim)
    out = output or default_output(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    points = out / "points.jsonl"
    points.unlink(missing_ok=True)
    bar = progress_bar(TextColumn("adapt"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       disable=as_json, transient=True)
    with bar:
        job = bar.add_task("tasks", total=len(files))
        result = measure(loaded, files, methods, settings, space, points=points, segments=segments,
                         on_task=lambda done, _n, _name, _row: bar.update(job, completed=done),
                         training_tasks=split == "train")
    result.update(checkpoint=str(loaded.path), step=loaded.step, data=str(data), split=split,
                  points=str(points))
    write_json_atomic(out / "result.json", result)
    if plot is not None:
        from hrm_engine.adapt.plot import plot_curves

        plot_curves(result, plot)
    if as_json:
        print_json(result)
        return
    for table in adapt_tables(result):
        console.print(table)
    console.print(f"{result['tasks']} tasks, {evaluations} evaluations each; latent space: {space.dim} principal "
                  f"components of {space.trained_rows} trained embeddings ({space.explained:.0%} of their "
                  f"variance); {result['seconds']:.0f} s in all. Written: {out}/result.json, {points}"
                  + (f", {plot}" if plot else ""), highlight=False)


def adapt_tables(result: dict[str, Any]) -> list[Any]:
    """Mean exact accuracy per method at a few budgets; then, at the full budget, intervals, time per task
    and the paired differences (80 columns wide)."""
    from rich.table import Table

    N = result["evaluations"]
    marks = sorted({n for n in (1, 2, 4, 8, 16, 32, 64, 128, N) if n <= N})
    methods = result["methods"]
    curve = Table(title=f"test-pair exact accuracy, mean over {result['tasks']} tasks, by evaluations n")
    curve.add_column("n", justify="right")
    for m in methods:
        curve.add_column(m, justify="right")
    for n in marks:
        curve.add_row(str(n), *[f"{methods[m]['exact'][n - 1][0]:.3f}" for m in methods])
    final = Table(title=f"at n = {N}: test-pair exact with 95% bootstrap intervals over tasks (differences paired "
                        f"by task); best demonstration score (exact + token, 0..2)")
    for name in ("", "exact", "interval", "demo score", "s/task"):
        final.add_column(name, justify="left" if not name else "right")
    for m, data in methods.items():
        mean, lo, hi = data["exact"][N - 1]
        demo = data.get("demo_score", [[float("nan")]] * N)[N - 1][0]
        final.add_row(m, f"{mean:.3f}", f"[{lo:.3f}, {hi:.3f}]", f"{demo:.3f}",
                      f"{data['seconds_per_task']['mean']:.2f}")
    for pair, rows in result["paired"].items():
        mean, lo, hi = rows[N - 1]
        demo = result.get("paired_demo_score", {}).get(pair)
        final.add_row(pair.replace("-", " - "), f"{mean:+.3f}", f"[{lo:+.3f}, {hi:+.3f}]",
                      "" if demo is None else f"{demo[N - 1][0]:+.3f}", "")
    return [curve, final]
