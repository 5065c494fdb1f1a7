"""Evaluation with the reference's metrics (`pretrain.py` evaluate).

Every test batch runs all `halt_max_steps` segments from a fresh carry; the metrics of the last
segment are summed over batches and divided by `count` (every key, losses included: in eval the
reference divides by count, in training by batch size). `exact_accuracy` (the whole puzzle right)
is the headline; `accuracy` is per-token and easy to mistake for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import mlx.core as mx
import numpy as np

from hrm_engine.act import rollout, segment_step
from hrm_engine.losses import act_loss
from hrm_engine.models.base import ReasoningModel

EVAL_KEYS = ("count", "exact_accuracy", "accuracy", "q_halt_accuracy", "steps", "lm_loss", "q_halt_loss")


def make_eval_fn(model: ReasoningModel, segments: int | None = None) -> Callable[[dict[str, mx.array]], tuple[dict, dict, dict]]:
    """A compiled function: batch -> (carry, outputs, summed metrics) after all segments.

    `segments` (default `halt_max_steps`) may exceed what training used: inference refines longer.
    """
    cfg = model.config

    def segment(carry: dict, rows: mx.array):
        return segment_step(model, carry, rows, training=False)

    compiled = mx.compile(segment)

    def run(batch: dict[str, mx.array]):
        carry, outputs = rollout(model, batch, segments, segment_fn=compiled)
        _, metrics = act_loss(outputs, carry["labels"], carry["halted"], carry["steps"], cfg.loss)
        mx.eval(carry, outputs, metrics)
        return carry, outputs, metrics

    return run


def evaluate_split(model: ReasoningModel, data_root: str | Path, split: str = "test", batch_size: int = 256,
                   on_batch: Callable[[int, int], None] | None = None,
                   collect: bool = False, dist: Any = None, segments: int | None = None,
                   ) -> tuple[dict[str, float], dict[str, np.ndarray] | None]:
    """Reference metrics over a split; with `collect`, also predictions, q_halt and inputs per row.

    `segments` overrides `halt_max_steps` for every batch (`hrm eval --max-segments`).

    Under data parallelism (`dist`), each process evaluates its slice of every batch and the
    summed metrics are added across processes (`collect` stays per process).
    """
    from hrm_datasets.format import load_metadata
    from hrm_datasets.loader import iter_eval
    from hrm_datasets.validate import check_fits_model

    # ids past the model's embedding table would crash the gather (SIGSEGV), not raise
    check_fits_model(load_metadata(data_root, split), model.config, f"{data_root}/{split}")
    rank, world = (dist.rank, dist.size) if dist is not None else (0, 1)
    run = make_eval_fn(model, segments)
    totals = {k: 0.0 for k in EVAL_KEYS}
    kept: dict[str, list[np.ndarray]] = {"inputs": [], "labels": [], "preds": [], "q_halt": [], "puzzle_identifiers": []}
    seen = 0
    for batch_np, count in iter_eval(data_root, split, batch_size, rank=rank, world_size=world):
        batch = {k: mx.array(v) for k, v in batch_np.items()}
        carry, outputs, metrics = run(batch)
        for k in EVAL_KEYS:
            totals[k] += float(metrics[k].item())
        if collect:
            kept["inputs"].append(batch_np["inputs"][:count])
            kept["labels"].append(batch_np["labels"][:count])
            kept["puzzle_identifiers"].append(batch_np["puzzle_identifiers"][:count])
            kept["preds"].append(np.array(mx.argmax(outputs["logits"], axis=-1))[:count])
            kept["q_halt"].append(np.array(outputs["q_halt_logits"])[:count])
        seen += count
        if on_batch:
            on_batch(seen, count)
    if world > 1:
        summed = dist.all_sum(mx.array([totals[k] for k in EVAL_KEYS]))
        totals = dict(zip(EVAL_KEYS, np.array(summed).tolist()))
    count = max(totals["count"], 1.0)
    result = {k: (totals[k] / count if k != "count" else totals[k]) for k in EVAL_KEYS}
    collected = {k: np.concatenate(v) for k, v in kept.items()} if collect and kept["inputs"] else None
    return result, collected
