"""The dashboard application: a runs list, and one screen per kind of run pushed on top of it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from hrm_cli.dashboard.runlog import RunInfo, RunScanner, TrainingRun

HELP = [
    ("Everywhere", [("q", "quit"), ("?", "this help"), ("esc", "back to the previous screen")]),
    ("Runs", [("↑ ↓", "move"), ("enter", "open the run"), ("m", "mark a training run for comparison"),
              ("c", "compare the marked runs (or the marked one and the highlighted one)"),
              ("s", "solve puzzles with the highlighted training run's checkpoint"),
              ("r", "rescan now (the list also refreshes by itself)")]),
    ("Training", [("← →  1-6", "choose the plot (80x24 shows one plot at a time)"),
                  ("v", "one plot / all plots"), ("s", "solve puzzles with the run's checkpoint"), ("esc", "back")]),
    ("Solve", [("← →  home end", "step through the ACT segments (changed cells highlighted)"),
               ("n  p", "next / previous held-out puzzle of the run's dataset"),
               ("i", "paste a puzzle (ctrl+s solves it)"),
               ("plot", "‖Δz_H‖ per H step, ‖Δz_L‖ per L step: the hierarchical convergence"),
               ("◆", "the segment where the Q head halts; halt = sigmoid(q_halt − q_continue)")]),
    ("Adaptation", [("plot", "best demonstration score (exact + token, 0..2) against model evaluations, "
                             "mean over tasks, per method")]),
    ("Learn curves", [("x", "accuracy against training seconds / against steps"),
                      ("y", "exact accuracy / token accuracy"), ("esc", "back")]),
    ("Agent trace", [("↑ ↓ ← →", "move in the tree, open and close nodes"), ("tab", "switch tree / details"),
                     ("f", "follow: keep the newest event selected"), ("e", "expand all")]),
    ("Bench and optimize", [("↑ ↓", "scroll the tables, or move in the items list"),
                            ("tab", "switch tables / items"),
                            ("t  enter", "open the highlighted item's agent trace (optimize: the run's trace)")]),
    ("Status", [("running", "heartbeat recent and the process alive"),
                ("crashed", "a running run whose process is gone or whose files stopped changing"),
                ("skipped", "lines that are not JSON objects; never fatal")]),
]


class HelpScreen(ModalScreen[None]):
    """Keys and what the statuses mean."""

    BINDINGS = [Binding("escape,question_mark", "dismiss", "Close", key_display="esc")]

    def compose(self) -> ComposeResult:
        # one table per section with the key column as wide as the widest key, so a long section
        # name does not widen the keys and squeeze the explanations
        key_width = max(len(key) for _, keys in HELP for key, _ in keys)
        parts: list[Any] = []
        for section, keys in HELP:
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold", no_wrap=True, width=key_width)
            table.add_column()
            for key, what in keys:
                table.add_row(key, what)
            parts += [Text(f" {section} ", style="reverse bold"), table]
        with VerticalScroll():
            yield Static(Group(*parts))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class DashboardApp(App[None]):
    """`hrm dashboard`: watches a runs directory; `clock` is injectable so tests and snapshots are stable."""

    CSS_PATH = "dashboard.tcss"
    TITLE = "hrm dashboard"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(self, runs_dir: str | Path = "runs", *, refresh_s: float = 1.0,
                 clock: Callable[[], float] = time.time, scan_on_timer: bool = True,
                 learn: list[Path] | None = None, adapt: Path | None = None) -> None:
        super().__init__()
        self.learn = list(learn or [])  # learn-curve files or folders of them: opened over the runs list
        self.adapt = adapt  # an adaptation search's points.jsonl (or its folder): opened over the runs list
        self.runs_dir = Path(runs_dir)
        self.refresh_s = refresh_s
        self.clock = clock
        self.scan_on_timer = scan_on_timer
        self.scanner = RunScanner(self.runs_dir, clock=clock)

    def on_mount(self) -> None:
        from hrm_cli.dashboard.runs_screen import RunsScreen

        self.push_screen(RunsScreen())
        single = self.scanner.describe(self.runs_dir)
        if single is not None:  # `hrm dashboard runs/<one run>` opens it directly
            self.open_run(single)
        if self.learn:  # `hrm dashboard --learn FILE ...`
            from hrm_cli.dashboard.learn_screen import LearnScreen

            self.push_screen(LearnScreen(self.learn))
        if self.adapt is not None:  # `hrm dashboard --adapt POINTS`
            from hrm_cli.dashboard.adapt_screen import AdaptScreen

            self.push_screen(AdaptScreen(self.adapt))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_run(self, run: RunInfo) -> None:
        from hrm_cli.dashboard.agent_screen import AgentScreen
        from hrm_cli.dashboard.bench_screen import BenchScreen
        from hrm_cli.dashboard.training_screen import TrainingScreen

        if run.kind == "train":
            self.push_screen(TrainingScreen([TrainingRun(run.path)]))
        elif run.kind == "agent":
            self.push_screen(AgentScreen(run.path))
        else:
            self.push_screen(BenchScreen(run))

    def open_solve(self, run_path: Path) -> None:
        """The solve screen on a training run's checkpoint (best, else latest)."""
        from hrm_cli.dashboard.solve_screen import SolveScreen

        if not any((Path(run_path) / "checkpoints").glob("step_*")):
            self.notify(f"{Path(run_path).name} has no checkpoint yet: nothing to solve with")
            return
        self.push_screen(SolveScreen(Path(run_path)))

    def compare(self, paths: list[Path]) -> None:
        from hrm_cli.dashboard.training_screen import TrainingScreen

        self.push_screen(TrainingScreen([TrainingRun(p) for p in paths]))
