"""`hrm agent e3`: parse, call hrm_agent.bench.curriculum_experiment (curriculum against mixed on held-out chains), render."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from hrm_cli.agent.config import agent_config


def e3_cmd(
    adapters: List[str] = typer.Argument(..., help="Adapters from `hrm agent tune --snapshot-every N` "
                                                   "(names or folders), e.g. e3-curriculum e3-mixed."),
    output: Path = typer.Option(Path("runs/e3"), "--output", "-o", help="Folder for e3.json, e3.png, e3.md "
                                                                        "and one bench run per point."),
    per_depth: int = typer.Option(10, "--per-depth", help="Held-out tasks per depth."),
    depths: str = typer.Option("5,6", "--depths", help="Held-out chain depths, comma-separated (5 or more)."),
    controller: str = typer.Option("flat", "--controller", help="flat or hierarchical."),
    no_base: bool = typer.Option(False, "--no-base", help="Skip the base model's point (0 examples)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="YAML over configs/agent.yaml."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap interval."),
    as_json: bool = typer.Option(False, "--json", help="Print e3.json instead of the table."),
    allow_weak_sandbox: bool = typer.Option(False, "--allow-weak-sandbox",
                                            help="Run model code even where no OS sandbox exists (weaker)."),
) -> None:
    """E3: held-out pass@1 against training examples seen, for each adapter's snapshots and the base model.

    Train the two arms at equal examples and steps, keeping snapshots, then evaluate them on the same
    held-out 5- and 6-step chains. Each point is a bench run under OUTPUT/bench/ (rerunning resumes).

    Examples:
      hrm agent tune --name e3-curriculum --data chains --schedule curriculum --steps 90 --examples 240 --snapshot-every 30
      hrm agent tune --name e3-mixed --data chains --schedule mixed --steps 90 --examples 240 --snapshot-every 30
      hrm agent e3 e3-curriculum e3-mixed --per-depth 10 --output runs/e3
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from hrm_agent.bench.curriculum_experiment import markdown, run_e3
    from hrm_agent.errors import AgentError
    from hrm_cli.console import console, err_console, print_json, progress_bar

    try:
        wanted = [int(d) for d in depths.split(",") if d.strip()]
    except ValueError:
        raise AgentError(f"--depths {depths!r}: give integers, e.g. --depths 5,6") from None
    cfg = agent_config(file, [], **{"sandbox.allow_weak": True if allow_weak_sandbox else None})
    if cfg.get("backend") != "mlx":
        raise AgentError("hrm agent e3 evaluates LoRA adapters, which only the local mlx backend applies")
    items = per_depth * len(wanted)
    with progress_bar(TextColumn("[bold]e3[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("pass {task.fields[passed]}"), TimeElapsedColumn(), disable=as_json) as progress:
        bar = progress.add_task("", total=items, passed=0)

        def on_point(point, i: int, n: int) -> None:
            progress.reset(bar, total=items, passed=0,
                           description=f"point {i + 1}/{n}: {point.series} step {point.step}")

        def on_start(done: int, total: int) -> None:  # a resumed point starts with its finished items
            progress.update(bar, completed=done, total=total)

        def on_item(row: dict) -> None:
            progress.update(bar, advance=1, passed=progress.tasks[bar].fields["passed"] + bool(row["pass"]))

        result = run_e3(list(adapters), cfg, output, per_depth=per_depth, depths=wanted,
                        controller=controller.strip(), include_base=not no_base, seed=seed,
                        on_point=on_point, on_start=on_start, on_item=on_item)
    if as_json:
        print_json(result)
        return
    console.print(markdown(result), highlight=False, markup=False)
    err_console.print(f"[dim]{output / 'e3.md'}, {output / 'e3.png'}, {output / 'e3.json'}[/]", highlight=False)
