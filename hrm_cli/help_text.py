"""Command help that wraps at the terminal's width.

Docstrings are wrapped at about 100 columns in the source, and Typer's rich help keeps those line
breaks, so a narrower terminal broke each line again mid-sentence and a wider one left them short.
`reflow` joins the lines of each prose paragraph, so rich wraps it once, at the real width. Lines
that are indented (examples, commands to copy) or start a list item keep their own lines.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

_ITEM = re.compile(r"^([-*•]|\d+[.)])\s")


def reflow(doc: str) -> str:
    """The docstring with each prose paragraph on one line; indented lines and list items kept."""
    out: list[str] = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        lines: list[str] = []
        for line in para.split("\n"):
            verbatim = line[:1].isspace() or line.startswith("\b")
            if lines and not verbatim and not _ITEM.match(line) and not _keeps_line(lines[-1]):
                lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
            else:
                lines.append(line)
        out.append("\n".join(lines))
    return "\n\n".join(out)


def _keeps_line(previous: str) -> bool:
    """A line after an indented one (an example) starts a line of its own."""
    return previous[:1].isspace() or previous.startswith("\b")


def reflow_app(app: Any) -> None:
    """Reflow the help of every command and group of a Typer app, in place (before it is built)."""
    if app.info.help:
        app.info.help = reflow(app.info.help)
    callback = getattr(app.registered_callback, "callback", None)
    if callback is not None and callback.__doc__:
        callback.__doc__ = reflow(callback.__doc__)
    for info in app.registered_commands:
        if info.help:
            info.help = reflow(info.help)
        elif info.callback is not None and info.callback.__doc__:
            info.callback.__doc__ = reflow(info.callback.__doc__)
    for group in app.registered_groups:
        if group.help:
            group.help = reflow(group.help)
        if group.typer_instance is not None:
            reflow_app(group.typer_instance)
