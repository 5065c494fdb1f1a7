"""`hrm agent tune`: parse, call hrm_agent.tune.lora, render progress (a bar on a terminal, plain lines when piped)."""

from __future__ import annotations

import time
from typing import Optional

import typer

PLAIN_EVERY_S = 30.0  # piped output: one progress line at most this often


def _duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")


def tune_cmd(
    name: str = typer.Option("smollm2-agent", "--name", help="Adapter name: ~/.cache/hrm/adapters/NAME."),
    steps: int = typer.Option(300, "--steps", help="Optimizer steps."),
    examples: int = typer.Option(400, "--examples", help="Generated tasks (each gives one chat example per "
                                                         "model call of its trace)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Chat examples per step."),
    lr: float = typer.Option(2e-4, "--lr", help="Peak learning rate (Adam, warmup then cosine decay)."),
    rank: int = typer.Option(8, "--rank", help="LoRA rank."),
    layers: int = typer.Option(8, "--layers", help="Transformer blocks, from the top, that get LoRA layers."),
    schedule: str = typer.Option("mixed", "--schedule", help="mixed (shuffled) or curriculum (2 -> 3 -> 4 steps)."),
    data: str = typer.Option("math,chains,code,plain", "--data",
                             help="Task sources, comma-separated: math, chains, code (functions), plain "
                                  "(math asked without a format)."),
    roles: str = typer.Option("planner,solver,critic,synthesizer,flat", "--roles",
                              help="Model calls of each trace to train on, comma-separated."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated tasks and of the batch order."),
    save_every: int = typer.Option(25, "--save-every", help="Checkpoint every N steps (and on Ctrl-C)."),
    snapshot_every: Optional[int] = typer.Option(None, "--snapshot-every",
                                                 help="Also keep the adapter of every N-th step in "
                                                      "NAME/snapshots/ (learning curves: hrm agent e3)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Base mlx-lm model folder (default: the "
                                                                    "bundled SmolLM2-135M-Instruct)."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue the adapter NAME with its stored options."),
    force: bool = typer.Option(False, "--force", help="Delete an existing adapter of this name and start over."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON at the end."),
) -> None:
    """LoRA-tune the local model on traces of the agent's own protocol (plan, code, critique, answer).

    The tasks are generated (word problems and arithmetic from templates disjoint from the math suite,
    and multi-step chains from seeds the curriculum suite never uses), each with a reference solution
    that is executed to write the trace. The adapter goes to ~/.cache/hrm/adapters/NAME; use it with
    --adapter NAME on hrm agent run and hrm agent bench. An interrupted run (Ctrl-C, SIGTERM) saves a
    checkpoint; running the same command again, or --resume NAME, continues it.

    Examples:
      hrm agent tune --steps 200 --examples 200
      hrm agent tune --name e3-curriculum --data chains --schedule curriculum --steps 150 --examples 120 --snapshot-every 50
      hrm agent tune --resume smollm2-agent
      hrm agent run "What is 17 * 23?" --adapter smollm2-agent
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from hrm_agent.tune.lora import TuneInterrupted, TuneOptions, tune
    from hrm_cli.console import console, err_console, print_json, progress_bar

    opts = TuneOptions(name=resume or name, steps=steps, examples=examples, batch_size=batch_size, lr=lr,
                       rank=rank, layers=layers, schedule=schedule.strip().lower(), seed=seed,
                       sources=tuple(s.strip() for s in data.split(",") if s.strip()), save_every=save_every,
                       snapshot_every=snapshot_every, roles=tuple(r.strip() for r in roles.split(",") if r.strip()),
                       model=model)
    opts.check()  # before loading anything: a bad option is one line, exit 2
    progress = progress_bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            disable=as_json)
    plain = not as_json and not err_console.is_terminal
    bar = progress.add_task("tune", total=opts.steps, info="", visible=False)
    last_plain = [0.0]

    def note(text: str) -> None:
        if not as_json:
            progress.console.print(f"[dim]{text}[/]", highlight=False)

    def on_start(info: dict) -> None:
        if not as_json:
            progress.console.print(
                f"[bold]adapter[/] {info['folder']}  [bold]base[/] {info['base_model']}  [bold]data[/] "
                f"{info['tasks']} tasks -> {info['chat_examples']} chat examples  [bold]schedule[/] "
                f"{info['schedule']}  [bold]LoRA parameters[/] {info['trainable_parameters']:,}", highlight=False)
        progress.update(bar, total=info["steps"], completed=info["start_step"], visible=True)

    def on_step(s) -> None:
        info = f"loss {s.loss:.3f}  {s.tokens_per_s:.0f} tok/s"
        progress.update(bar, completed=s.step, info=info)
        now = time.monotonic()
        if plain and (now - last_plain[0] >= PLAIN_EVERY_S or s.step == s.total):
            last_plain[0] = now
            done = s.step - s.start_step
            eta = s.elapsed_s / max(done, 1) * (s.total - s.step)
            err_console.print(f"step {s.step}/{s.total}: {info}, elapsed {_duration(s.elapsed_s)}, "
                              f"ETA {_duration(eta)}", highlight=False)

    try:
        with progress:
            summary = tune(opts, resume=resume is not None, force=force, on_start=on_start, on_step=on_step,
                           note=note)
    except TuneInterrupted as exc:
        by = exc.signal
        err_console.print(f"interrupted by {by}: checkpoint saved at step {exc.summary.get('steps_done')}; "
                          f"continue with: hrm agent tune --resume {opts.name}", highlight=False)
        raise typer.Exit(143 if by == "SIGTERM" else 130) from None
    if as_json:
        print_json(summary)
        return
    console.print(f"[bold green]done[/] {summary['folder']}: {summary['steps_done']} steps, last loss "
                  f"{summary.get('last_loss')}, {_duration(summary.get('train_seconds') or 0)} of training; "
                  f"use it with --adapter {opts.name}", highlight=False)
