"""`hrm data`: build puzzle datasets in the reference HRM format, and look at them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Build, show and summarise puzzle datasets (Sudoku, Maze, ARC).", no_args_is_help=True)
build_app = typer.Typer(help="Build a dataset in the reference HRM on-disk format.", no_args_is_help=True)
app.add_typer(build_app, name="build")


def _progress():
    """A rich progress bar with ETA on stderr (plain when piped); returns (progress, callback)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from hrm_cli.console import err_console

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=err_console, transient=True)
    tasks: dict[str, int] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total)
        progress.update(tasks[phase], completed=done)

    return progress, update


@build_app.command("sudoku")
def build_sudoku_cmd(
    output: Path = typer.Option(..., "--output", "-o", help="Dataset folder to create."),
    size: int = typer.Option(9, "--size", help="Grid size: 4 (2x2 boxes), 6 (2x3) or 9 (3x3)."),
    difficulty: str = typer.Option("hard", "--difficulty", help="easy | medium | hard | extreme (generator)."),
    count: int = typer.Option(1000, "--count", help="Training puzzles to generate."),
    test_count: int = typer.Option(200, "--test-count", help="Test puzzles to generate."),
    train_csv: Optional[Path] = typer.Option(None, "--train-csv", help="Reference-layout CSV (source,q,a,rating)."),
    test_csv: Optional[Path] = typer.Option(None, "--test-csv", help="Test CSV, with --train-csv."),
    min_rating: Optional[int] = typer.Option(None, "--min-rating", help="CSV: keep rows rated at least this."),
    on_invalid: str = typer.Option("skip", "--on-invalid", help="CSV rows whose answer is not the unique solution: skip | fail."),
    subsample_size: Optional[int] = typer.Option(None, "--subsample-size", help="Keep this many training puzzles."),
    num_aug: int = typer.Option(0, "--num-aug", help="Augmented copies per training puzzle."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the build is deterministic for a seed)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the build record as JSON."),
) -> None:
    """Build a Sudoku dataset from the built-in generator or from reference CSVs.

    Examples:
      hrm data build sudoku --size 4 --count 800 --test-count 200 --output data/sudoku4
      hrm data build sudoku --difficulty hard --subsample-size 1000 --num-aug 10 --output data/sudoku-hard
      hrm data build sudoku --train-csv train.csv --test-csv test.csv --num-aug 1000 --output data/sudoku-extreme
    """
    from hrm_cli.console import console, print_json, warn
    from hrm_datasets.build_sudoku import build_sudoku

    count = max(count, subsample_size or 0) if train_csv is None else count
    progress, update = _progress()
    with progress:
        record = build_sudoku(output, size=size, difficulty=difficulty, count=count, test_count=test_count,
                              train_csv=train_csv, test_csv=test_csv, min_rating=min_rating, on_invalid=on_invalid,
                              subsample_size=subsample_size, num_aug=num_aug, seed=seed, force=force, progress=update)
    for line in record["skipped"][:10]:
        warn(f"skipped {line}")
    if len(record["skipped"]) > 10:
        warn(f"... and {len(record['skipped']) - 10} more skipped rows")
    if as_json:
        print_json({k: v for k, v in record.items() if k != "skipped"} | {"output": str(output)})
        return
    stats = record["stats"]
    console.print(
        f"[bold green]built[/] {output}: {size}x{size} Sudoku, train {stats['train']['examples']} examples "
        f"({stats['train']['puzzles']} puzzles x {1 + num_aug}), test {stats['test']['examples']}; "
        f"clues {stats['train']['clues_mean']:.1f} on average, rating median {stats['train']['rating_median']:.0f} "
        f"in {record['seconds']:.1f}s"
    )
