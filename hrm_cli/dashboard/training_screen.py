"""The training view: live plots of one run, or of several runs on the same axes (compare)."""

from __future__ import annotations

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
from textual_plotext import PlotextPlot

from hrm_cli.dashboard.follow import FollowingScreen
from hrm_cli.dashboard.runs_screen import status_text
from hrm_engine.runlog import TrainingRun, format_duration

# (metric key, title, has an eval series)
PLOTS = [("lm_loss", "lm_loss", True), ("exact_accuracy", "exact accuracy", True), ("lr", "learning rate", False),
         ("tokens_per_s", "tokens/s", False), ("steps", "ACT steps", True)]
TABS = [title for _, title, _ in PLOTS] + ["run info"]
TAB_SHORT = ["loss", "exact", "lr", "tok/s", "ACT", "info"]
# Told apart without colour (NO_COLOR): each run its own marker, evaluations as single characters.
RUN_MARKERS = ["braille", "dot", "+", "x"]
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


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class TrainingScreen(FollowingScreen):
    """One training run, or several on the same axes. `1`-`6` / arrows pick the plot, `v` shows all."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("right", "next_plot", "Plot", key_display="←→"),
        Binding("left", "prev_plot", "Plot", show=False),
        *[Binding(str(i + 1), f"show_plot({i})", TABS[i], show=False) for i in range(len(TABS))],
        Binding("v", "toggle_layout", "Layout"),
    ]

    def __init__(self, runs: list[TrainingRun]) -> None:
        super().__init__()
        self.runs = runs
        self.current = 0
        self.layout_mode: str | None = None  # None: chosen from the size; "single" / "grid" after `v`
        self.snapshots: list[RunSnapshot] = []
        self._plotted: tuple[int, ...] | None = None
        self._configs: dict[int, dict[str, Any]] = {}

    @property
    def compare(self) -> bool:
        return len(self.runs) > 1

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="topline")
        yield Static(id="tabs")
        with Horizontal(id="body"):
            with Container(id="plots"):
                for i, (key, _title, _) in enumerate(PLOTS):
                    yield PlotextPlot(id=f"plot-{key}", classes="cell")
                yield Static(id="info", classes="cell")
            yield Static(id="evalpanel")
        yield Footer()

    def on_mount(self) -> None:
        self._choose_layout()
        self._show_current()
        self._render_text()
        self.start_following()

    def on_resize(self) -> None:
        self._choose_layout()

    def _choose_layout(self) -> None:
        mode = self.layout_mode
        if mode is None:
            mode = "grid" if self.size.width >= 140 and self.size.height >= 36 else "single"
        self.set_class(mode == "single", "-single")
        self.set_class(mode == "grid", "-grid")

    # -- reading (worker thread) ---------------------------------------------------------------------------
    def collect(self) -> tuple[list[RunSnapshot], bool]:
        now = self.app.clock()
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
        return snaps, more

    def _snapshot(self, i: int, run: TrainingRun, now: float) -> RunSnapshot:
        status, note = run.status(now)
        version = run.version
        width = max(100, 2 * (self.size.width or 80))
        log = run.log
        return RunSnapshot(
            name=run.name, status=status, note=note, step=run.current_step(), total=run.info.get("total_steps"),
            eta=run.eta_s(now), skipped=run.skipped, pending=run.tail.pending_bytes, version=version,
            last_train=log.last_train, last_eval=log.last_eval, info=dict(run.info), config=self._configs.get(i, {}),
            loading=not run.caught_up,
            series={k: log.train[k].points(width) for k, _, _ in PLOTS},
            eval_series={k: log.eval[k].points(width) for k, _, has_eval in PLOTS if has_eval},
        )

    # -- showing (UI thread) ---------------------------------------------------------------------------
    def apply(self, payload: list[RunSnapshot]) -> None:
        self.snapshots = payload
        versions = tuple(s.version for s in payload)
        if versions != self._plotted:
            self._plotted = versions
            self._plot()
        self._render_text()

    def _plot(self) -> None:
        for key, title, has_eval in PLOTS:
            widget = self.query_one(f"#plot-{key}", PlotextPlot)
            plt = widget.plt
            plt.clear_data()
            plt.clear_figure()
            any_data = False
            for i, snap in enumerate(self.snapshots):
                label = snap.name[:18] if self.compare else "train"
                xs, ys = snap.series.get(key, ([], []))
                if xs:
                    any_data = True
                    plt.plot(xs, ys, marker=RUN_MARKERS[i % 4], color=RUN_COLORS[i % 4], label=label)
                exs, eys = snap.eval_series.get(key, ([], [])) if has_eval else ([], [])
                if exs:
                    any_data = True
                    plt.scatter(exs, eys, marker=EVAL_MARKERS[i % 4], color=RUN_COLORS[i % 4],
                                label=f"{label} eval" if self.compare else "eval")
            plt.title(f"{title} vs step" if any_data else f"{title}: no data yet")
            if key == "exact_accuracy":
                plt.ylim(0, 1)
            widget.refresh()

    def _render_text(self) -> None:
        self.query_one("#title", Static).update(self._title())
        self.query_one("#tabs", Static).update(self._tabs())
        self.query_one("#evalpanel", Static).update(self._eval_panel())
        self.query_one("#info", Static).update(self._info())

    def _title(self) -> Text:
        if not self.snapshots:
            return Text.assemble(("reading ", "italic"), ", ".join(r.name for r in self.runs), " …")
        lines = []
        for i, s in enumerate(self.snapshots):
            step = f"step {fmt(s.step)}/{fmt(s.total)}" if s.step is not None else "no steps yet"
            parts: list[Any] = []
            if self.compare:
                parts.append((f"{RUN_MARKERS[i % 4] if i else 'line'}/{EVAL_MARKERS[i % 4]} ", "dim"))
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
        names = [s.name[:9] for s in snaps] if self.compare else ["value"]
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
        parts: list[Any] = []
        for s in self.snapshots:
            table = Table.grid(padding=(0, 1))
            table.add_column(style="bold", no_wrap=True)
            table.add_column()
            info = s.info
            table.add_row("run", s.name)
            for key in ("data", "parameters", "total_steps", "epoch"):
                table.add_row(key, fmt(info.get(key)))
            table.add_row("wall", format_duration(info.get("wall_s")) if isinstance(info.get("wall_s"), float) else "-")
            for key in CONFIG_KEYS:
                if key in s.config:
                    table.add_row(key, fmt(s.config[key]))
            parts += [table, Text("")]
        return Group(*parts)

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

    def action_toggle_layout(self) -> None:
        single = self.has_class("-single")
        self.layout_mode = "grid" if single else "single"
        self._choose_layout()
