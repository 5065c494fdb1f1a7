"""`hrm solve`: solve one puzzle given as an argument, a file or stdin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer


def solve(
    checkpoint: Path = typer.Argument(..., help="Run directory or checkpoint folder."),
    source: Optional[str] = typer.Argument(None, help="'-' to read the puzzle from stdin."),
    puzzle: Optional[str] = typer.Option(None, "--puzzle", "-p", help="The puzzle as a string."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Read the puzzle from a file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Solve one puzzle: a Sudoku string or grid, a Maze as text rows, or an ARC task JSON.

    Examples:
      hrm solve runs/demo --puzzle '1..4.3...1..2..3'
      hrm solve runs/maze --file maze.txt
      cat task.json | hrm solve runs/arc -
    """
    from hrm_cli.console import console, print_json
    from hrm_datasets.render import render_example
    from hrm_engine.checkpoint import load_checkpoint
    from hrm_engine.errors import EngineError
    from hrm_engine.solve import solve_text

    given = [x for x in (puzzle is not None, file is not None, source == "-") if x]
    if len(given) != 1:
        raise EngineError("give the puzzle exactly one way: --puzzle STRING, --file PATH or - for stdin")
    if source not in (None, "-"):
        raise EngineError(f"unexpected argument {source!r}; use --puzzle '{source}' or - for stdin")
    if file is not None:
        try:
            text = file.read_text()
        except OSError as exc:
            raise EngineError(f"cannot read {file}: {exc.strerror or exc}") from None
    elif puzzle is not None:
        text = puzzle
    else:
        text = sys.stdin.read()
    loaded = load_checkpoint(checkpoint)
    solutions = solve_text(loaded, text)
    if as_json:
        print_json({"checkpoint": str(loaded.path), "solutions": [
            {"kind": s.kind, "inputs": s.inputs, "prediction": s.prediction, "q_halt_prob": s.q_halt_prob,
             "halt_step": s.halt_step, "steps_run": s.steps_run, **s.extra} for s in solutions]})
        return
    solved_all = True
    for s in solutions:
        console.print(render_example(s.kind, s.inputs, s.prediction, loaded.build_info, titles=("puzzle", "model's answer")))
        console.print(f"ACT: halts at segment {s.halt_step} of {s.steps_run}; halting confidence "
                      f"sigmoid(q_halt) = {s.q_halt_prob:.3f}", highlight=False)
        if s.kind == "sudoku":
            ok = s.extra["solved"]
            solved_all &= ok
            console.print(("[bold green]valid solution, consistent with the givens[/]" if ok else
                           f"[bold red]not a solution[/]: valid grid {s.extra['valid_solution']}, "
                           f"keeps the givens {s.extra['consistent_with_givens']}"))
        for key, value in s.extra.items():
            if key.startswith("note"):
                console.print(value)
    if not solved_all:
        raise typer.Exit(1)
