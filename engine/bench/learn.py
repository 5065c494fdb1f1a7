"""Time to accuracy: train, and measure held-out exact accuracy at fixed intervals of training time.

`hrm bench learn` and benchmarks/learn_vs_reference.py write the same curve file (CURVE_FORMAT):

    {"format": "hrm-learn-curve/1", "label", "impl", "config", "data", "machine", "blas", "device",
     "target", "budget_s", "eval_every_s", "eval_examples", "stop_reason", "steps", "train_seconds",
     "eval_seconds", "steps_per_s", "tokens_per_s", "points": [
        {"train_seconds", "step", "exact_accuracy", "accuracy", "eval_seconds", ...}, ...]}

The clock is training time only: it runs while steps run and stops for every evaluation, whose time is
reported apart (`eval_seconds` per point and in total), so a slower evaluator does not make a model look
slower to learn. Evaluations fall on a fixed grid of training seconds (every `eval_every_s`), with one
more at the budget; a run stops at the first evaluation whose exact accuracy reaches the target, at the
budget, or when the configuration's schedule ends (`epochs`). `exact_accuracy` is the reference's metric
(the whole puzzle right) on the test split, or on its first `eval_examples` examples (whole puzzles), the
same subset for every arm. The file is rewritten (to a temporary name, then renamed) after every point,
so `hrm dashboard --learn FILE` can follow a run that is still going.
"""

from __future__ import annotations

import math
import os
import platform
import signal
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from hrm_engine.errors import ConfigError, EngineError

CURVE_FORMAT = "hrm-learn-curve/1"
STOP_REASONS = ("target", "budget", "steps", "interrupted")


def check_settings(target: float | None, budget_min: float, eval_every_s: float, eval_examples: int | None) -> None:
    """Refuse settings that cannot give a curve, naming the option and what would work."""
    if target is not None and not (0.0 <= target <= 1.0):
        raise ConfigError(f"--target {target} is not an exact accuracy; give a number in [0, 1], e.g. 0.9")
    if not (math.isfinite(budget_min) and budget_min > 0):
        raise ConfigError(f"--budget {budget_min} is not a training time; give minutes > 0, e.g. 30")
    if not (math.isfinite(eval_every_s) and eval_every_s > 0):
        raise ConfigError(f"--eval-every {eval_every_s} is not an interval; give seconds > 0, e.g. 60")
    if eval_examples is not None and eval_examples < 1:
        raise ConfigError(f"--eval-examples {eval_examples} is not a count; give an integer >= 1 (or omit it: all)")


def eval_subset(data_root: str | Path, examples: int, dest: str | Path) -> tuple[Path, int]:
    """A dataset folder at `dest` holding the first `examples` test examples of `data_root` (whole puzzles,
    at least one), in the reference format, so every arm (ours and the references' loaders) reads the same
    subset. Returns the folder and the number of examples in it."""
    import numpy as np

    from hrm_datasets.format import DatasetWriter, SplitArrays, load_identifiers, load_split

    meta, sets = load_split(data_root, "test")
    out: dict[str, SplitArrays] = {}
    left = examples
    for name, a in sets.items():
        if left <= 0:
            break
        pi = np.asarray(a.puzzle_indices)
        puzzles = max(1, int(np.searchsorted(pi[1:], left, side="right")))  # puzzles whose examples fit
        gi = np.asarray(a.group_indices)
        groups = max(1, int(np.searchsorted(gi[1:], puzzles, side="right")))
        puzzles = int(gi[groups])  # whole groups, so the group index stays valid
        n = int(pi[puzzles])
        out[name] = SplitArrays(inputs=np.asarray(a.inputs[:n]), labels=np.asarray(a.labels[:n]),
                                puzzle_identifiers=np.asarray(a.puzzle_identifiers[:puzzles]),
                                puzzle_indices=pi[:puzzles + 1].copy(), group_indices=gi[:groups + 1].copy())
        left -= n
    total = sum(len(s.inputs) for s in out.values())
    puzzles_total = sum(len(s.puzzle_identifiers) for s in out.values())
    meta.total_groups = sum(len(s.group_indices) - 1 for s in out.values())
    meta.mean_puzzle_examples = total / max(puzzles_total, 1)
    with DatasetWriter(dest, force=True) as writer:
        writer.write_split("test", meta, out)
        writer.write_json("identifiers.json", load_identifiers(data_root))
        writer.commit()
    return Path(dest), total


