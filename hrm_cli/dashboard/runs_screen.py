"""The runs list: every training, agent, bench and optimize run under the runs directory."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from hrm_cli.dashboard.runlog import RunInfo

STATUS_STYLE = {"running": "bold green", "finished": "", "answered": "green", "no_answer": "yellow",
                "interrupted": "yellow", "crashed": "bold red", "failed": "red", "waiting": "dim", "deleted": "dim"}
KIND_LABEL = {"train": "train", "agent": "agent", "bench": "bench", "optimize": "optim"}
COLUMNS = ("mark", "kind", "run", "status", "progress", "started")


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def started_text(started: float | None, now: float) -> str:
    """Today's runs by time only; older ones with their date."""
    if not started:
        return "-"
    when = time.localtime(started)
    same_day = time.strftime("%Y%m%d", when) == time.strftime("%Y%m%d", time.localtime(now))
    return time.strftime("%H:%M" if same_day else "%m-%d %H:%M", when)


class RunsTable(DataTable):
    """The runs table; enter (its own select, so it follows the arrow keys typed before it) opens a run."""

    BINDINGS = [Binding("enter", "select_cursor", "Open")]


class RunsScreen(Screen):
    """Lists runs newest first, rescanning every `app.refresh_s` seconds; enter opens one."""

    BINDINGS = [
        Binding("m", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("s", "solve", "Solve"),
        Binding("r", "rescan", "Rescan"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunInfo] = []
        self.marked: list[str] = []  # keys, in marking order
        self._shown: list[tuple[str, tuple]] = []  # what the table holds: (key, cells)
        self._widths: tuple[int, int] = (0, 0)

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="topline")
        yield RunsTable(id="runs", cursor_type="row", zebra_stripes=False)
        yield Static(id="empty", classes="empty")
        yield Static(id="note", classes="bottomline")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for col in COLUMNS:
            table.add_column(" " if col == "mark" else col, key=col)
        self.rescan()
        if self.app.scan_on_timer:
            self.set_interval(self.app.refresh_s, self.rescan)

    # -- data ------------------------------------------------------------------------------------------
    def rescan(self) -> None:
        try:
            self.runs = self.app.scanner.scan()
        except OSError as exc:
            self.notify(f"cannot read {self.app.runs_dir}: {exc}", severity="error")
            return
        keys = {r.key for r in self.runs}
        self.marked = [k for k in self.marked if k in keys]
        self._render_rows()

    def _cells(self, run: RunInfo) -> tuple:
        name_w, prog_w = self._widths
        return ("*" if run.key in self.marked else " ", KIND_LABEL.get(run.kind, run.kind), fit(run.name, name_w),
                status_text(run.status), fit(run.progress, prog_w), started_text(run.started, self.app.clock()))

    def _render_rows(self) -> None:
        table = self.query_one("#runs", DataTable)
        width = self.size.width or 80
        # mark 1 and kind 5, status and started as wide as their longest text, 2 of padding per cell and
        # 2 for a scrollbar; run names get what they need of the rest, progress the remainder
        now = self.app.clock()
        status_w = max((len(r.status) for r in self.runs), default=6)
        started_w = max((len(started_text(r.started, now)) for r in self.runs), default=7)
        spare = max(24, width - 1 - 5 - status_w - started_w - 12 - 2)
        longest = max((len(r.name) for r in self.runs), default=8)
        name_w = min(longest, max(8, spare * 3 // 5))
        self._widths = (name_w, spare - name_w)
        rows = [(r.key, self._cells(r)) for r in self.runs]
        if [k for k, _ in rows] == [k for k, _ in self._shown]:
            for (key, cells), (_, old) in zip(rows, self._shown):
                for col, new, prev in zip(COLUMNS, cells, old):
                    if new != prev:
                        table.update_cell(key, col, new)
        else:
            current = self.highlighted
            table.clear()
            for key, cells in rows:
                table.add_row(*cells, key=key)
            if current is not None and any(k == current.key for k, _ in rows):
                table.move_cursor(row=table.get_row_index(current.key))
        self._shown = rows
        self._update_text()

    def _update_text(self) -> None:
        empty = not self.runs
        self.query_one("#runs").display = not empty
        self.query_one("#empty").display = empty
        root = self.app.runs_dir
        live = sum(r.live for r in self.runs)
        marks = f"  marked {len(self.marked)}" if self.marked else ""
        self.query_one("#title", Static).update(
            Text.assemble(("hrm dashboard  ", "bold"), f"{len(self.runs)} runs, {live} running{marks}  in {root}/"))
        if empty:
            where = "does not exist yet" if not root.exists() else "has no runs yet"
            self.query_one("#empty", Static).update(
                f"{root}/ {where}.\n\nStart one with\n  hrm train DATA --config hrm-tiny\nor\n  hrm agent run \"TASK\"\n\n"
                f"This list refreshes every {self.app.refresh_s:g} s.")
        self._update_note()

    def _update_note(self) -> None:
        run = self.highlighted
        note = ""
        if run is not None:
            note = (f"{run.status}: {run.note}  " if run.note else "") + str(run.path)
        self.query_one("#note", Static).update(Text(note, overflow="ellipsis", no_wrap=True))

    @property
    def highlighted(self) -> RunInfo | None:
        table = self.query_one("#runs", DataTable)
        if not self._shown or table.cursor_row is None or not 0 <= table.cursor_row < len(self._shown):
            return None
        key = self._shown[table.cursor_row][0]
        return next((r for r in self.runs if r.key == key), None)

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._update_note()

    def on_resize(self) -> None:
        self._shown = []  # column widths depend on the width: re-add the rows
        if self.is_mounted:
            self._render_rows()

    # -- actions ---------------------------------------------------------------------------------------
    def action_rescan(self) -> None:
        self.rescan()

    def action_open(self) -> None:
        run = self.highlighted
        if run is None:
            self.notify("no run to open yet")
            return
        if not run.path.exists():
            self.notify(f"{run.name} was deleted", severity="warning")
            self.rescan()
            return
        self.app.open_run(run)

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_mark(self) -> None:
        run = self.highlighted
        if run is None:
            return
        if run.kind != "train":
            self.notify("only training runs can be compared; mark two with m, then press c")
            return
        if run.key in self.marked:
            self.marked.remove(run.key)
        else:
            self.marked.append(run.key)
        self._render_rows()

    def action_solve(self) -> None:
        run = self.highlighted
        if run is None or run.kind != "train":
            self.notify("highlight a training run to solve puzzles with its checkpoint")
            return
        self.app.open_solve(run.path)

    def action_compare(self) -> None:
        keys = list(self.marked)
        run = self.highlighted
        if len(keys) < 2 and run is not None and run.kind == "train" and run.key not in keys:
            keys.append(run.key)
        if len(keys) < 2:
            self.notify("mark training runs with m (two or more), then press c to compare them")
            return
        by_key = {r.key: r for r in self.runs}
        self.app.compare([by_key[k].path for k in keys if k in by_key])
