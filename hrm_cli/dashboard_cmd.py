"""`hrm dashboard`: watch training runs, agent traces and bench results in the terminal."""

from __future__ import annotations

from pathlib import Path

import typer


def dashboard(
    runs_dir: Path = typer.Argument(Path("runs"), help="The runs directory, or one run's folder."),
    refresh: float = typer.Option(1.0, "--refresh", min=0.1, help="Seconds between re-reads of the run files."),
) -> None:
    """Open a terminal dashboard of the runs under RUNS_DIR: training plots, agent traces, bench tables.

    Runs appear as they start. Keys are shown at the bottom; `?` explains them, `q` quits.
    Works over SSH at 80x24; NO_COLOR=1 turns colours off.

    Examples:
      hrm dashboard
      hrm dashboard runs/agent
      hrm dashboard runs/my-run
    """
    from hrm_engine.runlog import RunLogError

    if runs_dir.exists() and not runs_dir.is_dir():
        raise RunLogError(f"{runs_dir} is a file; pass the runs directory (default runs/) or one run's folder")
    from hrm_cli.dashboard import DashboardApp

    DashboardApp(runs_dir, refresh_s=refresh).run()