def machine_info() -> dict[str, Any]:
    """Where the figures were measured: CPU, cores this process may use, and the load when it started
    (a shared machine's load average says how much of it the run had)."""
    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(),
                            "python": platform.python_version(), "cpu_count": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if "cpu" not in info and platform.processor():
        info["cpu"] = platform.processor()
    return info


def data_info(data_root: str | Path, eval_root: str | Path, eval_examples: int) -> dict[str, Any]:
    """The dataset in a curve file: its folder, sizes, and how the data were built (build.json)."""
    import json

    from hrm_datasets.format import load_metadata
    from hrm_datasets.loader import examples_per_epoch

    meta = load_metadata(data_root, "train")
    info: dict[str, Any] = {"path": str(data_root), "seq_len": meta.seq_len, "vocab_size": meta.vocab_size,
                            "train_puzzles": meta.total_groups, "train_examples_per_epoch": examples_per_epoch(meta),
                            "test_examples": split_examples(data_root, "test"), "eval_examples": eval_examples,
                            "eval_path": str(eval_root)}
    build = Path(data_root) / "build.json"
    if build.is_file():
        try:
            info["build"] = json.loads(build.read_text())
        except (OSError, ValueError):
            pass
    return info


def split_examples(data_root: str | Path, split: str) -> int:
    """Examples in a split, from the array headers (nothing is read)."""
    from hrm_datasets.format import load_metadata, load_npy

    meta = load_metadata(data_root, split)
    return sum(int(load_npy(Path(data_root) / split / f"{s}__inputs.npy", mmap=True).shape[0]) for s in meta.sets)


def new_curve(label: str, impl: str, config: dict[str, Any], data: dict[str, Any], *, target: float | None,
              budget_s: float, eval_every_s: float, **extra: Any) -> dict[str, Any]:
    """An empty curve: the settings and where it runs; points are added as they are measured."""
    return {"format": CURVE_FORMAT, "label": label, "impl": impl,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "config": config, "data": data,
            "machine": machine_info(), "target": target, "budget_s": budget_s, "eval_every_s": eval_every_s,
            "eval_examples": data.get("eval_examples"), **extra, "stop_reason": None, "steps": 0,
            "train_seconds": 0.0, "eval_seconds": 0.0, "steps_per_s": None, "tokens_per_s": None, "points": []}


def add_point(curve: dict[str, Any], point: dict[str, Any], tokens_per_step: int) -> None:
    """Append one evaluation and update the totals (training time is the point's: the clock is cumulative)."""
    curve["points"].append(point)
    curve["steps"] = point["step"]
    curve["train_seconds"] = point["train_seconds"]
    curve["eval_seconds"] = sum(p["eval_seconds"] for p in curve["points"])
    if point["train_seconds"] > 0:
        curve["steps_per_s"] = point["step"] / point["train_seconds"]
        curve["tokens_per_s"] = point["step"] * tokens_per_step / point["train_seconds"]


def write_curve(path: str | Path, curve: dict[str, Any]) -> None:
    """Written to a temporary name and renamed: a reader (the dashboard) never sees half a file."""
    from hrm_engine.run.directory import write_json_atomic

    from hrm_datasets.files import writing

    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, curve)


