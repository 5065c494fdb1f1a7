"""The bench view (also used for optimize runs): the per-controller table of summary.json and its
failure categories; while the bench runs, counts from results.jsonl as they arrive."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static

from hrm_cli.dashboard.bench_labels import (COMPARISON_LABELS, FACT_LABELS, RECORDED, is_duplicate, metric_label,
                                            readable)
from hrm_cli.dashboard.follow import FollowingScreen
from hrm_cli.dashboard.runs_screen import status_text
from hrm_cli.dashboard.training_screen import fmt
from hrm_cli.dashboard.runlog import JsonlTail, RunInfo, is_scalar, per_controller, read_json, split_metrics

PASS_KEYS = ("pass", "passed", "ok", "correct", "success")
FAILURE_KEYS = ("failure", "failure_category", "category")


def comparison_tables(summary: dict[str, Any]) -> list[RenderableType]:
    """The metric table (metrics down, controllers across) beside the failure categories, then the
    a - b difference and the run's facts; every row under a name a person reads (bench_labels)."""
    rows = per_controller(summary)
    out: list[RenderableType] = []
    if rows:
        split = {name: split_metrics(row) for name, row in rows.items()}
        metrics = Table(title="comparison", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                        padding=(0, 1))
        metrics.add_column("metric", no_wrap=True, max_width=28, overflow="ellipsis")
        for name in rows:
            metrics.add_column(name, justify="right", no_wrap=True, min_width=6, max_width=24, overflow="ellipsis")
        keys: list[str] = []
        for m, _ in split.values():
            keys += [k for k in m if k not in keys]
        recorded = [k for k in keys if k.startswith(RECORDED)]
        for key in keys:
            if key in recorded or is_duplicate(key, keys):
                continue
            metrics.add_row(metric_label(key), *[fmt(split[name][0].get(key)) for name in rows])
        side = Table.grid(padding=(0, 2))
        side.add_row(metrics, _failures(rows, split, recorded))
        out += [side, Text("")]
    else:
        out += [Text("summary.json has no per-controller table that this view understands", style="yellow"),
                Text("")]
    comparison = summary.get("comparison")
    if isinstance(comparison, dict):  # hrm_agent.bench.runs: a - b with a bootstrap interval
        title = f"difference {comparison.get('a', 'a')} − {comparison.get('b', 'b')}"
        diff = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1))
        diff.add_column("quantity", no_wrap=True)
        diff.add_column("value")
        for key, value in comparison.items():
            if key in ("a", "b"):
                continue
            if isinstance(value, list):
                value = "[" + ", ".join(fmt(v) for v in value) + "]"
            elif isinstance(value, dict):
                value = "  ".join(f"{k} {fmt(v)}" for k, v in value.items())
            diff.add_row(COMPARISON_LABELS.get(key, readable(key)), fmt(value))
        out += [diff, Text("")]
    facts = Table(title="run", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1))
    facts.add_column("field", no_wrap=True)
    facts.add_column("value")
    for key, value in summary.items():
        if is_scalar(value) and key not in ("status",):
            if key in ("started", "created", "finished") and isinstance(value, (int, float)):
                value = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
            facts.add_row(FACT_LABELS.get(key, readable(key)), fmt(value))
    if facts.row_count:
        out.append(facts)
    return out


def _failures(rows: dict[str, Any], split: dict[str, tuple[dict, dict]], recorded: list[str]) -> RenderableType:
    """Failed items by final category, and every failure the runs recorded (a run may record several)."""
    categories: list[str] = []
    for _, f in split.values():
        categories += [c for c in f if c not in categories]
    parts: list[RenderableType] = []
    for title, names, get in (
            ("failed items by category", categories, lambda name, c: split[name][1].get(c, 0)),
            ("failures recorded", [k[len(RECORDED):] for k in recorded],
             lambda name, c: split[name][0].get(RECORDED + c, 0))):
        if not names:
            continue
        table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1))
        table.add_column("category", no_wrap=True, max_width=18, overflow="ellipsis")
        for name in rows:
            table.add_column(name, justify="right", no_wrap=True, min_width=4, max_width=12, overflow="ellipsis")
        for cat in names:
            table.add_row(cat, *[fmt(get(name, cat)) for name in rows])
        parts.append(table)
    return Group(*parts) if parts else Text("no failures", style="dim")


