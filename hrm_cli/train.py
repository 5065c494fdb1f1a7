"""`hrm train`: train an HRM on a dataset folder, with live progress and a run directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, List, Optional

import typer

EVAL_PLAIN_EVERY_S = 10.0  # piped output: a progress line this often during an evaluation


def train(
    data: Path = typer.Argument(..., help="Dataset folder (from `hrm data build`)."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value config overrides (arch.H_cycles=3 lr=1e-4)."),
    config: str = typer.Option("hrm-tiny", "--config", "-c", help="Preset name or YAML file."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="User YAML applied over the preset."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this directory."),
    run_name: Optional[str] = typer.Option(None, "--run-name", help="Name of runs/<name> (default: preset-data-time)."),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON (no progress bar)."),
    distributed: bool = typer.Option(False, "--distributed",
                                     help="Data-parallel over the processes started by mlx.launch (detected anyway)."),
    processes: int = typer.Option(0, "--processes", "-n", min=0,
                                  help="Start N local data-parallel processes (mlx.launch, ring backend)."),
    dashboard: bool = typer.Option(False, "--dashboard",
                                   help="Train in a background process and watch it in `hrm dashboard`."),
) -> None:
    """Train an HRM on DATA: compiled steps, evaluation every eval_interval epochs, checkpoints.

    Writes runs/<name>/ (config.yaml, metrics.jsonl, run.json, checkpoints/). Ctrl-C (exit 130) or
    SIGTERM (exit 143) saves a checkpoint and stops; `--resume runs/<name>` continues exactly where it
    stopped. A full or read-only disk is one line and exit 4, the run marked failed.

    Examples:
      hrm train data/sudoku4 --config hrm-tiny
      hrm train data/sudoku-extreme --config hrm-sudoku global_batch_size=384 lr=7e-5 puzzle_emb_lr=7e-5
      hrm train data/sudoku4 --resume runs/hrm-tiny-sudoku4-20260101-120000
      hrm train data/sudoku4 --processes 2          # 2 local processes, global batch split between them
      hrm train data/sudoku4 --dashboard            # live plots in front, training in the background
      mlx.launch --hostfile hosts.json -- hrm train data/sudoku-extreme --config hrm-sudoku --distributed
    """
    if processes > 1:
        _relaunch(processes)
    from hrm_cli.console import console, err_console, print_json
    from hrm_engine.training.distributed import init as init_distributed
    from hrm_engine.train import TrainingInterrupted, resolve_run_config, run_path, run_training

    dist = init_distributed(required=distributed)
    if not dist.is_main:
        as_json = True  # only rank 0 talks; the others print nothing (their summary goes to /dev/null)
    cfg = resolve_run_config(config, file, overrides, resume)
    if dashboard:
        from hrm_cli.dashboard_cmd import run_behind_dashboard

        path = run_path(cfg, data, resume, run_name)  # named here, passed on: the background run uses the same
        run_behind_dashboard(path, [] if resume is not None or run_name else ["--run-name", path.name], "run.json")
        return
    progress = TrainProgress(quiet=as_json)
    try:
        with progress.bar:
            summary = run_training(cfg, data, resume=resume, run_name=run_name, observer=progress, dist=dist)
    except TrainingInterrupted as exc:
        summary = exc.args[0] if exc.args else {}
        by = " by SIGTERM" if summary.get("signal") == "SIGTERM" else ""
        err_console.print(f"interrupted{by}: checkpoint saved at step {summary.get('step')}; "
                          f"continue with: hrm train {data} --resume {summary.get('run')}", highlight=False)
        raise typer.Exit(143 if by else 130)  # the shell's 128 + signal number
    if not dist.is_main:
        return
    if as_json:
        print_json(summary)
        return
    ev = summary.get("last_eval") or {}
    console.print(f"[bold green]done[/] {summary['run']}: step {summary['step']}, "
                  f"test exact accuracy {ev.get('exact_accuracy', float('nan')):.4f}", highlight=False)


class TrainProgress:
    """The run line, the progress bar and the evaluation lines of `hrm train`, drawn from the engine's training
    events (it is a hrm_engine.train.TrainingObserver). Piped (a Makefile, a log file) there is no bar, so a
    plain line is printed every 10 log lines and every 10 s of an evaluation instead."""

    def __init__(self, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from hrm_cli.console import err_console, progress_bar

        self.quiet = quiet
        self.bar = progress_bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                disable=quiet)
        self.plain_every = 0 if (quiet or err_console.is_terminal) else 10
        # hidden until the run line is printed: that line goes to stdout, the bar to stderr, and a bar drawn
        # before it ("train 0/?") was left on the line above it, stale, in a terminal wide enough not to wrap
        self.task = self.bar.add_task("train", total=None, info="", visible=False)
        self.eval_task: dict[str, Any] = {}
        self.logs_seen = 0

    def started(self, run: Any) -> None:
        from hrm_cli.console import console

        if not self.quiet:
            console.print(f"[bold]run[/] {run.path}  [bold]device[/] {run.device}  "
                          f"[bold]parameters[/] {run.parameters:,}  "
                          f"[bold]steps[/] {run.total_steps:,}  [bold]batch[/] {run.global_batch_size}  "
                          f"[bold]dtype[/] {run.forward_dtype}  H{run.H_cycles}xL{run.L_cycles}, "
                          f"ACT <= {run.halt_max_steps}", highlight=False)
        self.bar.update(self.task, total=run.total_steps, completed=run.step, visible=True)

    def logged(self, rec: dict[str, Any]) -> None:
        from hrm_cli.console import err_console

        info = (f"loss {rec['lm_loss']:.3f}  exact {rec['exact_accuracy']:.3f}  ACT {rec['steps']:.1f}  "
                f"{rec['steps_per_s']:.2f} it/s  {rec['tokens_per_s']:.0f} tok/s")
        self.bar.update(self.task, completed=rec["step"], info=info)
        self.logs_seen += 1
        if self.plain_every and self.logs_seen % self.plain_every == 0:
            err_console.print(f"step {rec['step']}: {info}", highlight=False)

    def eval_progress(self, done: int, total: int) -> None:
        from hrm_cli.console import err_console

        ev = self.eval_task
        if "t" not in ev:
            ev["t"] = self.bar.add_task("eval", total=total, info="test split")
            ev["start"] = ev["last"] = time.monotonic()
            if self.plain_every:
                err_console.print(f"eval: {total} test examples", highlight=False)
        self.bar.update(ev["t"], completed=done)
        now = time.monotonic()
        if self.plain_every and now - ev["last"] >= EVAL_PLAIN_EVERY_S and done < total:
            ev["last"] = now
            eta = (now - ev["start"]) * (total - done) / max(done, 1)
            err_console.print(f"eval: {done}/{total} examples, ETA {_duration(eta)}", highlight=False)

    def evaluated(self, rec: dict[str, Any]) -> None:
        if "t" in self.eval_task:
            self.bar.remove_task(self.eval_task.pop("t"))
            self.eval_task.clear()
        if not self.quiet:
            self.bar.console.print(
                f"step {rec['step']}: [bold]exact accuracy {rec['exact_accuracy']:.4f}[/] (whole puzzle right)  "
                f"token accuracy {rec['accuracy']:.4f}  ACT steps {rec['steps']:.1f}  lm_loss {rec['lm_loss']:.4f}",
                highlight=False)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _relaunch(processes: int) -> None:
    """Run this same command under `mlx.launch` with N local ring processes, then exit with its code."""
    import os
    import shutil
    import subprocess
    import sys

    from hrm_cli.console import fail

    launcher = shutil.which("mlx.launch") or str(Path(sys.executable).with_name("mlx.launch"))
    if not Path(launcher).exists():
        fail("mlx.launch was not found next to this Python; reinstall mlx or start the processes yourself")
    args, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if a in ("--processes", "-n"):
            skip = True
            continue
        if a.startswith("--processes="):
            continue
        args.append(a)
    cmd = [launcher, "--backend", "ring", "-n", str(processes), "--", sys.executable, sys.argv[0], *args,
           "--distributed"]
    raise typer.Exit(subprocess.call(cmd, env=os.environ.copy()))
