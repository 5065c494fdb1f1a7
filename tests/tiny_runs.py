"""Tiny real run directories for solve/eval tests: a briefly trained model, or one that copies its input.

The copy model is exact by construction: every attention and MLP weight zero (each block is then just
RMSNorm), H_init/L_init zero, token t embedded as the unit vector e_t and read out by lm_head row e_t,
so the prediction is the input and q_halt is confident. It solves any puzzle given in full and no
other, commutes with every symmetry, and so makes voting and verifying testable with exact answers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from hrm_engine.train import TrainingInterrupted, Unobserved

TINY = ["global_batch_size=16", "arch.hidden_size=32", "arch.num_heads=2", "arch.H_layers=1", "arch.L_layers=1",
        "arch.halt_max_steps=2"]


def make_copy_model(model) -> None:
    """Turn `model` into the input-copying HRM described above (in place)."""
    params = {}
    for name, value in tree_flatten(model.parameters()):
        params[name] = mx.zeros_like(value)
    vocab, dim = params["embed_tokens.weight"].shape
    eye = mx.array(np.eye(vocab, dim, dtype=np.float32))
    params["embed_tokens.weight"] = eye
    params["lm_head.weight"] = eye
    params["q_head.bias"] = mx.array([4.0, -4.0])
    model.update(tree_unflatten(list(params.items())))


def tiny_run(root: Path, data: Path, name: str = "run", copy: bool = False, steps: int = 2) -> Path:
    """A run directory for the dataset at `data`: `steps` real training steps, or the copy model."""
    from hrm_engine.config import resolve_config
    from hrm_engine.run.directory import RunDir
    from hrm_engine.train import Trainer

    cfg = resolve_config("hrm-tiny", None, TINY)
    trainer = Trainer(cfg, data)
    if copy:
        make_copy_model(trainer.model)
    else:
        for _ in range(steps):
            trainer.step()
    run = root / name
    RunDir(run).write_config(cfg)
    shutil.copyfile(data / "train" / "dataset.json", run / "dataset.json")
    shutil.copyfile(data / "build.json", run / "build.json")
    trainer.save(run)
    return run


class StopAt(Unobserved):
    """Interrupts a run after step `step`, as a signal would (the loop saves a checkpoint there)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def logged(self, record):
        if record["step"] == self.step:
            raise TrainingInterrupted
