"""The agent view: a trace as a tree that grows while the agent runs; details of the selected node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Static, Tree

from hrm_cli.dashboard.follow import FollowingScreen
from hrm_cli.dashboard.runs_screen import status_text
from hrm_cli.dashboard.trace_view import TraceTree, event_detail
from hrm_cli.dashboard.runlog import AGENT_STALE_S, AgentTrace, read_json


class AgentScreen(FollowingScreen):
    """Follows `<run>/trace.jsonl`; with follow on, the newest event stays selected."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("e", "expand_all", "Expand"),
        Binding("tab", "switch_pane", "Pane", show=True, priority=True),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.trace = AgentTrace(self.path)
        self.follow = True
        self.builder: TraceTree | None = None
        self._expected: Any = None  # the node the program (not the user) moved the cursor to
        self._status = "reading"
        self._current: Any = None  # the node whose details are shown
        self._shown: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="topline")
        with Horizontal(id="body"):
            yield Tree("run", id="trace")
            with VerticalScroll(id="detail"):
                yield Static(id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        tree = self.query_one("#trace", Tree)
        tree.show_root = True
        tree.guide_depth = 2
        self.builder = TraceTree(tree)
        tree.focus()
        self._render_title()
        self.start_following()

    # -- reading (worker thread) ---------------------------------------------------------------------------
    def collect(self) -> tuple[dict[str, Any] | None, bool]:
        batch = self.trace.poll()
        result = read_json(self.path / "result.json") if self.trace.finished else None
        events = [e for e in batch.records if isinstance(e.get("event"), str)]
        try:
            mtime = self.trace.path.stat().st_mtime
        except OSError:
            mtime = None
        payload = {"reset": batch.reset, "events": events, "missing": batch.missing, "result": result, "mtime": mtime,
                   "skipped": self.trace.skipped, "pending": self.trace.tail.pending_bytes,
                   "finished": self.trace.finished}
        return payload, not self.trace.tail.caught_up

    # -- showing (UI thread) ---------------------------------------------------------------------------
    def apply(self, payload: dict[str, Any]) -> None:
        assert self.builder is not None
        if payload["reset"]:
            self.builder.reset()
        newest = None
        for e in payload["events"]:
            newest = self.builder.add(e) or newest
        if payload["missing"]:
            self._status = "deleted" if self.builder.count else "no trace.jsonl yet"
        elif payload["finished"]:
            self._status = "finished"
        elif payload["mtime"] is not None and self.clock() - payload["mtime"] > AGENT_STALE_S:
            self._status = "crashed"  # as the runs list judges it: no run_end and no new event for long
        else:
            self._status = "running"
        self._skipped, self._pending = payload["skipped"], payload["pending"]
        self._render_title()
        if not self.loaded:
            return  # the first read: where the cursor goes is decided once it is complete (_done)
        if newest is None:
            return
        if self.follow:
            self.call_after_refresh(self._follow_to, newest)
        elif self._current is not None:
            self.call_after_refresh(self._follow_to, self._current)  # new lines above it must not move it

    def _done(self) -> None:
        first = not self.loaded
        super()._done()
        if first and self.builder is not None:
            # a finished trace opens at its start (task, config); a live one on its newest event
            self.follow = self._status != "finished" and self.builder.last is not None
            target = self.builder.last if self.follow else self.builder.tree.root
            self.call_after_refresh(self._follow_to, target)
            self._render_title()

    def _follow_to(self, node: Any) -> None:
        tree = self.query_one("#trace", Tree)
        if tree.cursor_node is not node:
            self._expected = node  # its NodeHighlighted arrives later: it is ours, not the user's
            tree.move_cursor(node)
        self._show(node)

    def _render_title(self) -> None:
        skipped = getattr(self, "_skipped", 0)
        parts: list[Any] = [(self.path.name, "bold"), "  ", status_text(self._status),
                            f"  {self.builder.count if self.builder else 0} events"]
        if skipped:
            parts.append((f"  skipped {skipped} lines", "yellow"))
        if getattr(self, "_pending", 0):
            parts.append(("  +partial line", "dim"))
        parts.append(("  follow on" if self.follow else "  follow off", "dim"))
        self.query_one("#title", Static).update(Text.assemble(*parts, no_wrap=True, overflow="ellipsis"))

    def _show(self, node: Any) -> None:
        if node is None:
            return
        shown = (id(node), id(node.data))
        if shown == self._shown:
            return
        self._current, self._shown = node, shown
        self.query_one("#detail-body", Static).update(event_detail(node.data or {}))
        self.query_one("#detail", VerticalScroll).scroll_home(animate=False)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if event.node is self._expected:
            self._expected = None
        elif self.loaded and self.builder is not None:
            # moving by hand away from the newest event stops following; coming back resumes it
            self.follow = event.node is self.builder.last
            self._render_title()
        self._show(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        self._show(event.node)

    # -- actions ---------------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        if self.follow and self.builder is not None and self.builder.last is not None:
            self._follow_to(self.builder.last)
        self._render_title()

    def action_expand_all(self) -> None:
        self.query_one("#trace", Tree).root.expand_all()

    def action_switch_pane(self) -> None:
        tree = self.query_one("#trace", Tree)
        if tree.has_focus:
            self.query_one("#detail", VerticalScroll).focus()
        else:
            tree.focus()
