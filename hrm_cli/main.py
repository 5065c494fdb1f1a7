"""The `hrm` entry point: one Typer app; each verb lives in its own module under hrm_cli/."""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Optional

from hrm_engine import blas

blas.preload()  # before anything imports mlx: an optimised BLAS must be loaded first (engine/blas.py)

import typer  # noqa: E402

from hrm_cli import agent as agent_cmd  # noqa: E402
from hrm_cli import config as config_cmd  # noqa: E402
from hrm_cli import bench as bench_cmd  # noqa: E402
from hrm_cli import data as data_cmd  # noqa: E402
from hrm_cli.dashboard_cmd import dashboard as dashboard_cmd  # noqa: E402
from hrm_cli.doctor import doctor as doctor_cmd  # noqa: E402
from hrm_cli.eval import evaluate as eval_cmd  # noqa: E402
from hrm_cli.solve import solve as solve_cmd  # noqa: E402
from hrm_cli.train import train as train_cmd  # noqa: E402
from hrm_cli import reference_cmds  # noqa: E402
from hrm_cli.console import err_console  # noqa: E402
from hrm_engine import backend  # noqa: E402
from hrm_engine.errors import HRMError  # noqa: E402

app = typer.Typer(
    name="hrm",
    help=(
        "Hierarchical Reasoning Models on MLX: build puzzle datasets, train, evaluate, solve, "
        "run a local-LLM agent, and watch it all in a terminal dashboard.\n\n"
        "Start with `hrm data build sudoku --size 4 --output data/s4` or `make demo`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)

app.add_typer(config_cmd.app, name="config")
app.add_typer(data_cmd.app, name="data")
app.add_typer(agent_cmd.app, name="agent")
app.command("train")(train_cmd)
app.command("eval")(eval_cmd)
app.command("solve")(solve_cmd)
app.add_typer(bench_cmd.app, name="bench")
app.command("dashboard")(dashboard_cmd)
app.command("doctor")(doctor_cmd)
app.add_typer(reference_cmds.import_app, name="import")
app.command("parity")(reference_cmds.parity)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"hrm {metadata.version('hrm')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Hierarchical Reasoning Models on MLX."""


def main() -> None:
    """Console-script entry: user-fixable errors become one line and exit code 2, never a traceback.

    An MLX that cannot load (a CUDA build without a driver, a backend wheel uninstalled) is exit code 3,
    like an unavailable model server: the input was fine, this machine's setup is not.
    """
    try:
        app()
    except HRMError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except ImportError as exc:
        hint = backend.diagnose_import_error(exc)
        if hint is None:
            raise
        err_console.print(f"[bold red]error:[/] {hint}", highlight=False, soft_wrap=True)
        sys.exit(3)
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
