"""The Hierarchical Reasoning Model (inner network), top to bottom, as sapientinc/HRM defines it.

Two recurrent modules of post-norm transformer blocks, L (fast) and H (slow), with input
injection by addition. One forward *segment* runs H_cycles x L_cycles updates; all but the last
L and the last H update run under `mx.stop_gradient` (the one-step gradient), so training memory
does not grow with the number of cycles. The ACT wrapper around it lives in act.py.

Numerics follow the reference (see docs and REFERENCE.md): token embedding x sqrt(D), a
zero-initialised puzzle-embedding prefix, RoPE (theta 10000, rotate-half) over positions that
include the prefix, bidirectional attention, SwiGLU, RMSNorm without weight, truncated
LeCun-normal initialisation, fixed random H_init/L_init.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Callable

import mlx.core as mx
import mlx.nn as nn

from hrm_engine import cpu_math
from hrm_engine.errors import ConfigError

TRUNC_STD_FACTOR = 1.1368472  # std of N(0,1) truncated to [-2, 2] is 1/1.1368472


def trunc_normal(shape: tuple[int, ...], std: float, dtype: mx.Dtype = mx.float32) -> mx.array:
    """N(0,1) truncated to +-2, rescaled so the *true* std is `std` (the reference's trunc_normal_init_)."""
    if std == 0:
        return mx.zeros(shape, dtype=dtype)
    return (mx.random.truncated_normal(-2.0, 2.0, shape) * (TRUNC_STD_FACTOR * std)).astype(dtype)


@dataclass
class ModelConfig:
    """Architecture plus the data-dependent sizes (`pretrain.py` injects these from dataset.json)."""

    seq_len: int
    vocab_size: int
    num_puzzle_identifiers: int
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    H_layers: int = 4
    L_layers: int = 4
    H_cycles: int = 2
    L_cycles: int = 2
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    puzzle_emb_ndim: int | None = None
    pos_encodings: str = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    loss: str = "stablemax_cross_entropy"
    forward_dtype: str = "float32"
    causal: bool = False
    name: str = "hrm_v1"

    def __post_init__(self) -> None:
        if self.puzzle_emb_ndim is None:
            self.puzzle_emb_ndim = self.hidden_size
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"arch.hidden_size={self.hidden_size} must be a multiple of arch.num_heads={self.num_heads}")
        if self.pos_encodings not in ("rope", "learned"):
            raise ConfigError(f"arch.pos_encodings must be rope or learned, got {self.pos_encodings!r}")
        if self.loss not in ("stablemax_cross_entropy", "softmax_cross_entropy"):
            raise ConfigError(f"arch.loss must be stablemax_cross_entropy or softmax_cross_entropy, got {self.loss!r}")
        if self.puzzle_emb_ndim <= 0:
            raise ConfigError("arch.puzzle_emb_ndim must be positive (the reference requires a puzzle embedding)")
        if min(self.H_cycles, self.L_cycles, self.H_layers, self.L_layers, self.halt_max_steps) < 1:
            raise ConfigError("arch cycles, layers and halt_max_steps must all be at least 1")

    @classmethod
    def from_config(cls, config: dict[str, Any], metadata: Any, forward_dtype: str | None = None) -> "ModelConfig":
        """Build from a resolved config dict (its `arch` section) and a DatasetMetadata."""
        arch = dict(config.get("arch", config))
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in arch.items() if k in known}
        kwargs.update(
            seq_len=int(metadata.seq_len),
            vocab_size=int(metadata.vocab_size),
            num_puzzle_identifiers=int(metadata.num_puzzle_identifiers),
        )
        kwargs["forward_dtype"] = forward_dtype or resolve_dtype(kwargs.get("forward_dtype", "auto"))
        return cls(**kwargs)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def puzzle_emb_len(self) -> int:
        """Prefix positions taken by the puzzle embedding: ceil(puzzle_emb_ndim / hidden_size)."""
        return -(-int(self.puzzle_emb_ndim) // self.hidden_size)

    @property
    def total_len(self) -> int:
        return self.seq_len + self.puzzle_emb_len

    @property
    def dtype(self) -> mx.Dtype:
        return getattr(mx, self.forward_dtype)


def resolve_dtype(name: str) -> str:
    """`auto`: bfloat16 on a GPU, float32 on the CPU (faster here: no bf16 matmul kernels in the CPU BLAS)."""
    if name != "auto":
        if name not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"arch.forward_dtype must be auto, float32, bfloat16 or float16, got {name!r}")
        return name
    return "bfloat16" if mx.default_device() == mx.gpu else "float32"


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


