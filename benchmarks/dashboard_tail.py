"""Benchmark: the dashboard on a 100 MB metrics.jsonl (issue 8: "a 100 MB metrics file must not freeze the UI").

Writes a training run whose metrics.jsonl holds ~100 MB of real-schema train lines (and an eval line every
500 steps), then measures

  reader (no UI)   full read of the file by TrainingRun (chunks of 8 MiB), a refresh with nothing new,
                   a refresh after one appended line, and downsampling the five plotted series;
  UI (headless)    time to first paint of the training view, time until the whole file is read, the longest
                   stall of the event loop meanwhile (a 20 ms ticker's worst lateness) and how long a key
                   press takes to act during the load; then the cost of one refresh after lines are appended
                   (read, snapshot, re-plot, repaint) and the plotext render of every plot.

Usage:  .venv/bin/python benchmarks/dashboard_tail.py [--mb 100] [--size 200x50] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def write_run(root: Path, megabytes: float) -> Path:
    """A running training run whose metrics.jsonl is `megabytes` MB of lines like engine/train.py writes."""
    run = root / "big-run"
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    target = int(megabytes * 1e6)
    step, size, t0 = 0, 0, time.time() - 86400
    with open(run / "metrics.jsonl", "w") as fh:
        while size < target:
            lines = []
            for _ in range(1000):
                step += 10
                frac = step / 5_000_000
                lines.append(json.dumps({
                    "type": "train", "step": step, "epoch": frac * 1000, "lr": 1e-4 * (1 - frac * 0.9),
                    "lm_loss": 2.0 * (1 - frac) + 0.1 + 0.01 * (step % 7), "q_halt_loss": 0.05 + 0.001 * (step % 5),
                    "q_continue_loss": 0.04, "accuracy": 0.3 + 0.6 * frac, "exact_accuracy": 0.8 * frac,
                    "q_halt_accuracy": 0.9, "steps": 8 - 4 * frac, "count": 12.5, "steps_per_s": 3.2,
                    "tokens_per_s": 31000.0 + (step % 100), "wall_s": step / 3.2, "time": t0 + step / 3.2}))
                if step % 5000 == 0:
                    lines.append(json.dumps({
                        "type": "eval", "split": "test", "step": step, "epoch": frac * 1000, "count": 1000.0,
                        "exact_accuracy": 0.75 * frac, "accuracy": 0.3 + 0.6 * frac, "q_halt_accuracy": 0.9,
                        "steps": 16.0, "lm_loss": 2.1 * (1 - frac), "q_halt_loss": 0.1, "wall_s": step / 3.2,
                        "time": t0 + step / 3.2}))
            chunk = "\n".join(lines) + "\n"
            fh.write(chunk)
            size += len(chunk)
    info = {"status": "running", "started": t0, "data": "data/sudoku-extreme", "total_steps": step * 2, "step": step,
            "parameters": 27_000_000, "name": run.name, "heartbeat": time.time(), "pid": os.getpid(),
            "epoch": 1.0, "wall_s": step / 3.2}
    (run / "run.json").write_text(json.dumps(info))
    return run


def _append_line(path: Path, step: int) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps({"type": "train", "step": step, "lm_loss": 0.1, "exact_accuracy": 0.9, "lr": 1e-5,
                             "steps": 4.0, "tokens_per_s": 31000.0, "steps_per_s": 3.2}) + "\n")


def bench_reader(run: Path) -> dict:
    from hrm_cli.dashboard.runlog import TrainingRun

    t = TrainingRun(run)
    chunks = []
    start = time.perf_counter()
    while True:
        c0 = time.perf_counter()
        t.poll()
        chunks.append(time.perf_counter() - c0)
        if t.caught_up:
            break
    full = time.perf_counter() - start
    records = t.tail.records
    idle = []
    for _ in range(200):
        c0 = time.perf_counter()
        t.poll()
        idle.append(time.perf_counter() - c0)
    appended = []
    step = int(t.log.last_train["step"])
    for i in range(50):
        _append_line(run / "metrics.jsonl", step + 10 * (i + 1))
        c0 = time.perf_counter()
        t.poll()
        appended.append(time.perf_counter() - c0)
    c0 = time.perf_counter()
    for key in ("lm_loss", "exact_accuracy", "lr", "tokens_per_s", "steps"):
        t.log.train[key].points(400)
    points = time.perf_counter() - c0
    return {"file_mb": round((run / "metrics.jsonl").stat().st_size / 1e6, 1), "records": records,
            "full_read_s": round(full, 2), "read_mb_per_s": round((run / "metrics.jsonl").stat().st_size / 1e6 / full, 1),
            "chunks": len(chunks), "slowest_chunk_s": round(max(chunks), 3),
            "refresh_nothing_new_us": round(1e6 * statistics.median(idle), 1),
            "refresh_one_new_line_ms": round(1e3 * statistics.median(appended), 3),
            "downsample_5_series_ms": round(1e3 * points, 2)}


def _screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def bench_ui(run: Path, size: tuple[int, int]) -> dict:
    from hrm_cli.dashboard import DashboardApp
    from hrm_cli.dashboard.training_screen import TrainingScreen

    app = DashboardApp(run, refresh_s=3600)  # the run's own folder: the training view opens directly
    # (refresh_s is long so that only the polls this benchmark starts run; the initial read starts by itself)
    lateness: list[float] = []
    out: dict = {"terminal": f"{size[0]}x{size[1]}"}
    t_start = time.perf_counter()
    async with app.run_test(size=size) as pilot:
        expected = [time.perf_counter() + 0.02]

        def tick() -> None:
            now = time.perf_counter()
            lateness.append(now - expected[0])
            expected[0] = now + 0.02

        app.set_interval(0.02, tick)
        while not isinstance(app.screen, TrainingScreen) or "big-run" not in _screen_text(app):
            await asyncio.sleep(0.005)
        screen = app.screen
        out["first_paint_s"] = round(time.perf_counter() - t_start, 3)  # the view is on screen, data coming
        while not screen.snapshots:
            await asyncio.sleep(0.002)
        out["first_data_s"] = round(time.perf_counter() - t_start, 3)  # plots drawn from the first 8 MiB
        if not screen.loaded:  # a key pressed while the file is read: how long until the view changes
            k0 = time.perf_counter()
            press = asyncio.ensure_future(pilot.press("2"))
            while screen.current != 1 and time.perf_counter() - k0 < 30:
                await asyncio.sleep(0.001)
            out["key_during_load_ms"] = round(1e3 * (time.perf_counter() - k0), 1)
            await press
        while not screen.loaded:
            await asyncio.sleep(0.01)
        out["fully_read_s"] = round(time.perf_counter() - t_start, 2)
        out["worst_stall_during_load_ms"] = round(1e3 * max(lateness, default=0.0), 1)
        lateness.clear()
        # one refresh after new lines: read + snapshot (thread), re-plot + repaint (UI)
        costs = []
        step = int(screen.snapshots[0].last_train["step"])
        for i in range(10):
            step += 10
            _append_line(run / "metrics.jsonl", step)
            polls = screen.polls
            c0 = time.perf_counter()
            screen.poll_now()
            while screen.polls == polls:
                await asyncio.sleep(0.001)
            await pilot.pause()
            costs.append(time.perf_counter() - c0)
        out["refresh_with_new_lines_ms"] = round(1e3 * statistics.median(costs), 1)
        plots = [p for p in screen.query("MetricPlot") if p.display and p.spec is not None]
        c0 = time.perf_counter()
        for plot in plots:
            plot.draw(plot.spec, (plot.size.width, plot.size.height))
        out["draw_visible_plots_ms"] = round(1e3 * (time.perf_counter() - c0), 1)
        out["visible_plots"] = len(plots)
        out["worst_stall_after_load_ms"] = round(1e3 * max(lateness, default=0.0), 1)
        await pilot.press("q")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100.0, help="size of metrics.jsonl in MB")
    ap.add_argument("--size", default="200x50", help="terminal size for the UI part, e.g. 80x24")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()
    width, height = (int(x) for x in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = write_run(Path(tmp), args.mb)
        made = time.perf_counter() - t0
        result = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "write_file_s": round(made, 1),
                  "reader": bench_reader(run)}
        result["ui"] = asyncio.run(bench_ui(run, (width, height)))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for section in ("reader", "ui"):
        print(f"[{section}]")
        for key, value in result[section].items():
            print(f"  {key:<30} {value}")
    print(f"(file written in {result['write_file_s']} s; {result['cpus']} CPUs; Python {result['python']})")


if __name__ == "__main__":
    main()
