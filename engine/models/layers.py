"""The layers HRM and TRM share, as both references define them (sapientinc/HRM models/layers.py, which
TinyRecursiveModels copies): truncated LeCun-normal linears, rotate-half RoPE, bidirectional multi-head
attention with a fused qkv projection, SwiGLU with a width rounded up to 256, RMSNorm without weight, and
the reasoning module (a stack of blocks with input injection) both recursions are built from.
"""

from __future__ import annotations

import math
from typing import Any

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


class Attention(nn.Module):
    """Multi-head attention, fused qkv ([q heads | k heads | v heads]), RoPE, no mask (bidirectional).

    In three steps, `project` (qkv and RoPE), `attend` and `output`, so a variant can replace one.
    """

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.num_heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.use_rope, self.rope_theta, self.causal = cfg.pos_encodings == "rope", cfg.rope_theta, cfg.causal
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv_proj = Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.o_proj = Linear(cfg.hidden_size, cfg.hidden_size)

    def __call__(self, x: mx.array) -> mx.array:
        return self.output(self.attend(*self.project(x)))

    def heads(self, t: mx.array) -> mx.array:
        """[B, L, H * hd] -> [B, H, L, hd]."""
        B, L, _ = t.shape
        return t.reshape(B, L, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def project(self, x: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        """q, k, v as [B, H, L, hd], q and k rotated."""
        # split, not qkv[0]: MLX indexes an axis with an integer through a gather (and a scatter
        # in the backward pass), a strided copy element by element
        q, k, v = (self.heads(t) for t in mx.split(self.qkv_proj(x), 3, axis=-1))
        if self.use_rope:
            q, k = rope(q, self.head_dim, self.rope_theta), rope(k, self.head_dim, self.rope_theta)
        return q, k, v

    def attend(self, q: mx.array, k: mx.array, v: mx.array) -> mx.array:
        """softmax(q k^T / sqrt(hd)) v, [B, H, L, hd]."""
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask="causal" if self.causal else None)

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

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        inter = swiglu_intermediate(cfg.hidden_size, cfg.expansion)
        self.gate_up_proj = Linear(cfg.hidden_size, 2 * inter)
        self.down_proj = Linear(inter, cfg.hidden_size)

    def __call__(self, x: mx.array) -> mx.array:
        gate, up = mx.split(self.gate_up_proj(x), 2, axis=-1)
        return self.down_proj(nn.silu(gate) * up)


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
