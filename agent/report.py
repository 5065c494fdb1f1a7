"""`hrm agent report`: one or more bench runs as a Markdown report with tables and PNG charts.

Numbers are recomputed from each run's results.jsonl (not read from summary.json), so the report is
what the raw data says. Charts: pass@1 per controller, accuracy against curriculum depth, failure
categories.

PNGs are drawn without matplotlib: it is not a dependency of hrm (it would pull in pillow, fonttools,
kiwisolver and contourpy, tens of MB, for three bar and line charts), so the charts are painted into a
numpy array with a built-in 5x7 bitmap font and written by a ~15-line PNG encoder (zlib + struct). The
output is deterministic: the same results give byte-identical files.
"""

from __future__ import annotations

import struct
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from hrm_agent.bench import fmt_num, load_meta, read_results, finished_rows, summarize
from hrm_agent.errors import AgentError
from hrm_agent.failure_rules import rules_table
from hrm_agent.session import CATEGORIES

# -- PNG ------------------------------------------------------------------------------------------------


def encode_png(img: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 image as PNG bytes (8-bit RGB, no filtering, zlib level 9)."""
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {img.shape} {img.dtype}")
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


# 5x7 glyphs, one hex byte per row (bit 4 = leftmost column), for printable ASCII.
_GLYPHS = {
    " ": "00000000000000", "!": "04040404040004", '"': "0A0A0A00000000", "#": "0A0A1F0A1F0A0A",
    "$": "040F140E051E04", "%": "18190204081303", "&": "0C12140815120D", "'": "04040800000000",
    "(": "02040808080402", ")": "08040202020408", "*": "0004150E150400", "+": "0004041F040400",
    ",": "00000000000C04", "-": "0000001F000000", ".": "00000000000C0C", "/": "00010204081000",
    "0": "0E11131519110E", "1": "040C040404040E", "2": "0E11010204081F",
    "3": "1F02040201110E", "4": "02060A121F0202", "5": "1F101E0101110E",
    "6": "0608101E11110E", "7": "1F010204080808", "8": "0E11110E11110E", "9": "0E11110F01020C",
    ":": "000C0C000C0C00", ";": "000C0C000C0408", "<": "02040810080402", "=": "00001F001F0000",
    ">": "08040201020408", "?": "0E110102040004", "@": "0E11010D15150E",
    "A": "0E11111F111111", "B": "1E11111E11111E", "C": "0E11101010110E", "D": "1C12111111121C",
    "E": "1F10101E10101F", "F": "1F10101E101010", "G": "0E11101711110F",
    "H": "1111111F111111", "I": "0E04040404040E", "J": "0702020202120C", "K": "11121418141211",
    "L": "1010101010101F", "M": "111B1515111111", "N": "11111915131111", "O": "0E11111111110E",
    "P": "1E11111E101010", "Q": "0E11111115120D", "R": "1E11111E141211", "S": "0F10100E01011E",
    "T": "1F040404040404", "U": "1111111111110E", "V": "11111111110A04",
    "W": "1111111515150A", "X": "11110A040A1111", "Y": "1111110A040404",
    "Z": "1F01020408101F", "[": "0E08080808080E", "\\": "00100804020100", "]": "0E02020202020E",
    "^": "040A1100000000", "_": "0000000000001F", "`": "08040200000000",
    "a": "00000E010F110F", "b": "1010161911111E", "c": "00000E1010110E",
    "d": "01010D1311110F", "e": "00000E111F100E", "f": "0609081C080808", "g": "000F11110F010E",
    "h": "10101619111111", "i": "04000C0404040E", "j": "0200060202120C", "k": "10101214181412",
    "l": "0C04040404040E", "m": "00001A15151111", "n": "00001619111111", "o": "00000E1111110E",
    "p": "00001E111E1010", "q": "00000D130F0101", "r": "00001619101010", "s": "00000E100E011E",
    "t": "08081C08080906", "u": "0000111111130D", "v": "00001111110A04",
    "w": "0000111115150A", "x": "0000110A040A11", "y": "000011110F010E",
    "z": "00001F0204081F", "{": "02040408040402", "|": "04040404040404", "}": "08040402040408",
    "~": "00000815020000",
}
# g, p, q and y drop below the baseline: their 7 rows start 2 rows lower in the 9-row cell.
_DESCENDERS = {"g": "0F1111110F010E", "p": "1E1111111E1010", "q": "0F1111110F0101", "y": "111111110F010E"}
_SUBSTITUTE = {"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00b1": "+", "\u2264": "<", "\u2265": ">"}


def _glyph(ch: str) -> np.ndarray:
    """The 9x5 cell of a character (7 rows of glyph, 2 rows below the baseline for descenders)."""
    ch = _SUBSTITUTE.get(ch, ch)
    code, offset = (_DESCENDERS[ch], 2) if ch in _DESCENDERS else (_GLYPHS.get(ch, _GLYPHS["?"]), 0)
    rows = [0] * offset + [int(code[i:i + 2], 16) for i in range(0, 14, 2)] + [0] * (2 - offset)
    return np.array([[(r >> (4 - c)) & 1 for c in range(5)] for r in rows], dtype=bool)


_GLYPH_CACHE: dict[str, np.ndarray] = {}

WHITE = (255, 255, 255)
BLACK = (30, 30, 30)
GRID = (225, 225, 225)
AXIS = (120, 120, 120)
SHADE = (242, 242, 242)
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


class Canvas:
    """An RGB image with the few drawing operations the charts need."""

    def __init__(self, width: int, height: int, background: tuple[int, int, int] = WHITE) -> None:
        self.img = np.empty((height, width, 3), dtype=np.uint8)
        self.img[:] = background
        self.w, self.h = width, height

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: tuple[int, int, int]) -> None:
        xa, xb = sorted((int(round(x0)), int(round(x1))))
        ya, yb = sorted((int(round(y0)), int(round(y1))))
        xa, ya, xb, yb = max(xa, 0), max(ya, 0), min(xb, self.w), min(yb, self.h)
        if xb > xa and yb > ya:
            self.img[ya:yb, xa:xb] = color

    def line(self, x0: float, y0: float, x1: float, y1: float, color: tuple[int, int, int], width: int = 1) -> None:
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for t in np.linspace(0.0, 1.0, steps):
            x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            self.rect(x - width / 2, y - width / 2, x + width / 2 + (width == 1), y + width / 2 + (width == 1),
                      color)

    @staticmethod
    def text_width(text: str, scale: int = 1) -> int:
        return len(text) * 6 * scale - scale if text else 0

    def text(self, x: float, y: float, text: str, color: tuple[int, int, int] = BLACK, scale: int = 1,
             anchor: str = "left") -> None:
        """Draw `text` with its top at y; anchor left, center or right at x."""
        width = self.text_width(text, scale)
        x0 = int(round(x - (width / 2 if anchor == "center" else width if anchor == "right" else 0)))
        y0 = int(round(y))
        for i, ch in enumerate(text):
            g = _GLYPH_CACHE.setdefault(ch, _glyph(ch))
            if scale > 1:
                g = np.kron(g, np.ones((scale, scale), dtype=bool))
            gx = x0 + i * 6 * scale
            ys, xs = np.nonzero(g)
            ys, xs = ys + y0, xs + gx
            keep = (ys >= 0) & (ys < self.h) & (xs >= 0) & (xs < self.w)
            self.img[ys[keep], xs[keep]] = color

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(encode_png(self.img))
        return path


def _legend(c: Canvas, names: list[str], x: int, y: int) -> None:
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        c.rect(x, y + i * 18, x + 12, y + i * 18 + 12, color)
        c.text(x + 18, y + i * 18 + 2, name, scale=1)


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** np.floor(np.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= v:
            return float(m * mag)
    return float(10 * mag)


def bar_chart(path: str | Path, title: str, groups: list[str], series: list[tuple[str, list[float | None]]],
              ylabel: str = "", ymax: float | None = None, value_fmt: str = "{:.2f}",
              width: int = 760, height: int = 440) -> Path:
    """Grouped bars: one group per label in `groups`, one colored bar per series, values on top."""
    c = Canvas(width, height)
    left, right, top, bottom = 64, 20 + (150 if len(series) > 1 else 0), 44, 64
    pw, ph = width - left - right, height - top - bottom
    values = [v for _, vs in series for v in vs if v is not None]
    ymax = ymax or _nice_max(max(values, default=1.0) * 1.1)
    c.text(width / 2, 12, title, scale=2, anchor="center")
    for i in range(6):
        yv = ymax * i / 5
        y = top + ph - ph * i / 5
        c.line(left, y, left + pw, y, GRID)
        label = f"{yv:.2f}" if ymax <= 2 else f"{yv:.0f}" if ymax >= 10 else f"{yv:.1f}"
        c.text(left - 6, y - 3, label, AXIS, anchor="right")
    if ylabel:
        c.text(8, top - 16, ylabel, AXIS)
    n_groups, n_series = max(len(groups), 1), max(len(series), 1)
    group_w = pw / n_groups
    bar_w = min(60.0, group_w * 0.8 / n_series)
    for g, label in enumerate(groups):
        gx = left + g * group_w + (group_w - bar_w * n_series) / 2
        for s, (_name, vs) in enumerate(series):
            v = vs[g] if g < len(vs) else None
            if v is None:
                continue
            x0 = gx + s * bar_w
            y1 = top + ph - ph * min(v, ymax) / ymax
            c.rect(x0 + 1, y1, x0 + bar_w - 1, top + ph, PALETTE[s % len(PALETTE)])
            c.text(x0 + bar_w / 2, y1 - 11, value_fmt.format(v), BLACK, anchor="center")
        short = label if Canvas.text_width(label) <= group_w - 4 else label[: max(int((group_w - 4) / 6) - 1, 1)] + "~"
        c.text(left + g * group_w + group_w / 2, top + ph + 10, short, BLACK, anchor="center")
    c.line(left, top, left, top + ph, AXIS)
    c.line(left, top + ph, left + pw, top + ph, AXIS)
    if len(series) > 1:
        _legend(c, [name for name, _ in series], left + pw + 16, top + 4)
    return c.save(path)


def line_chart(path: str | Path, title: str, xs: list[int], series: list[tuple[str, list[float | None]]],
               shade_from: float | None = None, ylabel: str = "", xlabel: str = "",
               width: int = 760, height: int = 440) -> Path:
    """Lines over integer x values with square markers; y in 0..1; x >= shade_from drawn on grey."""
    c = Canvas(width, height)
    left, right, top, bottom = 64, 20 + 150, 44, 70
    pw, ph = width - left - right, height - top - bottom
    c.text(width / 2, 12, title, scale=2, anchor="center")
    xmin, xmax = (min(xs), max(xs)) if xs else (0, 1)
    span = max(xmax - xmin, 1)

    def px(x: float) -> float:
        return left + 20 + (pw - 40) * (x - xmin) / span

    def py(y: float) -> float:
        return top + ph - ph * y

    if shade_from is not None and xs and shade_from <= xmax:
        c.rect(px(shade_from) - (pw - 40) / span / 2, top, left + pw, top + ph, SHADE)
        c.text(left + pw - 4, top + 4, "held out", AXIS, anchor="right")
    for i in range(6):
        y = py(i / 5)
        c.line(left, y, left + pw, y, GRID)
        c.text(left - 6, y - 3, f"{i / 5:.1f}", AXIS, anchor="right")
    for x in xs:
        c.text(px(x), top + ph + 10, str(x), BLACK, anchor="center")
    if xlabel:
        c.text(left + pw / 2, top + ph + 30, xlabel, AXIS, anchor="center")
    if ylabel:
        c.text(8, top - 16, ylabel, AXIS)
    for s, (_name, ys) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        points = [(px(x), py(y)) for x, y in zip(xs, ys) if y is not None]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            c.line(x0, y0, x1, y1, color, width=3)
        for x0, y0 in points:
            c.rect(x0 - 4, y0 - 4, x0 + 5, y0 + 5, color)
    c.line(left, top, left, top + ph, AXIS)
    c.line(left, top + ph, left + pw, top + ph, AXIS)
    _legend(c, [name for name, _ in series], left + pw + 16, top + 4)
    return c.save(path)


# -- loading runs ------------------------------------------------------------------------------------------

def resolve_run(spec: str | Path, root: str | Path = "runs/bench") -> Path:
    """A run directory, or a bench id under `root`."""
    path = Path(spec)
    if (path / "bench.json").is_file():
        return path
    if (Path(root) / str(spec) / "bench.json").is_file():
        return Path(root) / str(spec)
    raise AgentError(f"no bench run at {spec} (looked for {path}/bench.json and {root}/{spec}/bench.json)")


def load_run(spec: str | Path, root: str | Path = "runs/bench") -> dict[str, Any]:
    """{dir, meta, rows, summary} of one bench run, the summary recomputed from results.jsonl."""
    run_dir = resolve_run(spec, root)
    meta = load_meta(run_dir)
    rows = finished_rows(read_results(run_dir / "results.jsonl"))
    summary = summarize(rows, meta, n_boot=int(meta.get("bootstrap", 2000)), seed=int(meta.get("seed", 0)))
    return {"dir": run_dir, "meta": meta, "rows": rows, "summary": summary}


# -- tables shared with the CLI ---------------------------------------------------------------------------

def _signed(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:+.{digits}f}"


def comparison_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the comparison table: one metric per row, one column per controller."""
    ctrls = list(summary["controllers"])
    comp = summary.get("comparison")
    diff_col = f"{comp['a']} - {comp['b']}" if comp else None
    header = ["metric", *ctrls] + ([diff_col] if diff_col else [])
    rows: list[list[str]] = []

    def add(label: str, getter: Any, digits: int = 3, diff: bool = True) -> None:
        vals = [getter(summary["controllers"][c]) for c in ctrls]
        row = [label, *[fmt_num(v, digits) for v in vals]]
        if diff_col:
            a, b = getter(summary["controllers"][comp["a"]]), getter(summary["controllers"][comp["b"]])
            row.append(_signed(a - b, digits) if diff and a is not None and b is not None else "")
        rows.append(row)

    add("items (tasks x samples)", lambda m: m["items"], diff=False)
    add("passed", lambda m: m["passed"], diff=False)
    add("pass@1", lambda m: m["pass@1"])
    ks = sorted({k for c in ctrls for k in summary["controllers"][c]["pass@k"] if k != "1"}, key=int)
    for k in ks:
        add(f"pass@{k}", lambda m, k=k: m["pass@k"].get(k))
    add("time-to-solve mean (s)", lambda m: m["time_to_solve_s"]["mean"], 1)
    add("time-to-solve median (s)", lambda m: m["time_to_solve_s"]["median"], 1)
    add("time per item mean (s)", lambda m: m["time_s"]["mean"], 1)
    add("rounds (mean)", lambda m: m["rounds_mean"], 2)
    add("model calls (mean)", lambda m: m["model_calls_mean"], 2)
    add("tool calls (mean)", lambda m: m["tool_calls_mean"], 2)
    add("tokens (mean)", lambda m: m["tokens_mean"], 0)
    cats = [cat for cat in CATEGORIES
            if any(summary["controllers"][c]["failure_categories"].get(cat) for c in ctrls)]
    for cat in cats:
        add(f"failed: {cat}", lambda m, cat=cat: m["failure_categories"].get(cat, 0), 0)
    add("recorded tool_misuse + spec_error", lambda m: m["tool_misuse_spec_error"], 0)
    if diff_col and comp.get("ci95"):
        lo, hi = comp["ci95"]
        rows.append([f"{diff_col} pass@1, 95% bootstrap CI", *["" for _ in ctrls],
                     f"[{lo:+.3f}, {hi:+.3f}]"])
    return header, rows


def _md_table(header: list[str], rows: list[list[str]], numeric_from: int = 1,
              align: list[str] | None = None) -> str:
    """A Markdown table; columns from `numeric_from` on are right-aligned unless `align` says otherwise."""
    align = align or ["---" if i < numeric_from else "---:" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(out)


def _label(run: dict[str, Any], many: bool) -> str:
    meta = run["meta"]
    model = Path(str(meta.get("model") or "?")).name
    return f"{meta['suite']['name']}/{model}" + (f" ({meta['id']})" if many else "")


# -- the report ---------------------------------------------------------------------------------------------

def write_report(runs: list[str | Path], out_dir: str | Path | None = None,
                 root: str | Path = "runs/bench") -> dict[str, Any]:
    """Write report.md and its PNGs; returns {"report": path, "plots": [paths], "runs": [dirs]}."""
    if not runs:
        raise AgentError("give at least one bench run: hrm agent report runs/bench/<id>")
    loaded = [load_run(r, root) for r in runs]
    out = Path(out_dir) if out_dir else loaded[0]["dir"] / "report"
    out.mkdir(parents=True, exist_ok=True)
    many = len(loaded) > 1
    labels = [_label(r, many) for r in loaded]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} #{i + 1}" for i, lab in enumerate(labels)]
    plots: list[Path] = []

    # pass@1 per controller: groups = runs, bars = controllers
    ctrls = list(dict.fromkeys(c for r in loaded for c in r["summary"]["controllers"]))
    series = [(c, [r["summary"]["controllers"].get(c, {}).get("pass@1") for r in loaded]) for c in ctrls]
    plots.append(bar_chart(out / "pass_at_1.png", "pass@1 per controller", labels, series, ylabel="pass@1",
                           ymax=1.0))

    # accuracy against curriculum depth
    depth_runs = [(lab, r) for lab, r in zip(labels, loaded)
                  if any(r["summary"]["controllers"][c]["by_depth"] for c in r["summary"]["controllers"])]
    if depth_runs:
        depths = sorted({int(d) for _, r in depth_runs for c in r["summary"]["controllers"]
                         for d in r["summary"]["controllers"][c]["by_depth"]})
        held = sorted({int(row["depth"]) for _, r in depth_runs for row in r["rows"]
                       if row.get("split") == "heldout" and row.get("depth") is not None})
        lines = []
        for lab, r in depth_runs:
            for c, m in r["summary"]["controllers"].items():
                name = f"{c}" if len(depth_runs) == 1 else f"{lab}: {c}"
                lines.append((name, [m["by_depth"].get(str(d), {}).get("pass@1") for d in depths]))
        plots.append(line_chart(out / "accuracy_by_depth.png", "accuracy vs number of steps", depths, lines,
                                shade_from=min(held) if held else None, ylabel="pass@1",
                                xlabel="depth (steps)"))

    # failure categories of failed items
    cats = [cat for cat in CATEGORIES if any(r["summary"]["controllers"][c]["failure_categories"].get(cat)
                                             for r in loaded for c in r["summary"]["controllers"])]
    fseries = []
    for lab, r in zip(labels, loaded):
        for c, m in r["summary"]["controllers"].items():
            fseries.append((c if not many else f"{lab}: {c}", [m["failure_categories"].get(cat, 0) for cat in cats]))
    if cats:
        plots.append(bar_chart(out / "failure_categories.png", "failure categories (failed items)",
                               [cat.replace("_", " ") for cat in cats], fseries, ylabel="items",
                               value_fmt="{:.0f}"))

    md = ["# Agent benchmark report", "",
          f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by `hrm agent report` from "
          f"{len(loaded)} run(s). Every number is recomputed from the runs' `results.jsonl`; definitions in "
          f"docs/agent-bench.md.", ""]
    for name, png in (("pass@1 per controller", "pass_at_1.png"), ("Accuracy vs curriculum depth",
                                                                   "accuracy_by_depth.png"),
                      ("Failure categories", "failure_categories.png")):
        if (out / png) in plots:
            md += [f"![{name}]({png})", ""]
    for lab, r in zip(labels, loaded):
        md += _run_section(lab, r)
    md += ["## Failure rules", "", "A failed item gets the first category whose rule matches its trace:", ""]
    md += [_md_table(["#", "category", "rule"], [[str(i), f"`{cat}`", text] for i, cat, text in rules_table()],
                    numeric_from=3), ""]
    report = out / "report.md"
    report.write_text("\n".join(md) + "\n", encoding="utf-8")
    return {"report": str(report), "plots": [str(p) for p in plots], "runs": [str(r["dir"]) for r in loaded]}


def _run_section(label: str, run: dict[str, Any]) -> list[str]:
    meta, summary, rows = run["meta"], run["summary"], run["rows"]
    cfg = meta.get("config") or {}
    budget = cfg.get("budget") or {}
    md = [f"## {label}", "",
          f"- run: `{run['dir']}`",
          f"- suite: **{meta['suite']['name']}** ({meta['suite'].get('source', '')}), "
          f"{meta['suite'].get('tasks', '?')} tasks, {meta['samples']} sample(s) each",
          f"- backend: {meta.get('backend')} `{meta.get('model')}`, temperature {cfg.get('temperature')}, "
          f"budget {budget.get('max_rounds')} rounds / {budget.get('max_model_tokens')} tokens / "
          f"{budget.get('wall_s')} s",
          f"- items finished: {summary['items_done']} of {summary['items_total']}"
          + ("" if summary["complete"] else " (**incomplete**: resume with `hrm agent bench --resume "
                                            f"{meta['id']}`)"), ""]
    header, trows = comparison_rows(summary)
    md += [_md_table(header, trows), ""]
    comp = summary.get("comparison")
    if comp and comp.get("pass@1_diff") is not None:
        lo, hi = comp["ci95"]
        md += [f"{comp['a']} - {comp['b']} pass@1 = **{comp['pass@1_diff']:+.3f}**, 95% bootstrap interval "
               f"[{lo:+.3f}, {hi:+.3f}] over {comp['tasks']} tasks ({comp['bootstrap']} resamples, seed "
               f"{comp['seed']}); {comp['a']} better on {comp['wins']} tasks, worse on {comp['losses']}.", ""]
    by_depth = {c: m["by_depth"] for c, m in summary["controllers"].items() if m["by_depth"]}
    if by_depth:
        depths = sorted({int(d) for v in by_depth.values() for d in v})
        split_of = {int(r["depth"]): r.get("split") for r in rows if r.get("depth") is not None}
        table = [[f"{d}" + (" (held out)" if split_of.get(d) == "heldout" else ""),
                  *[fmt_num(by_depth[c].get(str(d), {}).get("pass@1")) for c in by_depth]] for d in depths]
        md += ["Accuracy by depth:", "", _md_table(["depth", *by_depth], table), ""]
    md += _disagreements(summary, rows)
    return md


def _disagreements(summary: dict[str, Any], rows: list[dict[str, Any]], limit: int = 40) -> list[str]:
    comp = summary.get("comparison")
    if not comp:
        return []
    a, b = comp["a"], comp["b"]
    rate: dict[tuple[str, str], list[int]] = {}
    cat: dict[tuple[str, str], str] = {}
    for r in rows:
        n_c = rate.setdefault((r["task_id"], r["controller"]), [0, 0])
        n_c[0] += 1
        n_c[1] += bool(r["pass"])
        if not r["pass"] and r.get("failure_category"):
            cat[(r["task_id"], r["controller"])] = r["failure_category"]
    tasks = sorted({t for t, _ in rate})
    diff = []
    for t in tasks:
        if (t, a) in rate and (t, b) in rate:
            pa, pb = rate[(t, a)][1] / rate[(t, a)][0], rate[(t, b)][1] / rate[(t, b)][0]
            if pa != pb:
                diff.append([t, f"{pa:.2f}", f"{pb:.2f}", cat.get((t, a), ""), cat.get((t, b), "")])
    if not diff:
        return [f"No task where {a} and {b} differ.", ""]
    more = f" (first {limit} of {len(diff)})" if len(diff) > limit else ""
    table = _md_table(["task", f"{a} pass", f"{b} pass", f"{a} failure", f"{b} failure"], diff[:limit],
                      align=["---", "---:", "---:", "---", "---"])
    return [f"Tasks where {a} and {b} differ{more}:", "", table, ""]