def read_curve(path: str | Path) -> dict[str, Any]:
    """A curve file, checked: one line naming the file and the problem otherwise."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EngineError(f"learn curve {path} does not exist; write one with `hrm bench learn DATA --out {path}`") \
            from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EngineError(f"cannot read learn curve {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != CURVE_FORMAT:
        raise EngineError(f"{path} is not a learn curve (no \"format\": \"{CURVE_FORMAT}\"); "
                          f"write one with `hrm bench learn`")
    points = data.get("points")
    if not isinstance(points, list) or not all(
            isinstance(p, dict) and all(isinstance(p.get(k), (int, float)) for k in ("train_seconds", "step",
                                                                                       "exact_accuracy"))
            for p in points):
        raise EngineError(f"learn curve {path}: 'points' must be a list of objects with train_seconds, step "
                          f"and exact_accuracy numbers")
    return data


def time_to_levels(curve: dict[str, Any], levels: list[float]) -> dict[float, dict[str, float] | None]:
    """For each accuracy level, the first point that reached it (training seconds and step), or None."""
    out: dict[float, dict[str, float] | None] = {}
    for level in levels:
        hit = next((p for p in curve["points"] if p["exact_accuracy"] >= level), None)
        out[level] = None if hit is None else {"train_seconds": hit["train_seconds"], "step": hit["step"]}
    return out


def learn(config: dict[str, Any], data_root: str | Path, out: str | Path, *, label: str | None = None,
          target: float | None = None, budget_s: float = 1800.0, eval_every_s: float = 60.0,
          eval_examples: int | None = None, save: str | Path | None = None,
          on_start: Callable[[Any, dict[str, Any]], None] | None = None,
          on_step: Callable[[int, float], None] | None = None,
          on_eval_start: Callable[[int], None] | None = None,
          on_point: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train `config` on `data_root` until the target, the budget (training seconds) or the schedule's end;
    returns the curve (also written to `out` after every point).

    The training is `hrm train`'s: the same Trainer, compiled step, sampler and schedule (`epochs`,
    `lr_warmup_steps`), without the run directory and checkpoints, whose writes would count as training time.
    Ctrl-C or SIGTERM stops at once with the points so far (stop_reason "interrupted"). `save`: a run directory
    written when the curve stops, however it stops (off the clock): the last step's checkpoint, for `hrm eval`.
    """
    import tempfile

    from hrm_datasets.format import check_eval_split
    from hrm_engine import backend
    from hrm_engine.bench.throughput import device_info
    from hrm_engine.evaluate import evaluate_split
    from hrm_engine.train import Trainer, check_run_folder

    data_root = Path(data_root)
    check_settings(target, budget_s / 60.0, eval_every_s, eval_examples)
    if save is not None:  # refused before any training: a run that has checkpoints is not overwritten
        check_run_folder(Path(save), config, data_root, resuming=False)
    trainer = Trainer(config, data_root)
    check_eval_split(data_root, trainer.model.config)
    eval_bs = int(config.get("eval_batch_size") or trainer.global_batch_size)
    total_test = split_examples(data_root, "test")
    with tempfile.TemporaryDirectory(prefix="hrm-learn-") as tmp:
        eval_root, n_eval = data_root, total_test
        if eval_examples is not None and eval_examples < total_test:
            eval_root, n_eval = eval_subset(data_root, eval_examples, Path(tmp) / "eval")
        dev = device_info()
        curve = new_curve(label or f"hrm {config.get('name', '')} ({config['arch'].get('name')})", "hrm", config,
                          data_info(data_root, eval_root, n_eval),
                          target=target, budget_s=budget_s, eval_every_s=eval_every_s,
                          parameters=trainer.num_parameters, global_batch_size=trainer.global_batch_size,
                          total_steps=trainer.total_steps, device=backend.device_label(),
                          blas={k: v for k, v in dev.items() if k not in ("device", "gpu")})
        if eval_root is not data_root:
            curve["data"]["eval_path"] = f"first {n_eval} test examples of {data_root}"
        if on_start:
            on_start(trainer, curve)
        try:
            with _sigterm_as_interrupt() as received:
                _loop(trainer, curve, out, target, budget_s, eval_every_s,
                      lambda: _evaluate(trainer, evaluate_split, eval_root, eval_bs), on_step, on_eval_start,
                      on_point)
            if received:
                curve["signal"] = "SIGTERM"
                write_curve(out, curve)
            if save is not None:
                _save_run(trainer, config, data_root, Path(save), curve)
                write_curve(out, curve)
        finally:
            trainer.close()
    return curve


