"""Benchmarks of the training step: steps/s, tokens/s and peak memory for a configuration.

Runs the real compiled training step (Trainer) on a synthetic dataset of the configuration's
shape, after warm-up steps that absorb compilation, and reports the device and BLAS in use.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

from hrm_datasets.format import DatasetMetadata, DatasetWriter, SplitArrays


def synthetic_dataset(root: Path, seq_len: int, vocab_size: int, examples: int, seed: int = 0) -> Path:
    """Random tokens in the reference format (one puzzle id), enough for a benchmark."""
    rng = np.random.default_rng(seed)
    with DatasetWriter(root, force=True) as writer:
        for split in ("train", "test"):
            n = examples if split == "train" else 8
            arrays = SplitArrays(inputs=rng.integers(1, vocab_size, (n, seq_len)).astype(np.uint8),
                                 labels=rng.integers(1, vocab_size, (n, seq_len)).astype(np.uint8),
                                 puzzle_identifiers=np.zeros(n, np.int32), puzzle_indices=np.arange(n + 1, dtype=np.int32),
                                 group_indices=np.arange(n + 1, dtype=np.int32))
            meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=vocab_size,
                                   seq_len=seq_len, num_puzzle_identifiers=1, total_groups=n, mean_puzzle_examples=1.0)
            writer.write_split(split, meta, {"all": arrays})
        writer.write_json("identifiers.json", ["<blank>"])
        writer.commit()
    return root


def device_info() -> dict[str, Any]:
    from hrm_engine import backend
    from hrm_engine.cpu import blas

    dev = mx.default_device()
    info = {"device": str(dev), "mlx": mx.__version__}
    if dev == mx.gpu:
        info["gpu"] = backend.device_name() or "gpu"
    b = blas.info()
    info["blas"] = b.name if dev == mx.cpu else "n/a (GPU)"
    if dev == mx.cpu:
        info.update(cpu_settings())
    return info


def cpu_settings() -> dict[str, Any]:
    """The CPU speed settings in force, in one format for `hrm doctor` and `hrm bench`: the JIT kernels'
    compiler flags (engine/cpu/jit.py) and whether malloc keeps MLX's buffers (engine/cpu/alloc.py)."""
    from hrm_engine.cpu import alloc, jit

    return {"cpu_jit_flags": jit.active_flags() or "none (MLX's -O3)", "malloc_tuned": alloc.tuned()}


def bench_train(config: dict[str, Any], *, steps: int = 5, warmup: int = 2, data: str | Path | None = None,
                seq_len: int = 81, vocab_size: int = 11, wait_each_step: bool = False,
                breakdown: bool = False) -> dict[str, Any]:
    """Time `steps` training steps after `warmup`; returns the figures as a dict.

    Steps are launched as `hrm train` launches them, each while the previous one computes;
    `wait_each_step` waits for every step first, to measure what that overlap is worth.
    `breakdown` adds `phases_ms`: the step's phases timed apart (engine/bench/step_profile.py).
    With a `cycles_schedule`, every stage is timed from its first step (`stages`), and the headline figures are
    the whole schedule's: its steps over the time its stages take at their rates (`schedule_s`, for the
    dataset's steps with `data`).
    """
    from hrm_engine.train import Trainer

    cfg = dict(config)
    cfg["max_steps"] = None
    with tempfile.TemporaryDirectory(prefix="hrm-bench-") as tmp:
        root = Path(data) if data else synthetic_dataset(Path(tmp) / "data", seq_len, vocab_size,
                                                         max(4 * int(cfg["global_batch_size"]), 64))
        mx.clear_cache()
        mx.reset_peak_memory()
        trainer = Trainer(cfg, root)
        extra: dict[str, Any] = {}
        if trainer.cycles_schedule is None:
            seconds = _seconds_per_step(trainer, steps, warmup, wait_each_step)
        else:
            extra["stages"] = _stage_rates(trainer, steps, warmup, wait_each_step)
            extra["schedule_s"] = sum(st["steps"] * st["s_per_step"] for st in extra["stages"])
            seconds = extra["schedule_s"] / trainer.total_steps
        peak = mx.get_peak_memory()
        m = trainer.model.config
        if breakdown:
            from hrm_engine.bench.step_profile import profile_step

            extra["phases_ms"] = profile_step(trainer, reps=steps)
        return {
            **device_info(),
            "config": cfg.get("name"), "dtype": m.forward_dtype, "parameters": trainer.num_parameters,
            "global_batch_size": trainer.global_batch_size, "seq_len": trainer.metadata.seq_len,
            "H_cycles": m.H_cycles, "L_cycles": m.L_cycles, "hidden_size": m.hidden_size,
            "steps": steps, "wait_each_step": wait_each_step, "s_per_step": seconds, "steps_per_s": 1.0 / seconds,
            "tokens_per_s": trainer.tokens_per_step / seconds, "peak_memory_mb": peak / 2**20,
            "total_steps": trainer.total_steps, **extra,
        }


def _seconds_per_step(trainer: Any, steps: int, warmup: int, wait_each_step: bool) -> float:
    """Seconds per step over `steps` steps after `warmup` waited ones (which absorb compiling)."""
    for _ in range(warmup):
        trainer.step()
    start = time.perf_counter()
    for _ in range(steps):
        if wait_each_step:
            trainer.step()
        else:
            trainer.launch()
    trainer.wait()
    return (time.perf_counter() - start) / steps


def _stage_rates(trainer: Any, steps: int, warmup: int, wait_each_step: bool) -> list[dict[str, Any]]:
    """Each depth stage timed from its first step (its compiled step, at its learning rate); empty stages skipped."""
    schedule, total = trainer.cycles_schedule, trainer.total_steps
    out = []
    for stage, first, count in zip(schedule.stages, schedule.start_steps(total), schedule.steps_per_stage(total)):
        if count == 0:
            continue
        trainer.step_count = first
        seconds = _seconds_per_step(trainer, steps, max(1, warmup), wait_each_step)
        out.append({"start": stage.start, "H_cycles": stage.H_cycles, "L_cycles": stage.L_cycles, "steps": count,
                    "s_per_step": seconds, "steps_per_s": 1.0 / seconds})
    return out
