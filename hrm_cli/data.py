"""`hrm data`: build puzzle datasets in the reference HRM format, and look at them."""

from __future__ import annotations

import typer

app = typer.Typer(help="Build, show and summarise puzzle datasets (Sudoku, Maze, ARC).", no_args_is_help=True)
build_app = typer.Typer(help="Build a dataset in the reference HRM on-disk format.", no_args_is_help=True)
app.add_typer(build_app, name="build")
