"""`hrm dashboard`: watch training runs, agent traces and bench results in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def dashboard(
    runs_dir: Path = typer.Argument(Path("runs"), help="The runs directory, or one run's folder."),
    refresh: float = typer.Option(1.0, "--refresh", min=0.1, help="Seconds between re-reads of the run files."),
    learn: Optional[List[Path]] = typer.Option(None, "--learn",
                                               help="Plot a learn curve of `hrm bench learn` (a file, or a folder of "
                                                    "them; repeat to overlay several)."),
    adapt: Optional[Path] = typer.Option(None, "--adapt", help="Plot an adaptation search's best demonstration "
                                         "score against evaluations per method (points.jsonl of `hrm eval --adapt` "
                                         "or `hrm solve --adapt --points`, or its folder)."),
) -> None:
    """Open a terminal dashboard of the runs under RUNS_DIR: training plots, agent traces, bench tables.

    Runs appear as they start. Keys are shown at the bottom; `?` explains them, `q` quits.
    Works over SSH at 80x24; NO_COLOR=1 turns colours off.

    Examples:
      hrm dashboard
      hrm dashboard runs/agent
      hrm dashboard runs/my-run
      hrm dashboard --learn runs/learn/trm.json --learn runs/learn/hrm.json
      hrm dashboard --learn runs/learn/side-by-side
      hrm dashboard --adapt runs/adapt/arc-syn-20270101-120000
    """
    from hrm_cli.dashboard.runlog import RunLogError

    if runs_dir.exists() and not runs_dir.is_dir():
        raise RunLogError(f"{runs_dir} is a file; pass the runs directory (default runs/) or one run's folder")
    if learn:
        from hrm_cli.dashboard.learn_screen import check_learn_paths

        check_learn_paths(learn)
    if adapt is not None:
        from hrm_cli.dashboard.adapt_screen import points_file

        points_file(adapt)
    from hrm_cli.dashboard import DashboardApp

    DashboardApp(runs_dir, refresh_s=refresh, learn=learn, adapt=adapt).run()


def run_behind_dashboard(run_dir: Path, extra_args: list[str], ready_file: str, refresh: float = 1.0) -> None:
    """Start this same command (minus --dashboard) as a separate process and open the dashboard on its run.

    A separate process rather than a worker thread: training and generation keep both cores busy
    and hold the GIL in Python stretches, which would make the UI stutter; and closing the UI (or
    losing the SSH session) must not stop a run that may take hours. The run's output goes to
    `<run_dir>.log`; `hrm dashboard <run_dir>` reopens the view.
    """
    import subprocess
    import sys
    import time

    from hrm_cli.console import err_console

    args = [a for a in sys.argv[1:] if a != "--dashboard"] + extra_args
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = run_dir.with_name(run_dir.name + ".log")
    with open(log_path, "ab") as log:
        child = subprocess.Popen([sys.executable, sys.argv[0], *args], stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (run_dir / ready_file).exists():
        if child.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            err_console.print(f"[bold red]error:[/] the run stopped before it started: {tail[0]} (log: {log_path})",
                              highlight=False)
            raise typer.Exit(child.returncode or 1)
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    from hrm_cli.dashboard import DashboardApp

    DashboardApp(run_dir, refresh_s=refresh).run()
    if child.poll() is None:
        err_console.print(f"the run goes on in the background (pid {child.pid}); log: {log_path}; "
                          f"reopen with: hrm dashboard {run_dir}", highlight=False)
    else:
        err_console.print(f"the run ended with exit code {child.returncode}; log: {log_path}", highlight=False)