class ResultCounter:
    """Per-controller counts over results.jsonl lines, read incrementally, and the items themselves
    (the last line per task, controller and sample wins, as hrm_agent.bench.runs reads them)."""

    def __init__(self, tail: JsonlTail) -> None:
        self.tail = tail
        self.total: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        self.failures: dict[str, Counter[str]] = defaultdict(Counter)
        self.items: dict[tuple[str, str, str], dict[str, Any]] = {}

    def poll(self) -> bool:
        batch = self.tail.poll()
        if batch.reset:
            self.__init__(self.tail)  # type: ignore[misc]
        for rec in batch.records:
            name = str(rec.get("controller") or "?")
            self.total[name] += 1
            if any(rec.get(k) is True for k in PASS_KEYS):
                self.passed[name] += 1
            cat = failure_of(rec)
            if cat:
                self.failures[name][cat] += 1
            self.items[(str(rec.get("task_id", "?")), name, str(rec.get("sample", 0)))] = rec
        return not self.tail.caught_up

    def table(self) -> Table:
        table = Table(title=f"results.jsonl so far ({sum(self.total.values())} lines)", title_justify="left",
                      header_style="bold")
        table.add_column("controller", no_wrap=True)
        table.add_column("done", justify="right")
        table.add_column("passed", justify="right")
        table.add_column("failures")
        for name, n in sorted(self.total.items()):
            fails = ", ".join(f"{c} {k}" for c, k in self.failures[name].most_common())
            table.add_row(name, str(n), str(self.passed[name]), fails or "-")
        return table


def failure_of(rec: dict[str, Any]) -> str | None:
    return next((rec[k] for k in FAILURE_KEYS if isinstance(rec.get(k), str) and rec.get(k)), None)


ITEM_COLUMNS = ("task", "controller", "sample", "result", "failure", "time", "trace")


def item_cells(rec: dict[str, Any], run_path: Path) -> tuple[Any, ...]:
    ok = any(rec.get(k) is True for k in PASS_KEYS)
    trace = rec.get("trace")
    has_trace = isinstance(trace, str) and (run_path / trace).is_file()
    t = rec.get("time_s")
    return (str(rec.get("task_id", "?")), str(rec.get("controller", "?")), str(rec.get("sample", 0)),
            Text("pass", style="green") if ok else Text("fail", style="red"), failure_of(rec) or "",
            f"{t:.1f}s" if isinstance(t, (int, float)) else "-", "t" if has_trace else "-")


class ItemsTable(DataTable):
    """The bench's items; enter opens the highlighted one's trace."""

    BINDINGS = [Binding("enter", "select_cursor", "Trace", show=False)]


