"""Optimizers of the reference, on MLX's optimizer API (no `adam-atan2` package to build).

- `AdamAtan2`: imoneoi/adam-atan2 as the reference installs it, per element from t = 1:
      p <- p * (1 - lr * wd)                      (decoupled weight decay)
      m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
      p <- p - lr / (1 - b1^t) * atan2(m, sqrt(v) / sqrt(1 - b2^t))
  No epsilon: atan2 is bounded and well defined at v = 0.
- `sparse_sign_sgd`: the puzzle-embedding update. Only the rows a batch used move; gradients of
  duplicate ids are summed first: w <- w (1 - lr * wd) - lr * sign(G).
- `atan2_nonneg`: atan2(y, x) for x >= 0 in plain elementwise ops (Cephes' atanf polynomial):
  MLX's CPU arctan2 calls libm per element (1.1 s for the Sudoku preset's 27M parameters on
  one core); this fuses into the compiled update and vectorises (see cpu/jit.py).
- `Muon` and `network_optimizer`: a recipe option, not the reference's (`optimizer: muon`): Muon
  (Jordan et al. 2024, kellerjordan.github.io/posts/muon) on the recurrent blocks' matrices, Adam-atan2 on
  the rest (embeddings, heads, biases), as Muon's authors advise.
- `lr_schedule`: linear warm-up, then cosine decay to `lr_min_ratio`; the step is counted from 1. The
  same formula runs on MLX arrays (inside the compiled step) and on Python numbers (for logging).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import mlx.core as mx
from mlx.optimizers import MultiOptimizer, Optimizer


class LRSchedule:
    """lr(step): warm-up then cosine, for MLX's scheduler hook (an MLX step count, 0 first) and, through
    `at`, for a Python int, so the training loop can log the rate without waiting for the device."""

    def __init__(self, base_lr: float, warmup_steps: int, total_steps: int, min_ratio: float) -> None:
        self.base_lr, self.warmup_steps = float(base_lr), int(warmup_steps)
        self.total_steps, self.min_ratio = int(total_steps), float(min_ratio)

    def __call__(self, step: mx.array) -> mx.array:
        s = step.astype(mx.float32) + 1.0  # the reference increments before computing
        return mx.where(s < self.warmup_steps, self._warm(s), self._cosine(s, mx.cos, mx.maximum))

    def at(self, step: int) -> float:
        s = float(step) + 1.0
        return self._warm(s) if s < self.warmup_steps else float(self._cosine(s, math.cos, max))

    def _warm(self, s: float | mx.array) -> float | mx.array:
        return self.base_lr * s / max(1, self.warmup_steps)

    def _cosine(self, s: float | mx.array, cos: Callable, maximum: Callable) -> float | mx.array:
        progress = (s - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return self.base_lr * (self.min_ratio + maximum(0.0, (1 - self.min_ratio) * 0.5 * (1.0 + cos(math.pi * progress))))


def lr_schedule(base_lr: float, warmup_steps: int, total_steps: int, min_ratio: float) -> LRSchedule:
    """Linear warm-up, then cosine decay to `min_ratio` of `base_lr` (the reference's schedule)."""
    return LRSchedule(base_lr, warmup_steps, total_steps, min_ratio)


class AdamAtan2(Optimizer):
    """Adam-atan2 with decoupled weight decay (the reference's optimizer for all network weights)."""

    def __init__(self, learning_rate: float | Callable[[mx.array], mx.array], betas: tuple[float, float] = (0.9, 0.95),
                 weight_decay: float = 0.1) -> None:
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.weight_decay = weight_decay

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        lr = self.learning_rate.astype(gradient.dtype)
        b1, b2 = self.betas
        t = self.step.astype(mx.float32)  # already incremented: 1 on the first update
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * mx.square(gradient)
        state["m"], state["v"] = m, v
        bias1 = 1 - mx.power(b1, t)
        bias2 = 1 - mx.power(b2, t)
        p = parameter * (1 - lr * self.weight_decay)
        return p - (lr / bias1) * atan2_nonneg(m, mx.sqrt(v) / mx.sqrt(bias2))


def atan2_nonneg(y: mx.array, x: mx.array) -> mx.array:
    """atan2(y, x) for x >= 0 (here sqrt(v) / sqrt(bias2)), within 3 float32 ulps (1.4e-7 absolute).

    Reduce to t = min(|y|, x) / max(|y|, x) in [0, 1], then past tan(pi/8) to (t - 1) / (t + 1)
    in [-0.414, 0.414], where Cephes' degree-9 odd polynomial is float32-accurate; undo both
    reductions and restore the sign of y. atan2(0, 0) = 0, as libm.
    """
    ay = mx.abs(y)
    hi, lo = mx.maximum(ay, x), mx.minimum(ay, x)
    t = mx.where(hi > 0, lo / mx.where(hi > 0, hi, 1), 0)
    big = t > 0.41421356237309503
    t = mx.where(big, (t - 1) / (t + 1), t)
    z = t * t
    poly = (((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z - 3.33329491539e-1) * z * t + t
    r = mx.where(big, poly + math.pi / 4, poly)
    r = mx.where(ay > x, math.pi / 2 - r, r)
    return mx.where(y < 0, -r, r)


def sparse_sign_sgd(table: mx.array, ids: mx.array, row_grads: mx.array, lr: mx.array, weight_decay: float) -> mx.array:
    """Sign-SGD on the rows `ids` of `table`; duplicate ids have their gradients summed first.

    Static shapes (compile-friendly): G_b = sum over rows b' with the same id of grad_b', then
    every row writes the same updated value for its id, so duplicates agree.
    """
    same = (ids[:, None] == ids[None, :]).astype(row_grads.dtype)
    summed = same @ row_grads
    rows = table[ids]
    updated = rows * (1 - lr * weight_decay) - lr * mx.sign(summed)
    table[ids] = updated.astype(table.dtype)
    return table


def orthogonalize(g: mx.array, steps: int = 5) -> mx.array:
    """Newton-Schulz iteration to the nearest semi-orthogonal matrix (Muon's quintic coefficients), scaled by
    sqrt(max(1, rows / cols)) as the original, so tall and wide matrices move alike per element."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.T if g.shape[0] > g.shape[1] else g
    x = x / (mx.sqrt(mx.sum(mx.square(x))) + 1e-7)
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * (s @ s)) @ x
    x = x.T if g.shape[0] > g.shape[1] else x
    return x * math.sqrt(max(1.0, g.shape[0] / g.shape[1]))


class Muon(Optimizer):
    """Muon: Nesterov momentum, then each matrix's update orthogonalised; decoupled weight decay.

    For 2-D parameters only (`network_optimizer` routes the rest to Adam-atan2). MLX ships a Muon too, but
    without the per-shape scale of the original, which matters for the 512x64 against 64x256 matrices here.
    """

    def __init__(self, learning_rate: float | Callable[[mx.array], mx.array], momentum: float = 0.95,
                 weight_decay: float = 0.0, ns_steps: int = 5) -> None:
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum, self.weight_decay, self.ns_steps = momentum, weight_decay, ns_steps

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["m"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        lr = self.learning_rate.astype(gradient.dtype)
        m = self.momentum * state["m"] + gradient
        state["m"] = m
        update = orthogonalize(gradient + self.momentum * m, self.ns_steps)
        return parameter * (1 - lr * self.weight_decay) - lr * update.astype(parameter.dtype)


def is_block_matrix(path: str, weight: mx.array) -> bool:
    """The recurrent blocks' 2-D weights (`H_level.` / `L_level.`): what Muon is for. Embeddings and the heads
    are not (their rows are looked up or read out one by one)."""
    return weight.ndim == 2 and path.split(".", 1)[0] in ("H_level", "L_level")


def network_optimizer(config: dict[str, Any], total_steps: int) -> tuple[Optimizer, LRSchedule]:
    """The network's optimizer from the config: Adam-atan2 (the references'), or Muon on the block matrices with
    Adam-atan2 on the rest (`optimizer: muon`); both rates follow the same warm-up and cosine."""
    lr_fn = lr_schedule(config["lr"], config["lr_warmup_steps"], total_steps, config["lr_min_ratio"])
    adam = AdamAtan2(lr_fn, betas=(config["beta1"], config["beta2"]), weight_decay=config["weight_decay"])
    if config.get("optimizer", "adam_atan2") != "muon":
        return adam, lr_fn
    muon_fn = lr_schedule(config["muon_lr"], config["lr_warmup_steps"], total_steps, config["lr_min_ratio"])
    muon = Muon(muon_fn, momentum=config["muon_momentum"], weight_decay=config["muon_weight_decay"])
    return MultiOptimizer([muon, adam], [is_block_matrix]), lr_fn
