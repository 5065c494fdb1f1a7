"""Losses and metrics of the reference `ACTLossHead` (models/losses.py).

loss = lm_loss + 0.5 * (q_halt_loss + q_continue_loss), all *summed* over the batch; the
trainer divides by the global batch size. Metrics are sums over rows that halted this segment
and have labels (`count` of them), so callers can aggregate across batches and processes.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

IGNORE_LABEL_ID = -100
METRIC_KEYS = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps",
               "lm_loss", "q_halt_loss", "q_continue_loss")


def log_stablemax(x: mx.array, axis: int = -1) -> mx.array:
    """log(s(x_i) / sum_j s(x_j)), s(x) = x + 1 for x >= 0, 1 / (1 - x) otherwise.

    Each branch sees a clamped input (min(x, 0), max(x, 0)): the unused branch then stays
    finite, so its zero-weighted gradient cannot turn into inf * 0 = NaN (REFERENCE §8).
    """
    x = x.astype(mx.float32)
    s = mx.where(x < 0, 1.0 / (1.0 - mx.minimum(x, 0.0) + 1e-30), mx.maximum(x, 0.0) + 1.0)
    return mx.log(s) - mx.log(mx.sum(s, axis=axis, keepdims=True))


def stablemax_cross_entropy(logits: mx.array, labels: mx.array) -> mx.array:
    """Per-token CE under stablemax; 0 where the label is ignored."""
    valid = labels != IGNORE_LABEL_ID
    logp = log_stablemax(logits)
    picked = mx.take_along_axis(logp, mx.where(valid, labels, 0)[..., None], axis=-1)[..., 0]
    return mx.where(valid, -picked, 0.0)


def softmax_cross_entropy(logits: mx.array, labels: mx.array) -> mx.array:
    valid = labels != IGNORE_LABEL_ID
    ce = nn.losses.cross_entropy(logits.astype(mx.float32), mx.where(valid, labels, 0), reduction="none")
    return mx.where(valid, ce, 0.0)


LOSSES = {"stablemax_cross_entropy": stablemax_cross_entropy, "softmax_cross_entropy": softmax_cross_entropy}


def bce_with_logits(logits: mx.array, targets: mx.array) -> mx.array:
    """Summed binary cross-entropy on logits (numerically stable form)."""
    return mx.sum(mx.maximum(logits, 0) - logits * targets + mx.log1p(mx.exp(-mx.abs(logits))))


def act_loss(outputs: dict[str, mx.array], labels: mx.array, halted: mx.array, steps: mx.array,
             loss_type: str = "stablemax_cross_entropy") -> tuple[mx.array, dict[str, mx.array]]:
    """(summed loss, summed metrics) for one ACT segment; `labels`, `halted`, `steps` from the new carry."""
    logits = outputs["logits"]
    mask = labels != IGNORE_LABEL_ID
    counts = mask.sum(-1)
    divisor = mx.maximum(counts, 1)[:, None].astype(mx.float32)
    is_correct = mx.stop_gradient(mask & (mx.argmax(logits, axis=-1) == labels))
    seq_correct = is_correct.sum(-1) == counts
    valid = halted & (counts > 0)

    lm_loss = (LOSSES[loss_type](logits, labels) / divisor).sum()
    q_halt = outputs["q_halt_logits"]
    q_halt_loss = bce_with_logits(q_halt, seq_correct.astype(mx.float32))
    q_continue_loss = mx.array(0.0)
    if "target_q_continue" in outputs:
        q_continue_loss = bce_with_logits(outputs["q_continue_logits"], outputs["target_q_continue"])
    loss = lm_loss + 0.5 * (q_halt_loss + q_continue_loss)

    metrics = {
        "count": valid.sum(),
        "accuracy": mx.where(valid, (is_correct.astype(mx.float32) / divisor).sum(-1), 0.0).sum(),
        "exact_accuracy": (valid & seq_correct).sum(),
        "q_halt_accuracy": (valid & ((q_halt >= 0) == seq_correct)).sum(),
        "steps": mx.where(valid, steps, 0).sum(),
        "lm_loss": lm_loss,
        "q_halt_loss": q_halt_loss,
        "q_continue_loss": q_continue_loss,
    }
    return loss, {k: mx.stop_gradient(v).astype(mx.float32) for k, v in metrics.items()}
