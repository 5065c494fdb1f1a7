"""The layers HRM and TRM share, as both references define them (sapientinc/HRM models/layers.py, which
TinyRecursiveModels copies): truncated LeCun-normal linears, rotate-half RoPE, bidirectional multi-head
attention with a fused qkv projection, SwiGLU with a width rounded up to 256, RMSNorm without weight, and
the reasoning module (a stack of blocks with input injection) both recursions are built from.

Attention and SwiGLU take their `Kernels` at construction: MLX's own (`BUILTIN`, the default) or another
set with the same maths (hrm_engine.cpu.kernels, which the model builder passes on a CPU). The code here
is the code that runs; the builder only chooses which functions it calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import mlx.core as mx
import mlx.nn as nn

TRUNC_STD_FACTOR = 1.1368472  # std of N(0,1) truncated to [-2, 2] is 1/1.1368472


def trunc_normal(shape: tuple[int, ...], std: float, dtype: mx.Dtype = mx.float32) -> mx.array:
    """N(0,1) truncated to +-2, rescaled so the *true* std is `std` (the reference's trunc_normal_init_)."""
    if std == 0:
        return mx.zeros(shape, dtype=dtype)
    return (mx.random.truncated_normal(-2.0, 2.0, shape) * (TRUNC_STD_FACTOR * std)).astype(dtype)


class Linear(nn.Module):
    """A bias-optional linear layer with the reference's truncated LeCun-normal init (std 1/sqrt(in))."""

    def __init__(self, in_dims: int, out_dims: int, bias: bool = False) -> None:
        super().__init__()
        self.weight = trunc_normal((out_dims, in_dims), std=1.0 / math.sqrt(in_dims))
        if bias:
            self.bias = mx.zeros((out_dims,))

    def __call__(self, x: mx.array) -> mx.array:
        w = self.weight.astype(x.dtype)
        if "bias" in self:
            return mx.addmm(self.bias.astype(x.dtype), x, w.T)
        return x @ w.T


def rms_norm(x: mx.array, eps: float) -> mx.array:
    """RMSNorm without a learned scale, computed in float32 and cast back."""
    return mx.fast.rms_norm(x.astype(mx.float32), None, eps).astype(x.dtype)


def rope(t: mx.array, head_dim: int, theta: float) -> mx.array:
    """Rotate-half RoPE over the positions of [B, H, L, hd], in float32 as the reference, cast back."""
    return mx.fast.rope(t.astype(mx.float32), head_dim, traditional=False, base=theta, scale=1.0,
                        offset=0).astype(t.dtype)


def split_heads(t: mx.array, num_heads: int, head_dim: int) -> mx.array:
    """[B, L, H * hd] -> [B, H, L, hd]."""
    B, L, _ = t.shape
    return t.reshape(B, L, num_heads, head_dim).transpose(0, 2, 1, 3)


def rope_heads(t: mx.array, num_heads: int, head_dim: int, theta: float) -> mx.array:
    """[B, L, H * hd] -> [B, H, L, hd], rotated (RoPE)."""
    return rope(split_heads(t, num_heads, head_dim), head_dim, theta)


def attention(q: mx.array, k: mx.array, v: mx.array, scale: float, causal: bool = False) -> mx.array:
    """softmax(q k^T * scale) v, [B, H, L, hd]; causal: query i is position i, also when only the first
    queries are asked for (MLX's "causal" mask would align short queries to the end)."""
    mask = None
    if causal:
        Lq, Lk = q.shape[2], k.shape[2]
        mask = "causal" if Lq == Lk else mx.arange(Lq)[:, None] >= mx.arange(Lk)[None, :]
    return mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)


@dataclass(frozen=True)
class Kernels:
    """The three computations of the shared layers that a device may want done its own way, same maths."""

    silu: Callable[[mx.array], mx.array]  # x * sigmoid(x)
    rope_heads: Callable[[mx.array, int, int, float], mx.array]  # (t, num_heads, head_dim, theta), as above
    attention: Callable[..., mx.array]  # (q, k, v, scale, causal), as above


BUILTIN = Kernels(silu=nn.silu, rope_heads=rope_heads, attention=attention)


class Attention(nn.Module):
    """Multi-head attention, fused qkv ([q heads | k heads | v heads]), RoPE, no mask (bidirectional).

    In three steps, `project` (qkv and RoPE), `attend` and `output`.
    """

    def __init__(self, cfg: Any, kernels: Kernels = BUILTIN) -> None:
        super().__init__()
        self.kernels = kernels
        self.num_heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.use_rope = cfg.pos_encodings in ("rope", "grid")  # grid adds its tables at the input, keeps RoPE
        self.rope_theta, self.causal = cfg.rope_theta, cfg.causal
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv_proj = Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.o_proj = Linear(cfg.hidden_size, cfg.hidden_size)

    def __call__(self, x: mx.array) -> mx.array:
        return self.output(self.attend(*self.project(x)))

    def project(self, x: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        """q, k, v as [B, H, L, hd], q and k rotated."""
        # split, not qkv[0]: MLX indexes an axis with an integer through a gather (and a scatter
        # in the backward pass), a strided copy element by element
        q, k, v = mx.split(self.qkv_proj(x), 3, axis=-1)
        H, hd = self.num_heads, self.head_dim
        if self.use_rope:
            q, k = (self.kernels.rope_heads(t, H, hd, self.rope_theta) for t in (q, k))
        else:
            q, k = split_heads(q, H, hd), split_heads(k, H, hd)
        return q, k, split_heads(v, H, hd)

    def attend(self, q: mx.array, k: mx.array, v: mx.array) -> mx.array:
        """softmax(q k^T / sqrt(hd)) v, [B, H, L, hd]."""
        return self.kernels.attention(q, k, v, self.scale, self.causal)

    def output(self, out: mx.array) -> mx.array:
        """[B, H, L, hd] -> the output projection of the concatenated heads, [B, L, D]."""
        B, _, L, _ = out.shape
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, -1))


def swiglu_intermediate(hidden_size: int, expansion: float) -> int:
    """round(expansion * D * 2/3) rounded up to a multiple of 256 (1365 -> 1536 for D=512)."""
    inter = round(expansion * hidden_size * 2 / 3)
    return -(-inter // 256) * 256


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)), gate and up in one projection. `cfg` needs hidden_size and expansion."""

    def __init__(self, cfg: Any, kernels: Kernels = BUILTIN) -> None:
        super().__init__()
        self.kernels = kernels
        inter = swiglu_intermediate(cfg.hidden_size, cfg.expansion)
        self.gate_up_proj = Linear(cfg.hidden_size, 2 * inter)
        self.down_proj = Linear(inter, cfg.hidden_size)

    def __call__(self, x: mx.array) -> mx.array:
        gate, up = mx.split(self.gate_up_proj(x), 2, axis=-1)
        return self.down_proj(self.kernels.silu(gate) * up)


class ReasoningModule(nn.Module):
    """A stack of blocks with input injection by addition; no final norm."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.layers = blocks

    def __call__(self, z: mx.array, injection: mx.array) -> mx.array:
        z = z + injection
        for layer in self.layers:
            z = layer(z)
        return z
