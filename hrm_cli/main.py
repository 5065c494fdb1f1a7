"""The `hrm` entry point: one Typer app; each verb lives in its own module under hrm_cli/."""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Optional

import typer
from rich.text import Text

import hrm_engine.cpu
from hrm_cli.agent.app import app as agent_app
from hrm_cli import config as config_cmd
from hrm_cli import bench as bench_cmd
from hrm_cli import completion_scripts
from hrm_cli import data as data_cmd
from hrm_cli.dashboard_cmd import dashboard as dashboard_cmd
from hrm_cli.doctor import doctor as doctor_cmd
from hrm_cli.eval import evaluate as eval_cmd
from hrm_cli.solve import solve as solve_cmd
from hrm_cli.train import train as train_cmd
from hrm_cli import reference_cmds
from hrm_cli.console import err_console
from hrm_cli.help_text import reflow_app
from hrm_engine import backend
from hrm_datasets import files
from hrm_agent.untrusted import visible
from hrm_engine.errors import HRMError

# Click's base error class, whether Typer uses the click package or (Typer >= 0.20) its own copy of it.
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

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
    add_completion=False,  # ours: the static scripts (hrm_cli/completion_scripts.py), not a Python start per TAB
)

app.add_typer(config_cmd.app, name="config")
app.add_typer(data_cmd.app, name="data")
app.add_typer(agent_app, name="agent")
app.command("train")(train_cmd)
app.command("eval")(eval_cmd)
app.command("solve")(solve_cmd)
app.add_typer(bench_cmd.app, name="bench")
app.command("dashboard")(dashboard_cmd)
app.command("doctor")(doctor_cmd)
app.add_typer(reference_cmds.import_app, name="import")
app.command("parity")(reference_cmds.parity)
reflow_app(app)  # help paragraphs wrap at the terminal's width, not at the source's line breaks


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"hrm {metadata.version('hrm')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
    show_completion: bool = typer.Option(
        False, "--show-completion", callback=completion_scripts.show_completion, is_eager=True, expose_value=False,
        help="Print the static completion script for your shell ($SHELL: bash, zsh or fish).",
    ),
    install_completion: bool = typer.Option(
        False, "--install-completion", callback=completion_scripts.install_completion, is_eager=True,
        expose_value=False, help="Install the static completion script for your shell.",
    ),
) -> None:
    """Hierarchical Reasoning Models on MLX."""
    # Before any command imports mlx: an optimised BLAS, the JIT compiler flags, malloc (docs/cpu-performance.md).
    hrm_engine.cpu.setup()


def _usage_error(exc: ClickException) -> str:
    """A usage error as one line: the problem, then where the usage is (not Click's boxed usage block)."""
    ctx = getattr(exc, "ctx", None)
    where = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
    return f"{exc.format_message()}{where}"


def main() -> None:
    """Console-script entry: user-fixable errors become one line and exit code 2, never a traceback.

    Usage errors (an unknown option, a missing argument) too: Typer runs in non-standalone mode so
    that they reach this function instead of being printed as a multi-line box. An MLX that cannot
    load (a CUDA build without a driver, a backend wheel uninstalled) is exit code 3, like an
    unavailable model server: the input was fine, this machine's setup is not. An output that cannot be
    written (disk full, read-only) is exit code 4.
    """
    try:
        code = app(standalone_mode=False)
    except ClickException as exc:
        if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
            err_console.print(Text.assemble(("error:", "bold red"), " ", _usage_error(exc)), highlight=False,
                              soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted", highlight=False)
        sys.exit(1)
    except HRMError as exc:  # as Text, controls written out: a message may quote a server's or a model's words
        err_console.print(Text.assemble(("error:", "bold red"), " ", visible(str(exc))), highlight=False,
                          soft_wrap=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # a write no layer wrapped: still one line naming it, exit 4 (datasets/files.py)
        if exc.errno not in files.WRITE_ERRNOS:
            raise
        error = files.WriteError(exc.filename or "the output", files.reason(exc))
        err_console.print(Text.assemble(("error:", "bold red"), " ", str(error)), highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except ImportError as exc:
        hint = backend.diagnose_import_error(exc)
        if hint is None:
            raise
        err_console.print(f"[bold red]error:[/] {hint}", highlight=False, soft_wrap=True)
        sys.exit(3)
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        sys.exit(130)
    if isinstance(code, int):  # typer.Exit(code) from a command, or a help/version exit (0)
        sys.exit(code)


if __name__ == "__main__":
    main()
