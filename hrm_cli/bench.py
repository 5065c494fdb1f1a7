"""`hrm bench`: measured speed of the training step, time to accuracy, and the dataset generators."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(help="Benchmarks: training-step throughput and memory, time to accuracy, generator throughput, sandbox start-up.",
                  no_args_is_help=True)


@app.command("train")
def bench_train_cmd(
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value config overrides."),
    config: str = typer.Option("hrm-tiny", "--config", "-c", help="Preset name or YAML file."),
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset folder (default: synthetic of --seq-len/--vocab)."),
    steps: int = typer.Option(5, "--steps", min=1, help="Timed steps."),
    warmup: int = typer.Option(2, "--warmup", min=0, help="Untimed steps first (compilation)."),
    seq_len: int = typer.Option(81, "--seq-len", min=1, help="Synthetic data: sequence length (Sudoku 81)."),
    vocab: int = typer.Option(11, "--vocab", min=2, max=256, help="Synthetic data: vocabulary (Sudoku 11)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="KEY=v1,v2,... e.g. arch.H_cycles=1,2,4,8"),
    wait_each_step: bool = typer.Option(False, "--wait-each-step",
                                        help="Wait for each step before launching the next (to measure the overlap)."),
    breakdown: bool = typer.Option(False, "--breakdown",
                                   help="Also time the step's phases apart: no-gradient cycles, gradient cycle, "
                                        "Q target, optimizers, host launch."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Steps/s, tokens/s and peak memory of the compiled training step, with the device and BLAS.

    Examples:
      hrm bench train --config hrm-tiny
      hrm bench train --config hrm-sudoku global_batch_size=32
      hrm bench train --config hrm-tiny --sweep arch.H_cycles=1,2,4,8
      hrm bench train --config hrm-sudoku global_batch_size=768 --wait-each-step   # vs without: host overlap
      hrm bench train --config hrm-sudoku global_batch_size=32 --breakdown          # where the time goes
      hrm bench train --config trm-sudoku9-fast --data data/sudoku9-medium-1k --steps 40   # each depth stage
    """
    from rich.table import Table

    from hrm_cli.console import console, print_json
    from hrm_engine.bench.throughput import bench_train
    from hrm_engine.config_ranges import resolve_train_config
    from hrm_engine.errors import ConfigError

    runs = [list(overrides or [])]
    if sweep:
        if "=" not in sweep:
            raise ConfigError(f"--sweep {sweep!r} is not KEY=v1,v2,...")
        key, values = sweep.split("=", 1)
        runs = [list(overrides or []) + [f"{key}={v}"] for v in values.split(",") if v]
    results = []
    for ov in runs:
        cfg = resolve_train_config(config, None, ov)
        res = bench_train(cfg, steps=steps, warmup=warmup, data=data, seq_len=seq_len, vocab_size=vocab,
                          wait_each_step=wait_each_step, breakdown=breakdown)
        res["overrides"] = ov
        results.append(res)
    if as_json:
        print_json(results if sweep else results[0])
        return
    first = results[0]
    table = Table(title=f"hrm bench train: {config} on {first['device']} (BLAS: {first['blas']}, MLX {first['mlx']})")
    for col in ("overrides", "params", "batch", "dtype", "s/step", "steps/s", "tokens/s", "peak MB"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(" ".join(r["overrides"]) or "-", f"{r['parameters']:,}", str(r["global_batch_size"]), r["dtype"],
                      f"{r['s_per_step']:.3f}", f"{r['steps_per_s']:.2f}", f"{r['tokens_per_s']:.0f}",
                      f"{r['peak_memory_mb']:.0f}")
    console.print(table)
    for r in results:
        if "phases_ms" in r:
            console.print(_phase_table(r))
        if "stages" in r:
            console.print(_stage_table(r, data is not None))


def _phase_table(result: dict):
    """The step's phases, each as ms and as a share of the real step."""
    from rich.table import Table

    phases, full = result["phases_ms"], result["phases_ms"]["full_step"]
    table = Table(title=f"where a step's time goes ({' '.join(result['overrides']) or 'defaults'})")
    for col in ("phase", "ms", "% of step"):
        table.add_column(col, justify="right")
    labels = {"no_grad_cycles": "no-gradient cycles", "gradient_cycle": "gradient cycle (fwd+bwd, loss)",
              "q_target": "Q-learning target segment", "optimizers": "Adam-atan2 + sign-SGD",
              "sum_of_phases": "sum of the phases, apart", "full_step": "the compiled step",
              "host_launch": "host: launching the step"}
    for key, label in labels.items():
        table.add_row(label, f"{phases[key]:.1f}", f"{100 * phases[key] / full:.0f}%")
    return table


def _stage_table(result: dict, real_data: bool):
    """The cycles_schedule's stages: each one's steps and speed, and what the whole schedule takes."""
    from rich.table import Table

    where = "this dataset" if real_data else "the synthetic data (give --data for the real step count)"
    table = Table(title=f"cycles_schedule: {result['total_steps']:,} steps on {where}, about "
                        f"{result['schedule_s'] / 60:.1f} min of training at these rates")
    for col in ("from", "H x L cycles", "steps", "s/step", "steps/s", "minutes"):
        table.add_column(col, justify="right")
    for st in result["stages"]:
        table.add_row(f"{st['start']:.0%}", f"{st['H_cycles']} x {st['L_cycles']}", f"{st['steps']:,}",
                      f"{st['s_per_step']:.3f}", f"{st['steps_per_s']:.2f}", f"{st['steps'] * st['s_per_step'] / 60:.1f}")
    return table


@app.command("learn")
def bench_learn_cmd(
    data: Path = typer.Argument(..., help="Dataset folder (from `hrm data build`)."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value config overrides."),
    config: str = typer.Option("hrm-tiny", "--config", "-c", help="Preset name or YAML file."),
    target: Optional[float] = typer.Option(None, "--target", help="Stop once held-out exact accuracy reaches this."),
    budget: float = typer.Option(30.0, "--budget", help="Training minutes at most (evaluation time not counted)."),
    eval_every: float = typer.Option(60.0, "--eval-every", help="Training seconds between evaluations."),
    eval_examples: Optional[int] = typer.Option(None, "--eval-examples",
                                                help="Evaluate on the first N test examples (default: all)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Curve file (default: runs/learn/<preset>-<data>-<time>.json)."),
    label: Optional[str] = typer.Option(None, "--label", help="Name of the curve in plots."),
    save: Optional[Path] = typer.Option(None, "--save", help="Also write a run directory with the last step's "
                                        "checkpoint when it stops (for hrm eval / solve / train --resume)."),
    as_json: bool = typer.Option(False, "--json", help="Print the curve as JSON (no progress)."),
) -> None:
    """Time to accuracy: train, evaluate held-out exact accuracy every --eval-every seconds of training.

    The clock counts training only; each evaluation's time is reported apart. Stops at --target, after
    --budget minutes of training, or at the end of the preset's schedule (epochs). The curve (accuracy
    against training seconds and steps) is rewritten after every evaluation; `hrm dashboard --learn FILE`
    plots it, several files overlaid (docs/learning.md).

    Examples:
      hrm bench learn data/sudoku6 --config trm-tiny --budget 30 --eval-every 60 --out trm.json epochs=6000
      hrm bench learn data/sudoku6 --config hrm-tiny --target 0.9 --eval-examples 500 epochs=6000
      hrm bench learn data/sudoku9-hard --config trm-sudoku9-hard --budget 60 --save runs/hard   # then hrm eval
      hrm dashboard --learn trm.json --learn hrm.json
    """
    from datetime import datetime

    from hrm_cli.console import console, err_console, print_json
    from hrm_engine.config_ranges import resolve_train_config
    from hrm_engine.bench.learn import check_settings, learn

    check_settings(target, budget, eval_every, eval_examples)
    if not data.is_dir():
        from hrm_engine.errors import ConfigError

        what = "is not a folder" if data.exists() else "does not exist"
        raise ConfigError(f"dataset folder {data} {what}; pass one built by `hrm data build`")
    cfg = resolve_train_config(config, None, list(overrides or []))
    out = out or Path(cfg.get("runs_dir") or "runs") / "learn" / f"{cfg.get('name', 'run')}-{data.name}-" \
        f"{datetime.now():%Y%m%d-%H%M%S}.json"
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from hrm_cli.console import progress_bar

    show = not as_json
    budget_s = budget * 60.0
    # on a terminal: a bar over the training budget (its ETA counts the evaluations too); piped: the lines only
    progress = progress_bar(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                            TimeElapsedColumn(), TimeRemainingColumn(), disable=as_json)
    task = progress.add_task("train", total=budget_s, info="", visible=False)
    best = [0.0]

    def on_start(trainer, curve) -> None:
        if show:
            console.print(f"[bold]learn[/] {cfg.get('name')} ({cfg['arch']['name']}) on {data}  "
                          f"[bold]parameters[/] {trainer.num_parameters:,}  [bold]batch[/] "
                          f"{trainer.global_batch_size}  [bold]eval[/] {curve['data']['eval_examples']} test "
                          f"examples every {eval_every:g} s  [bold]budget[/] {budget:g} min"
                          + (f"  [bold]target[/] {target:g}" if target is not None else "")
                          + f"  [bold]curve[/] {out}", highlight=False, soft_wrap=True)
        progress.update(task, visible=True)

    def on_step(step: int, train_s: float) -> None:
        progress.update(task, description="train", completed=min(train_s, budget_s),
                        info=f"step {step}  best exact {best[0]:.3f}")

    def on_eval_start(step: int) -> None:
        progress.update(task, description="eval ", info=f"at step {step}")

    def on_point(p: dict) -> None:
        best[0] = max(best[0], p["exact_accuracy"])
        if show:
            console.print(
                f"{_minutes(p['train_seconds']):>7} step {p['step']:>6}  [bold]exact {p['exact_accuracy']:.4f}[/]  "
                f"token acc {p['accuracy']:.4f}  eval {p['eval_seconds']:.1f}s", highlight=False, soft_wrap=True)

    with progress:
        curve = learn(cfg, data, out, label=label, target=target, budget_s=budget_s, eval_every_s=eval_every,
                      eval_examples=eval_examples, save=save, on_start=on_start, on_step=on_step,
                      on_eval_start=on_eval_start, on_point=on_point)
    if as_json:
        print_json(curve)
    else:
        best_exact = max((p["exact_accuracy"] for p in curve["points"]), default=float("nan"))
        console.print(f"[bold green]done[/] ({curve['stop_reason']}): {curve['steps']} steps in "
                      f"{_minutes(curve['train_seconds'])} of training ({curve['steps_per_s'] or 0:.2f} steps/s, "
                      f"{curve['tokens_per_s'] or 0:.0f} tokens/s) + {curve['eval_seconds']:.0f} s of evaluation; "
                      f"best exact accuracy {best_exact:.4f}; curve {out}", highlight=False, soft_wrap=True)
        if curve.get("checkpoint"):
            console.print(f"checkpoint {curve['checkpoint']} (hrm eval {save} --data {data})", highlight=False,
                          soft_wrap=True)
    if curve["stop_reason"] == "interrupted":
        by = curve.get("signal")
        err_console.print(f"interrupted{' by ' + by if by else ''}: the curve so far is in {out}", highlight=False)
        raise typer.Exit(143 if by == "SIGTERM" else 130)


def _minutes(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"


@app.command("data")
def bench_data_cmd(
    count: int = typer.Option(1000, "--count", min=1, help="Puzzles to generate."),
    size: int = typer.Option(9, "--size", help="Sudoku size: 4, 6 or 9."),
    difficulty: str = typer.Option("hard", "--difficulty", help="easy | medium | hard | extreme."),
    workers: int = typer.Option(0, "--workers", min=0, help="Processes (0: one per core)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Throughput of the Sudoku generator (unique-solution puzzles with a rating).

    Example:
      hrm bench data --count 1000 --size 9 --difficulty hard
    """
    import os
    import time

    import numpy as np

    from hrm_cli.console import console, phase_progress, print_json
    from hrm_datasets.sudoku import generate_many

    progress, update = phase_progress()
    start = time.perf_counter()
    with progress:
        puzzles = generate_many(size, difficulty, count, seed=0, workers=workers,
                                on_progress=lambda done: update("puzzles", done, count))
    seconds = time.perf_counter() - start
    ratings = np.array([r for _, _, r in puzzles])
    clues = np.array([(p > 0).sum() for p, _, _ in puzzles])
    result = {"count": count, "size": size, "difficulty": difficulty, "seconds": seconds,
              "puzzles_per_s": count / seconds, "workers": workers or os.cpu_count(),
              "clues_mean": float(clues.mean()), "rating_median": float(np.median(ratings)),
              "rating_p10": float(np.percentile(ratings, 10)), "rating_p90": float(np.percentile(ratings, 90))}
    if as_json:
        print_json(result)
        return
    console.print(f"{count} {difficulty} {size}x{size} puzzles in {seconds:.1f}s ({result['puzzles_per_s']:.1f}/s, "
                  f"{result['workers']} processes); clues {result['clues_mean']:.1f} on average, rating median "
                  f"{result['rating_median']:.0f} (p10 {result['rating_p10']:.0f}, p90 {result['rating_p90']:.0f})")


@app.command("sandbox")
def bench_sandbox_cmd(
    runs: int = typer.Option(20, "--runs", "-n", min=1, help="Alternating rounds (the median is reported)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Start-up cost of one sandboxed code execution (RESULT = 1), per isolation mode, median of N rounds.

    Example:
      hrm bench sandbox --runs 20
    """
    from hrm_agent.sandbox.execute import isolation
    from hrm_agent.sandbox.startup import measure
    from hrm_cli.console import console, print_json

    result = {"isolation": isolation().detail, "runs": runs, "modes": measure(runs)}
    if as_json:
        print_json(result)
        return
    console.print(f"[bold]isolation[/]  {result['isolation']}", highlight=False)
    for name, row in result["modes"].items():
        console.print(f"{name:>18}  median {row['median_ms']:.1f} ms  (min {row['min_ms']:.1f}, max "
                      f"{row['max_ms']:.1f})", highlight=False)
