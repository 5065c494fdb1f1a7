"""`hrm config`: print resolved configurations."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from hrm_cli.console import console, print_json

app = typer.Typer(help="Inspect configuration presets.", no_args_is_help=True)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Preset name (hrm-sudoku, hrm-tiny, ...) or a YAML file."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides, dotted keys."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="User YAML file applied over the preset."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of YAML."),
) -> None:
    """Print the resolved config: preset < --file < key=value overrides.

    Examples:
      hrm config show hrm-sudoku
      hrm config show hrm-tiny arch.H_cycles=3 lr=1e-4
      hrm config show hrm-sudoku --file my.yaml --json
    """
    from hrm_engine.config import dump_yaml
    from hrm_engine.config_ranges import resolve_train_config

    config = resolve_train_config(name, file, overrides or [])  # a training config's values checked too
    if as_json:
        print_json(config)
    else:
        console.print(dump_yaml(config), end="", highlight=False, markup=False)


@app.command("list")
def list_presets(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the presets shipped in configs/.

    Example:
      hrm config list
    """
    from hrm_engine.config import available_presets

    presets = {"train": available_presets(""), "arch": available_presets("arch")}
    if as_json:
        print_json(presets)
        return
    for kind, names in presets.items():
        console.print(f"[bold]{kind}[/]: {', '.join(names)}")
