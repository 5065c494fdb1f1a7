"""`hrm agent ...`: run and inspect the hierarchical LLM agent (heavy imports live inside commands)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run and inspect the hierarchical LLM agent.", no_args_is_help=True)
