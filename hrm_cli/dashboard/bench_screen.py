"""The bench view (also used for optimize runs): the per-controller table of summary.json and its
failure categories; while the bench runs, counts from results.jsonl as they arrive."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from hrm_cli.dashboard.follow import FollowingScreen
from hrm_cli.dashboard.runs_screen import status_text
from hrm_cli.dashboard.training_screen import fmt
from hrm_engine.runlog import JsonlTail, RunInfo, is_scalar, per_controller, read_json, split_metrics

PASS_KEYS = ("pass", "passed", "ok", "correct", "success")
FAILURE_KEYS = ("failure", "failure_category", "category")


def comparison_tables(summary: dict[str, Any]) -> list[RenderableType]:
    """The metric table (metrics down, controllers across) beside the failure categories, then the
    a - b difference and the run's facts."""
    rows = per_controller(summary)
    out: list[RenderableType] = []
    if rows:
        split = {name: split_metrics(row) for name, row in rows.items()}
        metrics = Table(title="comparison", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                        padding=(0, 1))
        metrics.add_column("metric", no_wrap=True, max_width=24, overflow="ellipsis")
        for name in rows:
            metrics.add_column(name, justify="right", no_wrap=True, min_width=6)
        keys: list[str] = []
        for m, _ in split.values():
            keys += [k for k in m if k not in keys]
        for key in keys:
            metrics.add_row(key, *[fmt(split[name][0].get(key)) for name in rows])
        categories: list[str] = []
        for _, f in split.values():
            categories += [c for c in f if c not in categories]
        fail: RenderableType = Text("no failures", style="dim")
        if categories:
            fail = Table(title="failure categories", title_justify="left", header_style="bold",
                         box=box.SIMPLE_HEAD, padding=(0, 1))
            fail.add_column("category", no_wrap=True, max_width=18, overflow="ellipsis")
            for name in rows:
                fail.add_column(name, justify="right", no_wrap=True, min_width=4)
            for cat in categories:
                fail.add_row(cat, *[fmt(split[name][1].get(cat, 0)) for name in rows])
        side = Table.grid(padding=(0, 2))
        side.add_row(metrics, fail)
        out += [side, Text("")]
    else:
        out += [Text("summary.json has no per-controller table that this view understands", style="yellow"),
                Text("")]
    comparison = summary.get("comparison")
    if isinstance(comparison, dict):  # hrm_agent.bench: a - b with a bootstrap interval
        title = f"difference {comparison.get('a', 'a')} − {comparison.get('b', 'b')}"
        diff = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
        diff.add_column(style="bold", no_wrap=True)
        diff.add_column()
        for key, value in comparison.items():
            if key in ("a", "b"):
                continue
            if isinstance(value, list):
                value = "[" + ", ".join(fmt(v) for v in value) + "]"
            elif isinstance(value, dict):
                value = "  ".join(f"{k} {fmt(v)}" for k, v in value.items())
            diff.add_row(key, fmt(value))
        out += [diff, Text("")]
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    for key, value in summary.items():
        if is_scalar(value) and key not in ("status",):
            if key in ("started", "created", "finished") and isinstance(value, (int, float)):
                value = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
            facts.add_row(key, fmt(value))
    if facts.row_count:
        out.append(facts)
    return out


class ResultCounter:
    """Per-controller counts over results.jsonl lines, read incrementally."""

    def __init__(self, tail: JsonlTail) -> None:
        self.tail = tail
        self.total: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        self.failures: dict[str, Counter[str]] = defaultdict(Counter)

    def poll(self) -> bool:
        batch = self.tail.poll()
        if batch.reset:
            self.__init__(self.tail)  # type: ignore[misc]
        for rec in batch.records:
            name = str(rec.get("controller") or "?")
            self.total[name] += 1
            if any(rec.get(k) is True for k in PASS_KEYS):
                self.passed[name] += 1
            cat = next((rec[k] for k in FAILURE_KEYS if isinstance(rec.get(k), str) and rec.get(k)), None)
            if cat:
                self.failures[name][cat] += 1
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


class BenchScreen(FollowingScreen):
    """One bench (or optimize) run; `t` opens an optimize run's trace in the agent view."""

    BINDINGS = [Binding("escape", "back", "Back"), Binding("t", "trace", "Trace")]

    def __init__(self, run: RunInfo) -> None:
        super().__init__()
        self.run = run
        self.results = ResultCounter(JsonlTail(run.path / "results.jsonl"))

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="topline")
        with VerticalScroll(id="bench"):
            yield Static(id="bench-body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#title", Static).update(Text.assemble((f"{self.run.kind} ", "bold"), self.run.name))
        self.query_one("#bench", VerticalScroll).focus()  # arrows and page keys scroll the tables
        self.scanner = self.app.scanner
        self.start_following()

    def collect(self) -> tuple[dict[str, Any], bool]:
        more = self.results.poll()
        summary = read_json(self.run.path / "summary.json") or read_json(self.run.path / "result.json")
        info = self.scanner.describe(self.run.path) if self.run.path.is_dir() else None
        return {"summary": summary, "results": self.results.table(), "info": info,
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

    def action_back(self) -> None:
        self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "trace":  # only optimize runs keep a trace of their own (bench traces are per item)
            return (self.run.path / "trace.jsonl").is_file() or None
        return True

    def action_trace(self) -> None:
        from hrm_cli.dashboard.agent_screen import AgentScreen

        trace = self.run.path / "trace.jsonl"
        if trace.is_file():
            self.app.push_screen(AgentScreen(self.run.path))
        else:
            self.notify("this run has no trace.jsonl")


def _files(path: Any) -> list[str]:
    try:
        return sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir() if not p.name.startswith("."))[:20]
    except OSError:
        return []
