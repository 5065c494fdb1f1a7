"""The training view: live plots of one run, or of several runs on the same axes (compare)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import yaml
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.widgets import Footer, Static

from hrm_cli.dashboard.follow import FollowingScreen
from hrm_cli.dashboard.plots import Line, MetricPlot, PlotSpec
from hrm_cli.dashboard.runs_screen import status_text
from hrm_cli.dashboard.runlog import TrainingRun, format_duration

# (metric key, title, has an eval series)
PLOTS = [("lm_loss", "lm_loss", True), ("exact_accuracy", "exact accuracy", True), ("lr", "learning rate", False),
         ("tokens_per_s", "tokens/s", False), ("steps", "ACT steps", True)]
TABS = [title for _, title, _ in PLOTS] + ["run info"]
TAB_SHORT = ["loss", "exact", "lr", "tok/s", "ACT", "info"]
# Told apart without colour (NO_COLOR): each run its own marker, evaluations as single characters.
RUN_MARKERS = ["braille", "dot", "+", "x"]
RUN_GLYPHS = ["⢕", "•", "+", "x"]  # what those markers look like, for the title's legend
EVAL_MARKERS = ["o", "*", "#", "@"]
RUN_COLORS = ["cyan", "orange", "magenta", "green"]
EVAL_ROWS = [("step", "step"), ("exact_accuracy", "exact"), ("accuracy", "token acc"),
             ("q_halt_accuracy", "q_halt acc"), ("steps", "ACT steps"), ("lm_loss", "lm_loss"),
             ("q_halt_loss", "q_halt_loss"), ("count", "examples")]
TRAIN_ROWS = [("step", "step"), ("lm_loss", "lm_loss"), ("exact_accuracy", "exact"), ("accuracy", "token acc"),
              ("steps", "ACT steps"), ("lr", "lr"), ("tokens_per_s", "tokens/s")]
CONFIG_KEYS = ("name", "arch.hidden_size", "arch.H_layers", "arch.L_layers", "arch.H_cycles", "arch.L_cycles",
               "arch.halt_max_steps", "global_batch_size", "epochs", "lr", "weight_decay", "eval_interval")


@dataclass
class RunSnapshot:
    """What the UI shows of one run, computed in the reading thread."""

    name: str
    status: str
    note: str
    step: int | None
    total: Any
    eta: float | None
    skipped: int
    pending: int
    version: int
    last_train: dict[str, Any] | None
    last_eval: dict[str, Any] | None
    info: dict[str, Any]
    config: dict[str, Any]
    loading: bool
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    eval_series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def short_names(names: list[str]) -> list[str]:
    """Run names without their common prefix (hrm-tiny-s4-a, hrm-tiny-s4-b -> a, b), to fit legends."""
    if len(names) < 2:
        return names
    prefix = os.path.commonprefix(names)
    cut = max(prefix.rfind(c) for c in "-_.") + 1 if prefix else 0
    short = [n[cut:] for n in names]
    return short if all(short) and len(set(short)) == len(short) else names


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def plot_specs(snaps: list[RunSnapshot]) -> dict[str, PlotSpec]:
    """What each plot draws: every run's train line and its evaluations, on the same axes."""
    compare = len(snaps) > 1
    labels = short_names([s.name for s in snaps])
    specs = {}
    for key, title, has_eval in PLOTS:
        lines = []
        for i, snap in enumerate(snaps):
            label = labels[i][:18] if compare else "train"
            xs, ys = snap.series.get(key, ([], []))
            if xs:
                lines.append(Line(xs, ys, RUN_MARKERS[i % 4], RUN_COLORS[i % 4], label))
            exs, eys = snap.eval_series.get(key, ([], [])) if has_eval else ([], [])
            if exs:
                lines.append(Line(exs, eys, EVAL_MARKERS[i % 4], RUN_COLORS[i % 4],
                                  f"{label} eval" if compare else "eval", scatter=True))
        specs[key] = PlotSpec(f"{title} vs step" if lines else f"{title}: no data yet", tuple(lines),
                              (0.0, 1.0) if key == "exact_accuracy" else None)
    return specs


