"""The speed-ups `hrm_engine.cpu.accelerate` applies to a built model, from outside it. None changes what the
model computes (the parity fixtures pass with and without them); docs/cpu-performance.md has the figures.

- `cpu_math` (fused kernels): the shared Attention and SwiGLU layers become FusedAttention and FusedSwiGLU,
  same parameters, same maths through kernels.py's JIT-vectorisable SiLU, softmax and RoPE.
- `cpu_streams`: the model's `segment` and `segment_q` (HRM and TRM) run as batch shards, each on its own
  CPU stream, with the BLAS at one thread per stream. MLX runs each CPU stream's elementwise ops, softmax and
  attention on one thread; with the batch split across streams every core works all the time (1.6x per segment on 2 cores
  for the HRM Sudoku preset; 3.45 -> 4.76 steps/s for trm-tiny on 6x6 Sudoku). Rows are independent, so the
  results are those of the unsplit batch (to the summation order of the BLAS).
- The Q-learning target: HRM's extra no-gradient segment computes only the position the Q head reads in
  its last H block, and no LM head (1.2% fewer FLOPs per training step). Applied on every device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import mlx.core as mx

from hrm_engine.cpu import blas, kernels
from hrm_engine.errors import ConfigError
from hrm_engine.models.hrm import HRM
from hrm_engine.models.layers import Attention, SwiGLU, rms_norm

MAX_STREAMS = 8


class FusedAttention(Attention):
    """Attention with RoPE and the head layout in one fused kernel, and a softmax MLX's CPU JIT vectorises."""

    def project(self, x: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        parts = mx.split(self.qkv_proj(x), 3, axis=-1)
        if not self.use_rope:
            return self.heads(parts[0]), self.heads(parts[1]), self.heads(parts[2])
        q, k = (kernels.rope_heads(t.astype(mx.float32), self.num_heads, self.head_dim, self.rope_theta)
                .astype(x.dtype) for t in parts[:2])
        return q, k, self.heads(parts[2])

    def attend(self, q: mx.array, k: mx.array, v: mx.array) -> mx.array:
        return kernels.attention(q, k, v, self.scale, causal=self.causal)


class FusedSwiGLU(SwiGLU):
    """SwiGLU with kernels.silu (one fusable exp, its own vjp) instead of nn.silu."""

    def __call__(self, x: mx.array) -> mx.array:
        gate, up = mx.split(self.gate_up_proj(x), 2, axis=-1)
        return self.down_proj(kernels.silu(gate) * up)


FUSED = {Attention: FusedAttention, SwiGLU: FusedSwiGLU}
BUILTIN = {fused: plain for plain, fused in FUSED.items()}


@dataclass
class Speedups:
    """What `accelerate` put in effect on one model."""

    streams: int  # batch shards on CPU streams (1: none)
    fused: bool  # kernels.py's SiLU, softmax and RoPE in the shared layers
    q_target: bool  # HRM's short Q-target segment


def use_fused(model: Any, setting: Any = "auto") -> bool:
    """Apply the `cpu_math` setting: auto = fused when computing on the CPU. Returns whether on."""
    if setting in (None, "auto"):
        on = mx.default_device() == mx.cpu
    elif setting in ("fused", True):
        on = True
    elif setting in ("builtin", False):
        on = False
    else:
        raise ConfigError(f"cpu_math must be auto, fused or builtin, got {setting!r}")
    swap = FUSED if on else BUILTIN
    for _, module in model.named_modules():
        if type(module) in swap:
            module.__class__ = swap[type(module)]  # same attributes and parameters, other kernels
    return on


def stream_count(setting: Any = "auto") -> int:
    """The `cpu_streams` setting as a number: auto = one per core (at most 8) on the CPU, 1 on a GPU."""
    if mx.default_device() != mx.cpu:
        return 1
    if setting in (None, "auto"):
        return min(os.cpu_count() or 1, MAX_STREAMS)
    return max(1, int(setting))


def over_streams(model: Any, fn: Callable[..., tuple[mx.array, ...]], *batch: mx.array) -> tuple[mx.array, ...]:
    """`fn(*batch)`, or `fn` on batch shards each on one of the model's CPU streams, concatenated."""
    streams = model.__dict__.get("_cpu_streams") or []
    B = batch[0].shape[0]
    if len(streams) < 2 or B < len(streams):
        return fn(*batch)
    n = len(streams)
    bounds = [B * i // n for i in range(n + 1)]
    parts = []
    for stream, lo, hi in zip(streams, bounds[:-1], bounds[1:]):
        with mx.stream(stream):
            parts.append(fn(*(a[lo:hi] for a in batch)))
    return tuple(mx.concatenate([p[i] for p in parts], axis=0) for i in range(len(parts[0])))


def first_rows_attention(attn: Attention, x: mx.array, rows: int) -> mx.array:
    """The attention output of the first `rows` positions only (their queries against all keys)."""
    q, k, v = attn.project(x)
    q = q[:, :, :rows]
    if attn.causal and not isinstance(attn, FusedAttention):  # MLX's "causal" aligns short queries to the end
        mask = mx.arange(rows)[:, None] >= mx.arange(k.shape[2])[None, :]
        return attn.output(mx.fast.scaled_dot_product_attention(q, k, v, scale=attn.scale, mask=mask))
    return attn.output(attn.attend(q, k, v))


def hrm_q_target(model: HRM, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array
                 ) -> tuple[mx.array, mx.array]:
    """HRM's `segment_q` with its last H block computing only position 0, what the Q head reads; no LM head.
    (q_halt, q_continue) before the stop-gradient, which `accelerate` applies once, after the shards."""
    x = model.input_embeddings(inputs, puzzle_rows)
    z_H, z_L = model.no_grad_cycles(mx.stop_gradient(z_H), mx.stop_gradient(z_L), mx.stop_gradient(x))
    z_L = model.L_level(z_L, z_H + x)
    h = z_H + z_L  # the H level's input injection
    *first, last = model.H_level.layers
    for layer in first:
        h = layer(h)
    h = rms_norm(h[:, :1] + first_rows_attention(last.self_attn, h, 1), last.eps)  # the post-norm Block
    h = rms_norm(h + last.mlp(h), last.eps)
    q = model.q_head(h[:, 0]).astype(mx.float32)
    return q[:, 0], q[:, 1]


def accelerate(model: Any, config: dict[str, Any] | None = None) -> Speedups:
    """Apply `cpu_math` and `cpu_streams` (config keys, default auto) and HRM's short Q target to `model`.

    Idempotent: a second call re-applies from the model's own class, so settings can be changed.
    """
    config = config or {}
    fused = use_fused(model, config.get("cpu_math", "auto"))
    cls = type(model)
    segment: Callable = cls.segment.__get__(model)
    segment_q: Callable = cls.segment_q.__get__(model)
    is_hrm = isinstance(model, HRM)
    if is_hrm:
        segment_q = lambda *a: hrm_q_target(model, *a)  # noqa: E731  (stop_gradient below)
    n = stream_count(config.get("cpu_streams", "auto"))
    streams = [mx.new_stream(mx.cpu) for _ in range(n)] if n > 1 else []
    object.__setattr__(model, "_cpu_streams", streams)  # not a parameter: bypass nn.Module's dict
    if n > 1:
        blas.set_threads(1)  # one BLAS thread per stream: the streams are the parallelism
        plain_segment, plain_q = segment, segment_q
        segment = lambda *a: over_streams(model, plain_segment, *a)  # noqa: E731
        segment_q = lambda *a: over_streams(model, plain_q, *a)  # noqa: E731
    if is_hrm:
        q_logits = segment_q
        segment_q = lambda *a: tuple(mx.stop_gradient(q) for q in q_logits(*a))  # noqa: E731
    object.__setattr__(model, "segment", segment)
    object.__setattr__(model, "segment_q", segment_q)
    return Speedups(streams=max(n, 1), fused=fused, q_target=is_hrm)
