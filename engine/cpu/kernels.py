"""SiLU, attention and RoPE written so that MLX's CPU JIT can vectorise them.

On the CPU, MLX's built-in softmax (inside `mx.fast.scaled_dot_product_attention`) and
sigmoid (inside `nn.silu`) run one element at a time through precompiled, generic x86-64
code. The same maths written as plain elementwise ops is fused by `mx.compile` into a
kernel compiled for this CPU (see jit.py): measured here per stream at the Sudoku
preset's shapes, softmax 18 -> 5 ms and the SiLU * up vjp 49 -> 6.5 ms. Custom vjps keep the
backward pass short and exact (the autodiff of x / (1 + exp(-x)) is NaN below x = -88).
RoPE goes the same way: MLX's rope on the CPU rotates a strided copy and concatenates the
halves; here the rotation is one fused kernel that reads q (or k) straight out of the qkv
projection and writes it in the [B, H, L, hd] layout the attention matmuls need.

The model builder (models/build.py) hands these to the shared layers as their `Kernels` when `cpu_math`
says so (`use_fused`); on a GPU MLX's built-in kernels stay in use.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx

from hrm_engine.errors import ConfigError


def use_fused(setting: Any = "auto") -> bool:
    """The `cpu_math` setting: auto = these kernels when computing on the CPU, MLX's built-in ones on a GPU."""
    if setting in (None, "auto"):
        return mx.default_device() == mx.cpu
    if setting in ("fused", True):
        return True
    if setting in ("builtin", False):
        return False
    raise ConfigError(f"cpu_math must be auto, fused or builtin, got {setting!r}")


@mx.custom_function
def silu(x: mx.array) -> mx.array:
    """x * sigmoid(x), as x / (1 + exp(-x)): one fusable exp."""
    return x / (1 + mx.exp(-x))


@silu.vjp
def _silu_vjp(x: mx.array, cotangent: mx.array, _out: mx.array) -> tuple[mx.array]:
    s = 1 / (1 + mx.exp(-x))
    return (cotangent * (s * (1 + x * (1 - s))),)


@mx.custom_function
def softmax(scores: mx.array) -> mx.array:
    """Softmax over the last axis (float32 in, float32 out)."""
    e = mx.exp(scores - mx.max(scores, axis=-1, keepdims=True))
    return e * (1 / e.sum(axis=-1, keepdims=True))


@softmax.vjp
def _softmax_vjp(_scores: mx.array, cotangent: mx.array, out: mx.array) -> tuple[mx.array]:
    return (out * (cotangent - (cotangent * out).sum(axis=-1, keepdims=True)),)


def rope_tables(length: int, head_dim: int, base: float) -> tuple[mx.array, mx.array]:
    """cos and signed sin for rotate-half RoPE, shaped [L, 2, hd/2]: halves (x1, x2) become
    (x1 cos - x2 sin, x2 cos + x1 sin), as `mx.fast.rope(traditional=False)`."""
    inv_freq = 1.0 / (base ** (mx.arange(0, head_dim // 2, dtype=mx.float32) * (2.0 / head_dim)))
    angle = mx.arange(length, dtype=mx.float32)[:, None] * inv_freq[None]
    cos, sin = mx.cos(angle), mx.sin(angle)
    return mx.stack([cos, cos], axis=1), mx.stack([-sin, sin], axis=1)


@mx.custom_function
def _rotate(x: mx.array, cos: mx.array, sin: mx.array) -> mx.array:
    # x: [..., L, 2, hd/2]; x[..., ::-1, :] swaps the halves as a view (no copy)
    return x * cos + x[..., ::-1, :] * sin


@_rotate.vjp
def _rotate_vjp(primals: list[mx.array], cotangent: mx.array, _out: mx.array) -> tuple[mx.array, ...]:
    _, cos, sin = primals  # the transpose of a rotation is the rotation by minus the angle
    return cotangent * cos - cotangent[..., ::-1, :] * sin, mx.zeros_like(cos), mx.zeros_like(sin)


def rope_heads(x: mx.array, num_heads: int, head_dim: int, base: float) -> mx.array:
    """[B, L, H * hd] (a view into the qkv projection) -> RoPE-rotated, contiguous [B, H, L, hd], rotated in
    float32 as the reference and cast back to x's dtype."""
    B, L, _ = x.shape
    t = x.astype(mx.float32)
    cos, sin = rope_tables(L, head_dim, base)
    heads = t.reshape(B, L, num_heads, 2, head_dim // 2).transpose(0, 2, 1, 3, 4)
    return _rotate(heads, cos, sin).reshape(B, num_heads, L, head_dim).astype(x.dtype)


def attention(q: mx.array, k: mx.array, v: mx.array, scale: float, causal: bool = False) -> mx.array:
    """softmax(q k^T * scale) v for [B, H, L, hd] inputs, scores and softmax in float32."""
    scores = (q * scale) @ k.swapaxes(-1, -2)
    scores = scores.astype(mx.float32)
    if causal:  # query i is position i (also when only the first queries are asked for)
        keep = mx.arange(scores.shape[-2])[:, None] >= mx.arange(scores.shape[-1])[None, :]
        scores = mx.where(keep, scores, mx.array(-mx.inf, mx.float32))
    return softmax(scores).astype(v.dtype) @ v
