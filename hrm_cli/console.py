"""Shared terminal output: rich on a terminal, plain when piped, NO_COLOR respected, JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

# rich honours NO_COLOR and drops styling when the stream is not a terminal.
console = Console()
err_console = Console(stderr=True)


def shown(text: Any) -> str:
    """Text from a model, a server or model-written code, ready for a rich markup string: control characters
    and escape sequences written out visibly (hrm_agent.untrusted.visible) and markup escaped, so that only
    hrm's own styling reaches the terminal. Pass `visible(text)` instead where the text goes in a rich `Text`."""
    from rich.markup import escape

    from hrm_agent.untrusted import visible

    return escape(visible(text))


def print_json(data: Any) -> None:
    """One JSON document on stdout, nothing else (for `--json`)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__fspath__"):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr naming the problem and what to do, then a meaningful exit code."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def progress_bar(*columns: Any, disable: bool = False, transient: bool = False):
    """A rich progress bar on stderr, shown only on a terminal so piped output and logs stay clean."""
    from rich.progress import Progress

    return Progress(*columns, console=err_console, transient=transient,
                    disable=disable or not err_console.is_terminal)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def phase_progress():
    """A rich progress bar with ETA on stderr (plain when piped), one task per phase; returns (progress,
    update(phase, done, total))."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = progress_bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TimeRemainingColumn(), transient=True)
    tasks: dict[str, int] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total)
        progress.update(tasks[phase], completed=done)

    return progress, update
