"""Adaptive computation time around HRM or TRM (HRM's `HierarchicalReasoningModel_ACTV1`, which TRM keeps).

The carry persists across training steps: each call first resets the rows that halted at the
previous call (z_H <- H_init, z_L <- L_init, steps <- 0) and loads fresh examples into them;
rows still running keep their data. After the segment, a row halts at `halt_max_steps` or, in
training, when q_halt > q_continue, subject to exploration (with probability 0.1 a random
minimum of 2..max steps, redrawn every call). The q_continue target comes from one more
no-gradient segment from the new carry (`segment_q`). With `no_ACT_continue` (TRM's default) a row
halts when q_halt > 0 and there is no target segment. Evaluation always runs all `halt_max_steps` segments.

The carry is a plain dict of arrays so it can cross `mx.compile` boundaries and be saved.
"""

from __future__ import annotations

from typing import Callable

import mlx.core as mx

from hrm_engine.models.base import Cycles, ReasoningModel

CARRY_DATA = ("inputs", "labels", "puzzle_identifiers")


def initial_carry(model: ReasoningModel, batch: dict[str, mx.array]) -> dict[str, mx.array]:
    """A carry with every row halted, so the first call loads the whole batch."""
    cfg = model.config
    B = batch["inputs"].shape[0]
    shape = (B, cfg.total_len, cfg.hidden_size)
    carry = {
        "z_H": mx.zeros(shape, dtype=cfg.dtype),
        "z_L": mx.zeros(shape, dtype=cfg.dtype),
        "steps": mx.zeros((B,), dtype=mx.int32),
        "halted": mx.ones((B,), dtype=mx.bool_),
    }
    carry.update({k: mx.zeros_like(mx.array(batch[k])) for k in CARRY_DATA})
    return carry


def reset_halted(model: ReasoningModel, carry: dict[str, mx.array], batch: dict[str, mx.array]) -> dict[str, mx.array]:
    """Halted rows restart from H_init/L_init with the new batch's row; others keep theirs."""
    halted = carry["halted"]
    h3 = halted[:, None, None]
    out = {
        "z_H": mx.where(h3, model.H_init.astype(carry["z_H"].dtype), carry["z_H"]),
        "z_L": mx.where(h3, model.L_init.astype(carry["z_L"].dtype), carry["z_L"]),
        "steps": mx.where(halted, 0, carry["steps"]),
        "halted": halted,
    }
    for k in CARRY_DATA:
        mask = halted.reshape((-1,) + (1,) * (batch[k].ndim - 1))
        out[k] = mx.where(mask, batch[k], carry[k])
    return out


def segment_step(model: ReasoningModel, carry: dict[str, mx.array], puzzle_rows: mx.array, *, training: bool,
                 key: mx.array | None = None, shard: tuple[int, int] = (0, 1),
                 cycles: Cycles | None = None) -> tuple[dict[str, mx.array], dict[str, mx.array]]:
    """One ACT segment on an already-reset carry. Returns (new carry, outputs).

    `puzzle_rows` are the puzzle-embedding rows of the carry's identifiers: the trainer passes
    them explicitly so that their gradient (for sign-SGD) is just another output of autodiff.
    `shard` = (rank, world size) under data parallelism: exploration draws are made for the whole
    global batch and sliced, so N processes make the same decisions as one process would.
    `cycles` = (H_cycles, L_cycles) of a training stage (`cycles_schedule`); None: the arch's.
    """
    cfg = model.config
    z_H, z_L, logits, q_halt, q_continue = model.segment(carry["z_H"], carry["z_L"], carry["inputs"], puzzle_rows,
                                                         cycles)
    outputs = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_continue}

    steps = carry["steps"] + 1
    is_last = steps >= cfg.halt_max_steps
    halted = is_last
    if training and cfg.halt_max_steps > 1:
        qh, qc = mx.stop_gradient(q_halt), mx.stop_gradient(q_continue)
        q_halt_only = getattr(cfg, "no_ACT_continue", False)  # TRM: halt on q_halt > 0, no Q target
        halted = halted | ((qh > 0) if q_halt_only else (qh > qc))
        if key is None:
            raise ValueError("training segments need a PRNG key for exploration")
        k_explore, k_min = mx.random.split(key)
        rank, world = shard
        b = qh.shape[0]
        draw_u = mx.random.uniform(shape=(b * world,), key=k_explore)[rank * b:(rank + 1) * b]
        draw_n = mx.random.randint(2, cfg.halt_max_steps + 1, shape=(b * world,), key=k_min)[rank * b:(rank + 1) * b]
        explore = draw_u < cfg.halt_exploration_prob
        min_steps = explore * draw_n
        halted = halted & (steps >= min_steps)
        if not q_halt_only:  # bootstrapped target: one more segment from the new carry, without gradient
            next_qh, next_qc = model.segment_q(z_H, z_L, carry["inputs"], mx.stop_gradient(puzzle_rows), cycles)
            target = mx.sigmoid(mx.where(is_last, next_qh, mx.maximum(next_qh, next_qc)))
            outputs["target_q_continue"] = mx.stop_gradient(target)

    new_carry = dict(carry)
    new_carry.update(z_H=z_H, z_L=z_L, steps=steps, halted=mx.stop_gradient(halted))
    return new_carry, outputs


def act_step(model: ReasoningModel, carry: dict[str, mx.array], batch: dict[str, mx.array], *, training: bool,
             key: mx.array | None = None) -> tuple[dict[str, mx.array], dict[str, mx.array]]:
    """Reset halted rows, load new data into them, run one segment (the reference's ACT forward)."""
    carry = reset_halted(model, carry, batch)
    rows = model.puzzle_emb[carry["puzzle_identifiers"]]
    return segment_step(model, carry, rows, training=training, key=key)


def rollout(model: ReasoningModel, batch: dict[str, mx.array], segments: int | None = None,
            segment_fn: Callable | None = None,
            on_segment: Callable[[int, dict[str, mx.array], dict[str, mx.array]], None] | None = None,
            ) -> tuple[dict[str, mx.array], dict[str, mx.array]]:
    """Eval-mode segments from a fresh carry: the one rollout that evaluation, solving and traces share.

    `segments` defaults to `halt_max_steps` (what evaluation runs); more lets inference refine longer
    than training did (rows stay halted, nothing resets). `segment_fn(carry, rows)` replaces the
    plain eval segment (evaluation passes a compiled one). `on_segment(s, carry, outputs)` is called
    after segment s (1-based) with evaluated arrays, for per-segment views. Returns the last carry
    and outputs.
    """
    batch = {k: mx.array(v) for k, v in batch.items()}
    carry = reset_halted(model, initial_carry(model, batch), batch)
    rows = model.puzzle_emb[carry["puzzle_identifiers"]]
    step = segment_fn or (lambda c, r: segment_step(model, c, r, training=False))
    outputs: dict[str, mx.array] = {}
    for s in range(segments or model.config.halt_max_steps):
        carry, outputs = step(carry, rows)
        mx.eval(carry, outputs)
        if on_segment is not None:
            on_segment(s + 1, carry, outputs)
    return carry, outputs


def evaluate_batch(model: ReasoningModel, batch: dict[str, mx.array]) -> tuple[dict[str, mx.array], dict[str, mx.array]]:
    """All `halt_max_steps` segments in eval mode from a fresh carry: the last segment's outputs and carry."""
    return rollout(model, batch)
