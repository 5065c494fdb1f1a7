"""`hrm solve`: solve one puzzle given as an argument, a file or stdin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from hrm_cli.adapt_cmds import ADAPT_HELP


def solve(
    checkpoint: Path = typer.Argument(..., help="Run directory or checkpoint folder."),
    source: Optional[str] = typer.Argument(None, help="'-' to read the puzzle from stdin."),
    puzzle: Optional[str] = typer.Option(None, "--puzzle", "-p", help="The puzzle as a string."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Read the puzzle from a file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    samples: int = typer.Option(1, "--samples", "-k", min=1, help="Transformed copies to vote over (Maze: at most 8)."),
    max_segments: Optional[int] = typer.Option(None, "--max-segments", min=1,
                                               help="ACT segments to run (default: the training's halt_max_steps)."),
    verify: bool = typer.Option(False, "--verify", help="Answer only with a verified solution; else exit 5."),
    steps: bool = typer.Option(False, "--steps", help="Draw the answer after every ACT segment, changes marked, "
                               "with the halting confidence and the H/L residual norms (also in --json)."),
    task: Optional[Path] = typer.Option(None, "--task", help="An ARC task JSON file (demonstrations and test inputs)."),
    adapt: Optional[str] = typer.Option(None, "--adapt", help=ADAPT_HELP),
    evaluations: int = typer.Option(32, "--evaluations", "-n", help="--adapt: model evaluations (one = a candidate "
                                    "embedding run on all demonstrations; a gradient step counts 2)."),
    points: Optional[Path] = typer.Option(None, "--points", help="--adapt: write the search's points here (JSON lines)."),
    seed: int = typer.Option(0, "--seed", help="--adapt: seed of the latent draws and the GP."),
    acquisition: str = typer.Option("ei", "--acquisition", help="--adapt bopro: ei, ucb or thompson."),
    latent_dim: int = typer.Option(16, "--latent-dim", help="--adapt: principal components searched."),
    draws: str = typer.Option("gaussian", "--draws", help="--adapt random/bopro: gaussian (z ~ N(0, I)) | trained (the trained tasks' own points)."),
    batch: int = typer.Option(4, "--batch", help="--adapt: bopro proposals per round / random candidates per batch."),
    lr: float = typer.Option(0.01, "--lr", help="--adapt gradient: Adam's step size on the embedding."),
) -> None:
    """Solve one puzzle: a Sudoku string or grid, a Maze as text rows, or an ARC task JSON.

    With --samples K the puzzle is solved as K symmetric copies whose answers are voted on (ties:
    the halting head's confidence). With --verify only a candidate that passes the exact verifier
    is given; if none passes, one line says so and the exit code is 5 (ARC has no verifier).
    With --steps the un-augmented forward pass is shown segment by segment as the answer forms.
    With --adapt (ARC) the task's embedding is chosen from its demonstration pairs first, within
    --evaluations model evaluations; --samples K then votes over the K best embeddings' answers.

    Examples:
      hrm solve runs/demo --puzzle '1..4.3...1..2..3'
      hrm solve runs/demo --puzzle '1..4.3...1..2..3' --samples 8 --verify
      hrm solve runs/demo --puzzle '1..4.3...1..2..3' --steps
      hrm solve runs/maze --file maze.txt
      cat task.json | hrm solve runs/arc -
      hrm solve runs/arc-syn --task task.json --adapt bopro --evaluations 32 --points points.jsonl
    """
    from hrm_cli.console import console, print_json, warn
    from hrm_datasets.render import render_example
    from hrm_engine.run.checkpoint import load_checkpoint
    from hrm_engine.errors import EngineError
    from hrm_engine.solve import UNVERIFIED_EXIT_CODE, candidates_json, solve_text

    given = [x for x in (puzzle is not None, file is not None, task is not None, source == "-") if x]
    if len(given) != 1:
        raise EngineError("give the puzzle exactly one way: --puzzle STRING, --file PATH, --task PATH or - for stdin")
    file = task if task is not None else file
    if source not in (None, "-"):
        raise EngineError(f"unexpected argument {source!r}; use --puzzle '{source}' or - for stdin")
    if file is not None:
        where = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise EngineError(f"{file}: not UTF-8 text; give the puzzle as plain text (or ARC task JSON)") from None
        except OSError as exc:
            raise EngineError(f"cannot read {file}: {exc.strerror or exc}") from None
    elif puzzle is not None:
        where, text = "--puzzle", puzzle
    else:
        where = "stdin"
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError:
            raise EngineError("stdin: not UTF-8 text; give the puzzle as plain text (or ARC task JSON)") from None
    if adapt is not None:
        from hrm_engine.adapt.task import check_adapt_args

        check_adapt_args([adapt], evaluations, samples)  # before loading anything
        if steps or verify:
            raise EngineError("--adapt answers with the adapted embedding; --steps and --verify are not available with it")
    loaded = load_checkpoint(checkpoint)
    if loaded.note:
        warn(loaded.note)
    if adapt is not None:
        from hrm_cli.adapt_cmds import settings_from, solve_adapted

        solve_adapted(loaded, text, where, adapt, evaluations, samples,
                      settings_from(evaluations, seed, acquisition, batch, lr, draws), latent_dim, max_segments, points, as_json)
        return
    solutions = solve_text(loaded, text, samples=samples, segments=max_segments, verify=verify, where=where)
    traces = None
    if steps:  # the plain forward pass again, keeping every segment (hrm_engine.solving.solve_trace)
        from hrm_engine.solving.solve_trace import trace_text

        traces = trace_text(loaded, text, segments=max_segments)
    abstained = any(s.abstained for s in solutions)
    if as_json:
        print_json({"checkpoint": str(loaded.path), "solutions": [
            {"kind": s.kind, "inputs": s.inputs, "prediction": None if s.abstained else s.prediction,
             "q_halt_prob": s.q_halt_prob, "halt_step": s.halt_step, "steps_run": s.steps_run, "samples": s.samples,
             "verified": s.verified, "abstained": s.abstained, **s.extra, "candidates": candidates_json(s),
             **(traces[i].to_json() if traces else {})}
            for i, s in enumerate(solutions)]})
        if abstained:
            raise typer.Exit(UNVERIFIED_EXIT_CODE)
        return
    if abstained:
        console.print(no_verified_answer(solutions), highlight=False, soft_wrap=True)
        raise typer.Exit(UNVERIFIED_EXIT_CODE)
    solved_all = True
    for i, s in enumerate(solutions):
        if traces:
            from hrm_cli.step_views import step_views

            console.print(step_views(traces[i], loaded.build_info, console))
        console.print(render_example(s.kind, s.inputs, s.prediction, loaded.build_info, titles=("puzzle", "model's answer")))
        console.print(f"ACT: halts at segment {s.halt_step} of {s.steps_run}; halting confidence "
                      f"sigmoid(q_halt) = {s.q_halt_prob:.3f}", highlight=False)
        if s.samples > 1:
            top = s.candidates[0]
            console.print(f"vote: {s.samples} samples gave {len(s.candidates)} distinct "
                          f"answer{'s' if len(s.candidates) > 1 else ''}; the top has {top.votes} votes "
                          f"(confidence {top.confidence:.3f})", highlight=False)
        if verify and s.verified:
            console.print("[bold green]verified[/] by the exact checker")
        if s.kind == "sudoku":
            ok = s.extra["solved"]
            solved_all &= ok
            console.print(("[bold green]valid solution, consistent with the givens[/]" if ok else
                           f"[bold red]not a solution[/]: valid grid {s.extra['valid_solution']}, "
                           f"keeps the givens {s.extra['consistent_with_givens']}"))
        for key, value in s.extra.items():
            if key.startswith("note"):
                console.print(value)
        if s.kind == "maze":
            solved_all &= bool(s.extra["solved"])
            console.print("[bold green]a shortest path from S to G[/]" if s.extra["solved"] else
                          f"[bold red]not a shortest path[/]: {s.extra.get('reason', '')}")
    if not solved_all:
        raise typer.Exit(1)


def no_verified_answer(solutions: list) -> str:
    """One line for `--verify` when some puzzle has no candidate that passed."""
    s = next(x for x in solutions if x.abstained)
    if s.kind == "arc":
        return (f"no verified answer: ARC has no exact verifier; the top of {len(s.candidates)} candidates from "
                f"{s.samples} samples leads by {s.extra['vote_margin']} votes")
    first = next((v.reason for v in s.verdicts if v is not None and v.reason), "rejected")
    which = f"none of {len(s.candidates)} candidates" if len(s.candidates) > 1 else "the only candidate"
    return (f"no verified answer: {which} from {s.samples} sample{'s' if s.samples > 1 else ''} failed the "
            f"{s.kind} verifier (top candidate: {first})")