class Attention(nn.Module):
    """Multi-head attention, fused qkv ([q heads | k heads | v heads]), RoPE, no mask (bidirectional)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.num_heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.use_rope, self.rope_theta, self.causal = cfg.pos_encodings == "rope", cfg.rope_theta, cfg.causal
        self.qkv_proj = Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.o_proj = Linear(cfg.hidden_size, cfg.hidden_size)

    def __call__(self, x: mx.array, query_rows: int | None = None) -> mx.array:
        """Attention output for every position, or for the first `query_rows` only (keys: all)."""
        B, L, _ = x.shape
        # split, not qkv[0]: MLX indexes an axis with an integer through a gather (and a scatter
        # in the backward pass), a strided copy element by element
        parts = mx.split(self.qkv_proj(x), 3, axis=-1)

        def heads(t: mx.array) -> mx.array:  # [B, L, H * hd] -> [B, H, L, hd]
            return t.reshape(B, L, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

        fused = self.__dict__.get("_cpu_math")
        if self.use_rope and fused:  # rotation and head layout in one fused kernel
            q, k = (cpu_math.rope_heads(t.astype(mx.float32), self.num_heads, self.head_dim, self.rope_theta)
                    .astype(x.dtype) for t in parts[:2])
            v = heads(parts[2])
        else:
            q, k, v = (heads(t) for t in parts)
            if self.use_rope:  # in float32, as the reference
                q, k = (mx.fast.rope(t.astype(mx.float32), self.head_dim, traditional=False, base=self.rope_theta,
                                     scale=1.0, offset=0).astype(x.dtype) for t in (q, k))
        scale = 1.0 / math.sqrt(self.head_dim)
        mask = "causal" if self.causal else None
        if query_rows is not None:
            if self.causal:  # MLX's "causal" aligns a short query block to the end; row i is position i
                mask = mx.arange(query_rows)[:, None] >= mx.arange(L)[None, :]
            q, L = q[:, :, :query_rows], query_rows
        if fused:
            out = cpu_math.attention(q, k, v, scale, causal=self.causal)
        else:
            out = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, -1))


def swiglu_intermediate(hidden_size: int, expansion: float) -> int:
    """round(expansion * D * 2/3) rounded up to a multiple of 256 (1365 -> 1536 for D=512)."""
    inter = round(expansion * hidden_size * 2 / 3)
    return -(-inter // 256) * 256


class SwiGLU(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        inter = swiglu_intermediate(cfg.hidden_size, cfg.expansion)
        self.gate_up_proj = Linear(cfg.hidden_size, 2 * inter)
        self.down_proj = Linear(inter, cfg.hidden_size)

    def __call__(self, x: mx.array) -> mx.array:
        gate, up = mx.split(self.gate_up_proj(x), 2, axis=-1)
        act = cpu_math.silu(gate) if self.__dict__.get("_cpu_math") else nn.silu(gate)
        return self.down_proj(act * up)


class Block(nn.Module):
    """Post-norm transformer block: h = rms(h + attn(h)); h = rms(h + mlp(h))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = SwiGLU(cfg)
        self.eps = cfg.rms_norm_eps

    def __call__(self, h: mx.array, query_rows: int | None = None) -> mx.array:
        """All positions, or only the first `query_rows` of the output (each still attends to all)."""
        attn = self.self_attn(h, query_rows)
        if query_rows is not None:
            h = h[:, :query_rows]
        h = rms_norm(h + attn, self.eps)
        return rms_norm(h + self.mlp(h), self.eps)


