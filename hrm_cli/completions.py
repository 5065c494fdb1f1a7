"""`make completions`: the static shell completion scripts of `hrm`, regenerated from its command tree.

Usage: `python -m hrm_cli.completions OUTPUT_DIR`. The scripts themselves, and `hrm --show-completion` /
`--install-completion`, are hrm_cli/completion_scripts.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from hrm_cli.completion_scripts import SCRIPTS, command_tree
from hrm_cli.main import app


def render_all() -> dict[str, str]:
    """Every shell's script for the `hrm` app, by file name."""
    tree = command_tree(typer.main.get_command(app))
    return {name: make(tree) for name, make in SCRIPTS.items()}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "completions")
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (out / name).write_text(text)
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