@contextmanager
def _sigterm_as_interrupt() -> Iterator[list[int]]:
    """SIGTERM (a timeout, systemd, a scheduler) stops the curve as Ctrl-C does: the points so far written, stop
    reason "interrupted"; the list it yields holds the signal once one was received (the CLI exits 143)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only there can handlers be set
        yield received
        return

    def handle(signum: int, _frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _save_run(trainer: Any, config: dict[str, Any], data_root: Path, path: Path, curve: dict[str, Any]) -> None:
    """The run directory of `--save`; a second Ctrl-C while it is written is ignored (the write is short)."""
    from hrm_engine.train import save_run

    last = curve["points"][-1] if curve["points"] else None
    if curve["data"].get("eval_examples") != curve["data"].get("test_examples"):
        last = None  # a subset's accuracy is not the run's held-out figure: no best mark
    done = trainer.step_count >= trainer.total_steps
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        curve["checkpoint"] = str(save_run(trainer, config, data_root, path, "finished" if done else "interrupted",
                                           {"source": "hrm bench learn", "stop_reason": curve.get("stop_reason"),
                                            "train_seconds": curve.get("train_seconds")},
                                           # the last point measured these weights only if no step came after it
                                           metric=(last["exact_accuracy"] if last and last["step"] ==
                                                   trainer.step_count else None)))
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _evaluate(trainer: Any, evaluate_split: Callable, eval_root: Path, batch_size: int) -> dict[str, float]:
    with trainer.eval_weights():  # TRM evaluates the moving average of the weights
        metrics, _ = evaluate_split(trainer.model, eval_root, "test", batch_size)
    return metrics


def _loop(trainer: Any, curve: dict[str, Any], out: str | Path, target: float | None, budget_s: float,
          eval_every_s: float, evaluate: Callable[[], dict[str, float]], on_step: Callable | None,
          on_eval_start: Callable | None, on_point: Callable | None) -> None:
    """Steps until an evaluation is due (the clock stopped meanwhile), until a stop reason."""
    train_s = 0.0
    next_eval = min(eval_every_s, budget_s)
    last_metrics: dict[str, Any] | None = None
    try:
        while True:
            start = time.perf_counter()
            schedule_done = False
            while True:  # training segment: the clock runs
                last_metrics, _lr = trainer.launch()
                now = train_s + time.perf_counter() - start
                schedule_done = trainer.step_count >= trainer.total_steps
                if on_step:
                    on_step(trainer.step_count, now)
                if now >= next_eval or schedule_done:
                    break
            trainer.wait()  # the steps launched are part of training time
            train_s += time.perf_counter() - start
            if on_eval_start:
                on_eval_start(trainer.step_count)
            e0 = time.perf_counter()
            metrics = evaluate()
            eval_s = time.perf_counter() - e0
            point = {"train_seconds": train_s, "step": trainer.step_count, "epoch": trainer.epoch,
                     "exact_accuracy": metrics["exact_accuracy"], "accuracy": metrics["accuracy"],
                     "steps": metrics["steps"], "lm_loss": metrics["lm_loss"], "eval_seconds": eval_s,
                     "train_lm_loss": _last_loss(last_metrics, trainer.global_batch_size),
                     "time": time.time()}
            add_point(curve, point, trainer.tokens_per_step)
            reason = ("target" if target is not None and metrics["exact_accuracy"] >= target
                      else "budget" if train_s >= budget_s else "steps" if schedule_done else None)
            curve["stop_reason"] = reason
            write_curve(out, curve)
            if on_point:
                on_point(point)
            if reason:
                return
            # the fixed grid: the next multiple of eval_every_s past now (an overshooting step skips none)
            next_eval = min(budget_s, (math.floor(train_s / eval_every_s) + 1) * eval_every_s)
    except KeyboardInterrupt:
        curve["stop_reason"] = "interrupted"
        write_curve(out, curve)


def _last_loss(metrics: dict[str, Any] | None, global_batch_size: int) -> float | None:
    """The last training step's lm_loss as training logs it (sum / global batch)."""
    if not metrics or "lm_loss" not in metrics:
        return None
    return float(metrics["lm_loss"].item()) / global_batch_size