class ReasoningModule(nn.Module):
    """A stack of blocks with input injection by addition; no final norm."""

    def __init__(self, cfg: ModelConfig, num_layers: int) -> None:
        super().__init__()
        self.layers = [Block(cfg) for _ in range(num_layers)]

    def __call__(self, z: mx.array, injection: mx.array, query_rows: int | None = None) -> mx.array:
        """`query_rows`: the last block computes only the first rows (all a halting head reads)."""
        z = z + injection
        for i, layer in enumerate(self.layers):
            z = layer(z, query_rows if i == len(self.layers) - 1 else None)
        return z


class HRM(nn.Module):
    """The inner HRM. Trainable: embeddings, heads, H and L levels. Not trained by Adam: the
    puzzle-embedding table (sign-SGD on the rows a batch uses) and H_init/L_init (fixed)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        D = cfg.hidden_size
        self.embed_scale = math.sqrt(D)
        self.embed_tokens = nn.Embedding(cfg.vocab_size, D)
        self.embed_tokens.weight = trunc_normal((cfg.vocab_size, D), std=1.0 / self.embed_scale)
        self.lm_head = Linear(D, cfg.vocab_size)
        self.q_head = Linear(D, 2, bias=True)
        self.q_head.weight = mx.zeros((2, D))
        self.q_head.bias = mx.full((2,), -5.0)
        if cfg.pos_encodings == "learned":
            self.embed_pos = trunc_normal((cfg.total_len, D), std=1.0 / self.embed_scale)
        self.H_level = ReasoningModule(cfg, cfg.H_layers)
        self.L_level = ReasoningModule(cfg, cfg.L_layers)
        # Fixed random initial states and the sparse puzzle-embedding table: not Adam parameters.
        self.H_init = trunc_normal((D,), std=1.0, dtype=cfg.dtype)
        self.L_init = trunc_normal((D,), std=1.0, dtype=cfg.dtype)
        self.puzzle_emb = mx.zeros((cfg.num_puzzle_identifiers, int(cfg.puzzle_emb_ndim)))
        self.freeze(keys=["H_init", "L_init", "puzzle_emb"], recurse=False)
        configure_cpu_math(self, "auto")

    # -- the segment -------------------------------------------------------------------------
    def input_embeddings(self, inputs: mx.array, puzzle_rows: mx.array) -> mx.array:
        """Token embeddings with the puzzle-embedding prefix, x sqrt(D). `puzzle_rows` is [B, ndim]."""
        cfg, dtype = self.config, self.config.dtype
        emb = self.embed_tokens.weight.astype(dtype)[inputs]
        B, P, D = inputs.shape[0], cfg.puzzle_emb_len, cfg.hidden_size
        pad = P * D - puzzle_rows.shape[-1]
        prefix = mx.pad(puzzle_rows, [(0, 0), (0, pad)]) if pad > 0 else puzzle_rows
        emb = mx.concatenate([prefix.astype(dtype).reshape(B, P, D), emb], axis=1)
        if cfg.pos_encodings == "learned":
            emb = 0.707106781 * (emb + self.embed_pos.astype(dtype))
        return self.embed_scale * emb

    def use_cpu_streams(self, n: int) -> None:
        """Run segments as `n` batch shards, each on its own CPU stream (1: off).

        MLX runs each CPU stream's elementwise ops, softmax and attention on one thread; with the
        batch split across streams (and the BLAS at one thread per stream) every core works all the
        time: 1.6x faster per segment on 2 cores for the Sudoku preset. Rows are independent, so
        the results are those of the unsplit batch.
        """
        streams = [mx.new_stream(mx.cpu) for _ in range(n)] if n > 1 else []
        object.__setattr__(self, "_cpu_streams", streams)  # not a parameter: bypass nn.Module's dict

    def segment_q(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array
                  ) -> tuple[mx.array, mx.array]:
        """(q_halt, q_continue) of one more segment, without gradient: the Q-learning target.

        Same result as `segment`, but the last H block computes only the first position, the
        one the Q-head reads, and there is no LM head: 1.2% fewer FLOPs per training step.
        """
        out = self.segment(z_H, z_L, inputs, puzzle_rows, q_only=True)
        return mx.stop_gradient(out[3]), mx.stop_gradient(out[4])

    def segment(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array, q_only: bool = False
                ) -> tuple[mx.array, mx.array, mx.array, mx.array, mx.array]:
        """One forward segment: H_cycles x L_cycles updates, gradient through the last L and H call only.

        Returns (z_H, z_L) detached for the carry, logits [B, S, V], q_halt and q_continue [B] (float32).
        """
        return self.over_streams(lambda *a: self._segment(*a, q_only), z_H, z_L, inputs, puzzle_rows)

    def over_streams(self, fn: Callable[..., tuple[mx.array, ...]], *batch: mx.array) -> tuple[mx.array, ...]:
        """`fn(*batch)`, or `fn` on batch shards each on its own CPU stream, concatenated (`use_cpu_streams`)."""
        streams = self.__dict__.get("_cpu_streams") or []
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

    def _segment(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array, q_only: bool = False
                 ) -> tuple[mx.array, mx.array, mx.array, mx.array, mx.array]:
        x = self.input_embeddings(inputs, puzzle_rows)
        z_H, z_L = self.no_grad_cycles(mx.stop_gradient(z_H), mx.stop_gradient(z_L), mx.stop_gradient(x))
        return self.gradient_cycle(z_H, z_L, x, q_only)

    def no_grad_cycles(self, z_H: mx.array, z_L: mx.array, x: mx.array) -> tuple[mx.array, mx.array]:
        """Every L and H update of a segment but the last of each, without gradient (hierarchical convergence)."""
        cfg = self.config
        for h in range(cfg.H_cycles):
            for l_step in range(cfg.L_cycles):
                if not (h == cfg.H_cycles - 1 and l_step == cfg.L_cycles - 1):
                    z_L = mx.stop_gradient(self.L_level(z_L, z_H + x))
            if h != cfg.H_cycles - 1:
                z_H = mx.stop_gradient(self.H_level(z_H, z_L))
        return z_H, z_L

    def gradient_cycle(self, z_H: mx.array, z_L: mx.array, x: mx.array, q_only: bool = False
                       ) -> tuple[mx.array, mx.array, mx.array, mx.array, mx.array]:
        """The last L and H update and the heads: the one-step gradient flows through these alone."""
        cfg = self.config
        z_L = self.L_level(z_L, z_H + x)
        if q_only:  # no carry, no logits: only the Q-head's position
            q = self.q_head(self.H_level(z_H, z_L, query_rows=1)[:, 0]).astype(mx.float32)
            empty = mx.zeros((0,), dtype=mx.float32)
            return empty, empty, empty, q[:, 0], q[:, 1]
        z_H = self.H_level(z_H, z_L)
        logits = self.lm_head(z_H)[:, cfg.puzzle_emb_len:]
        q = self.q_head(z_H[:, 0]).astype(mx.float32)
        return mx.stop_gradient(z_H), mx.stop_gradient(z_L), logits, q[:, 0], q[:, 1]


def configure_cpu_streams(model: HRM, setting: Any = "auto") -> int:
    """Apply the `cpu_streams` config (auto = one stream per core, at most 8) on the CPU; returns n."""
    import os

    from hrm_engine import blas

    if mx.default_device() != mx.cpu:
        n = 1
    elif setting in (None, "auto"):
        n = min(os.cpu_count() or 1, 8)
    else:
        n = max(1, int(setting))
    if n > 1:
        blas.set_threads(1)  # one BLAS thread per stream: the streams are the parallelism
    model.use_cpu_streams(n)
    return n


def configure_cpu_math(model: nn.Module, setting: Any = "auto") -> bool:
    """Apply the `cpu_math` config: hrm's JIT-vectorisable SiLU and attention (engine/cpu_math.py)
    instead of MLX's built-in kernels. auto = on when computing on the CPU. Returns whether on."""
    if setting in (None, "auto"):
        on = mx.default_device() == mx.cpu
    elif setting in ("fused", True):
        on = True
    elif setting in ("builtin", False):
        on = False
    else:
        raise ConfigError(f"cpu_math must be auto, fused or builtin, got {setting!r}")
    for _, module in model.named_modules():
        if isinstance(module, (Attention, SwiGLU)):
            object.__setattr__(module, "_cpu_math", on)  # not a parameter: bypass nn.Module's dict
    return on


def count_parameters(model: HRM) -> int:
    """Trainable parameters as the reference counts them (no puzzle table, no H_init/L_init)."""
    from mlx.utils import tree_flatten

    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