class BenchScreen(FollowingScreen):
    """One bench (or optimize) run: the summary tables above, every item below; `t` (or enter on an
    item) opens its agent trace, and in an optimize run the run's own trace."""

    BINDINGS = [Binding("escape", "back", "Back"), Binding("t", "trace", "Trace"),
                Binding("tab", "switch_pane", "Pane", priority=True)]

    def __init__(self, run: RunInfo) -> None:
        super().__init__()
        self.run = run
        self.results = ResultCounter(JsonlTail(run.path / "results.jsonl"))
        self._item_keys: list[tuple[str, str, str]] = []

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="topline")
        with VerticalScroll(id="bench"):
            yield Static(id="bench-body")
        yield ItemsTable(id="items", cursor_type="row", zebra_stripes=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#title", Static).update(Text.assemble((f"{self.run.kind} ", "bold"), self.run.name))
        items = self.query_one("#items", DataTable)
        for col in ITEM_COLUMNS:
            items.add_column(col, key=col)
        items.display = False
        self.query_one("#bench", VerticalScroll).focus()  # arrows and page keys scroll the tables
        self.scanner = self.app.scanner
        self.start_following()

    def collect(self) -> tuple[dict[str, Any], bool]:
        more = self.results.poll()
        summary = read_json(self.run.path / "summary.json") or read_json(self.run.path / "result.json")
        info = self.scanner.describe(self.run.path) if self.run.path.is_dir() else None
        items = [(key, item_cells(rec, self.run.path)) for key, rec in sorted(self.results.items.items())]
        return {"summary": summary, "results": self.results.table(), "info": info, "items": items,
                "skipped": self.results.tail.skipped, "files": _files(self.run.path)}, more

    def apply(self, payload: dict[str, Any]) -> None:
        info: RunInfo | None = payload["info"]
        status = info.status if info else "deleted"
        title: list[Any] = [(f"{self.run.kind} ", "bold"), self.run.name, "  ", status_text(status)]
        if info and info.note:
            title.append((f"  {info.note}", "dim"))
        if payload["skipped"]:
            title.append((f"  skipped {payload['skipped']} lines", "yellow"))
        self.query_one("#title", Static).update(Text.assemble(*title, no_wrap=True, overflow="ellipsis"))
        parts: list[RenderableType] = []
        if payload["summary"] is not None:
            parts += comparison_tables(payload["summary"])
        else:
            parts.append(Text("no summary.json yet (written when the run ends)", style="italic"))
        if sum(self.results.total.values()):
            parts += [Text(""), payload["results"]]
        if payload["files"]:
            parts += [Text(""), Text("files: " + "  ".join(payload["files"]), style="dim")]
        self.query_one("#bench-body", Static).update(Group(*parts))
        self._show_items(payload["items"])
        self.refresh_bindings()

    def _show_items(self, items: list[tuple[tuple[str, str, str], tuple]]) -> None:
        table = self.query_one("#items", DataTable)
        keys = [k for k, _ in items]
        table.display = bool(items)
        if keys == self._item_keys:
            for key, cells in items:
                for col, value in zip(ITEM_COLUMNS, cells):
                    table.update_cell("/".join(key), col, value)
            return
        current = self._item_keys[table.cursor_row] if self._item_keys and table.cursor_row is not None \
            and table.cursor_row < len(self._item_keys) else None
        table.clear()
        for key, cells in items:
            table.add_row(*cells, key="/".join(key))
        self._item_keys = keys
        if current in keys:
            table.move_cursor(row=keys.index(current))

    def selected_trace(self) -> Path | None:
        """The trace folder of the highlighted item, if its trace file is there."""
        table = self.query_one("#items", DataTable)
        if not self._item_keys or table.cursor_row is None or not 0 <= table.cursor_row < len(self._item_keys):
            return None
        rec = self.results.items.get(self._item_keys[table.cursor_row]) or {}
        trace = rec.get("trace")
        if isinstance(trace, str) and (self.run.path / trace).is_file():
            return (self.run.path / trace).parent
        return None

    def action_back(self) -> None:
        self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "trace":  # an item's trace, or an optimize run's own
            return (self.run.path / "trace.jsonl").is_file() or bool(self._item_keys) or None
        if action == "switch_pane":
            return bool(self._item_keys) or None
        return True

    def action_trace(self) -> None:
        from hrm_cli.dashboard.agent_screen import AgentScreen

        item = self.selected_trace() if self._item_keys else None
        if item is not None:
            self.app.push_screen(AgentScreen(item))
        elif (self.run.path / "trace.jsonl").is_file():
            self.app.push_screen(AgentScreen(self.run.path))
        elif self._item_keys:
            self.notify("this item has no trace file (the bench keeps traces under traces/)")
        else:
            self.notify("this run has no trace.jsonl")

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_trace()

    def action_switch_pane(self) -> None:
        items = self.query_one("#items", DataTable)
        if items.has_focus:
            self.query_one("#bench", VerticalScroll).focus()
        elif items.display:
            items.focus()


def _files(path: Any) -> list[str]:
    try:
        return sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir() if not p.name.startswith("."))[:20]
    except OSError:
        return []