class TrainingScreen(FollowingScreen):
    """One training run, or several on the same axes. `1`-`6` / arrows pick the plot, `v` shows all."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("right", "next_plot", "Plot", key_display="←→"),
        Binding("left", "prev_plot", "Plot", show=False),
        *[Binding(str(i + 1), f"show_plot({i})", TABS[i], show=False) for i in range(len(TABS))],
        Binding("v", "toggle_layout", "Layout"),
        Binding("s", "solve", "Solve"),
    ]

    def __init__(self, runs: list[TrainingRun]) -> None:
        super().__init__()
        self.runs = runs
        self.current = 0
        self.layout_mode: str | None = None  # None: chosen from the size; "single" / "grid" after `v`
        self.snapshots: list[RunSnapshot] = []
        self._plotted: tuple[int, ...] | None = None
        self._configs: dict[int, dict[str, Any]] = {}
        self._texts: dict[str, Any] = {}  # what each text panel shows, to skip unchanged repaints
        self._drawn_at = 0.0
        self._width = 80  # the screen's width, recorded on the UI thread
        self._plots: dict[str, MetricPlot] = {}  # when the plots were last drawn (throttled while a big file loads)

    @property
    def compare(self) -> bool:
        return len(self.runs) > 1

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="topline")
        yield Static(id="tabs")
        with Horizontal(id="body"):
            with Container(id="plots"):
                for i, (key, _title, _) in enumerate(PLOTS):
                    yield MetricPlot(id=f"plot-{key}", classes="cell")
                yield Static(id="info", classes="cell")
            yield Static(id="evalpanel")
        yield Footer()

    def on_mount(self) -> None:
        self._plots = {key: self.query_one(f"#plot-{key}", MetricPlot) for key, _, _ in PLOTS}
        self._choose_layout()
        self._show_current()
        self._render_text()
        self.start_following()

    def on_resize(self) -> None:
        self._width = self.size.width
        self._choose_layout()

    def _choose_layout(self) -> None:
        roomy = self.size.width >= 140 and self.size.height >= 36
        mode = self.layout_mode
        if mode is None:
            mode = "grid" if roomy else "single"
        self.set_class(mode == "single", "-single")
        self.set_class(mode == "grid", "-grid")
        # all plots in a small terminal: the side panel goes, so each plot keeps its title, and the
        # sixth cell holds a summary short enough to be read whole (the full one is `6` in one-plot mode)
        self.set_class(mode == "grid" and not roomy, "-compact")
        if self.is_mounted and self.snapshots:
            self._render_text()

    # -- reading (worker thread) ---------------------------------------------------------------------------
    def collect(self) -> tuple[dict[str, Any], bool]:
        now = self.clock()
        snaps, more = [], False
        for i, run in enumerate(self.runs):
            run.poll()
            more |= not run.caught_up
            if i not in self._configs:
                try:
                    self._configs[i] = _flat(yaml.safe_load((run.path / "config.yaml").read_text()) or {})
                except (OSError, yaml.YAMLError, AttributeError):
                    pass
            snaps.append(self._snapshot(i, run, now))
        payload: dict[str, Any] = {"snapshots": snaps, "plots": None}
        versions = tuple(s.version for s in snaps)
        # draw here, off the UI thread, only when the data changed; while a big file is still being read,
        # at most once a second (the first chunk is drawn at once)
        throttled = more and self._plotted is not None and time.monotonic() - self._drawn_at < 1.0
        if versions != self._plotted and not throttled:
            self._plotted, self._drawn_at = versions, time.monotonic()
            specs = plot_specs(snaps)
            drawn = {}
            for key, spec in specs.items():
                widget = self._plots[key]
                size = widget.cells
                if widget.display and size[0] > 0 and size[1] > 0:
                    drawn[key] = (size, widget.draw(spec, size))
            payload["plots"] = (specs, drawn)
        return payload, more

    def _snapshot(self, i: int, run: TrainingRun, now: float) -> RunSnapshot:
        status, note = run.status(now)
        points = max(60, self._width)  # about one point per braille dot column of a plot
        log = run.log
        return RunSnapshot(
            name=run.name, status=status, note=note, step=run.current_step(), total=run.info.get("total_steps"),
            eta=run.eta_s(now), skipped=run.skipped, pending=run.tail.pending_bytes, version=run.version,
            last_train=log.last_train, last_eval=log.last_eval, info=dict(run.info), config=self._configs.get(i, {}),
            loading=not run.caught_up,
            series={k: log.train[k].points(points) for k, _, _ in PLOTS},
            eval_series={k: log.eval[k].points(points) for k, _, has_eval in PLOTS if has_eval},
        )

    # -- showing (UI thread) ---------------------------------------------------------------------------
    def apply(self, payload: dict[str, Any]) -> None:
        self.snapshots = payload["snapshots"]
        if payload["plots"] is not None:
            specs, drawn = payload["plots"]
            for key, spec in specs.items():
                self.query_one(f"#plot-{key}", MetricPlot).show(spec, drawn.get(key))
        self._render_text()

    def _render_text(self) -> None:
        snaps = self.snapshots
        title_key = [(s.name, s.status, s.note, s.step, s.total, s.eta and round(s.eta), s.skipped, bool(s.pending),
                      s.loading) for s in snaps]
        eval_key = [(s.last_eval, s.last_train) for s in snaps]
        info_key = [(s.info, s.config, s.last_eval, s.last_train, self.has_class("-compact")) for s in snaps]
        for selector, key, build, layout in (("#title", title_key, self._title, True),
                                             ("#tabs", self.current, self._tabs, False),
                                             # its height follows what it shows; without a layout pass its
                                             # blank lines were drawn differently from run to run (a flaky
                                             # 160x40 snapshot: 1 in 3 failed, 0 in 13 with the pass)
                                             ("#evalpanel", eval_key, self._eval_panel, True),
                                             ("#info", info_key, self._info, False)):
            # repaint a panel only when what it shows changed: repainting costs more than comparing
            if self._texts.get(selector, self) != key:
                self._texts[selector] = key
                self.query_one(selector, Static).update(build(), layout=layout)

    def _title(self) -> Text:
        if not self.snapshots:
            return Text.assemble(("reading ", "italic"), ", ".join(r.name for r in self.runs), " …")
        lines = []
        for i, s in enumerate(self.snapshots):
            step = f"step {fmt(s.step)}/{fmt(s.total)}" if s.step is not None else "no steps yet"
            parts: list[Any] = []
            if self.compare:
                parts.append((f"{RUN_GLYPHS[i % 4]}{EVAL_MARKERS[i % 4]} ", "bold"))
            parts += [(s.name, "bold"), "  ", status_text(s.status), "  ", step]
            if s.status == "running":
                parts.append(f"  ETA {format_duration(s.eta)}")
            if s.skipped:
                parts.append((f"  skipped {s.skipped} lines", "yellow"))
            if s.pending:
                parts.append(("  +partial line", "dim"))
            if s.loading:
                parts.append(("  loading…", "italic"))
            if s.note:
                parts.append((f"  {s.note}", "dim"))
            lines.append(Text.assemble(*parts, no_wrap=True, overflow="ellipsis"))
        return Text("\n").join(lines)

    def _tabs(self) -> Text:
        parts = []
        for i, name in enumerate(TAB_SHORT):
            label = f" {i + 1} {name} "
            parts.append((label, "reverse bold") if i == self.current else label)
        return Text.assemble(*parts, no_wrap=True, overflow="ellipsis")

    def _eval_panel(self) -> Group:
        snaps = self.snapshots
        names = [n[:9] for n in short_names([s.name for s in snaps])] if self.compare else ["value"]
        header = self.compare
        ev = Table(title="last evaluation", title_justify="left", box=None, padding=(0, 1), show_header=header)
        tr = Table(title="last train log", title_justify="left", box=None, padding=(0, 1), show_header=header)
        for table in (ev, tr):
            table.add_column("", style="bold", no_wrap=True)
            for name in names:
                table.add_column(name, justify="right", no_wrap=True)
        for key, label in EVAL_ROWS:
            ev.add_row(label, *[fmt((s.last_eval or {}).get(key)) for s in snaps])
        for key, label in TRAIN_ROWS:
            tr.add_row(label, *[fmt((s.last_train or {}).get(key)) for s in snaps])
        if snaps and not any(s.last_eval for s in snaps):
            ev = Table(title="last evaluation", title_justify="left", box=None)
            ev.add_column("")
            ev.add_row(Text("none yet", style="dim"))
        return Group(ev, Text(""), tr)

    def _info(self) -> Group:
        if self.has_class("-compact"):
            return self._summary()
        parts: list[Any] = []
        for s in self.snapshots:
            table = Table.grid(padding=(0, 1))
            table.add_column(style="bold", no_wrap=True)
            table.add_column()
            info = s.info
            table.add_row("run", s.name)
            for key in ("data", "device", "parameters", "total_steps", "epoch"):
                if key != "device" or info.get(key):  # runs from before hrm recorded the device have none
                    table.add_row(key, fmt(info.get(key)))
            table.add_row("wall", format_duration(info.get("wall_s")) if isinstance(info.get("wall_s"), float) else "-")
            for key in CONFIG_KEYS:
                if key in s.config:
                    table.add_row(key, fmt(s.config[key]))
            parts += [table, Text("")]
        return Group(*parts)

    def _summary(self) -> Group:
        """The compact grid's sixth cell: where each run stands, in about ten rows."""
        snaps = self.snapshots
        names = [n[:8] for n in short_names([s.name for s in snaps])] if self.compare else ["value"]
        table = Table(box=None, padding=(0, 1), show_header=self.compare, title="summary", title_justify="left")
        table.add_column("", style="bold", no_wrap=True)
        for name in names:
            table.add_column(name, justify="right", no_wrap=True, overflow="ellipsis")
        rows = [("step", lambda s: fmt(s.step)), ("eval exact", lambda s: fmt((s.last_eval or {}).get("exact_accuracy"))),
                ("eval acc", lambda s: fmt((s.last_eval or {}).get("accuracy"))),
                ("train loss", lambda s: fmt((s.last_train or {}).get("lm_loss"))),
                ("train exact", lambda s: fmt((s.last_train or {}).get("exact_accuracy"))),
                ("ACT steps", lambda s: fmt((s.last_train or {}).get("steps"))),
                ("params", lambda s: fmt(s.info.get("parameters"))), ("data", lambda s: fmt(s.info.get("data")))]
        for label, get in rows:
            table.add_row(label, *[get(s) for s in snaps])
        return Group(table, Text("v then 6: all run info", style="dim"))

    def _show_current(self) -> None:
        cells = [f"#plot-{key}" for key, _, _ in PLOTS] + ["#info"]
        for i, sel in enumerate(cells):
            self.query_one(sel).set_class(i == self.current, "-current")
        self.query_one("#tabs", Static).update(self._tabs())

    # -- actions ---------------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_show_plot(self, index: int) -> None:
        self.current = index % len(TABS)
        self._show_current()

    def action_next_plot(self) -> None:
        self.action_show_plot(self.current + 1)

    def action_prev_plot(self) -> None:
        self.action_show_plot(self.current - 1)

    def action_solve(self) -> None:
        self.app.open_solve(self.runs[0].path)

    def action_toggle_layout(self) -> None:
        single = self.has_class("-single")
        self.layout_mode = "grid" if single else "single"
        self._choose_layout()
