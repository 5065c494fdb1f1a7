"""The Tiny Recursive Model (inner network), as SamsungSAILMontreal/TinyRecursiveModels @ e7b6871 defines it.

One small network `L_level` serves both recursions: the latent answer-reasoning state z_L is refined
L_cycles times from (z_H + x), then the answer state z_H from z_L:

    repeat H_cycles:  { repeat L_cycles: z_L <- net(z_L, z_H + x);   z_H <- net(z_H, z_L) }

The first H_cycles - 1 cycles run without gradient; the last one with gradient through all its
L_cycles + 1 calls (HRM keeps only the last L and H call). The carry leaves a segment detached, so
deep supervision (one optimizer step per segment, ACT in act.py) never backpropagates across segments.

Layers are HRM's (engine/model.py), identical in TRM's models/layers.py: truncated LeCun-normal
linears without bias, rotate-half RoPE, bidirectional attention, SwiGLU with a width rounded up to 256,
RMSNorm without weight in float32, post-norm blocks, no final norm. What differs from HRM:

- one `L_level` (TRM ignores `H_layers`); `puzzle_emb_len` prefix positions (16 in TRM's config) instead
  of ceil(puzzle_emb_ndim / hidden) (used only when puzzle_emb_len is 0); the puzzle row is zero-padded;
- `mlp_t`: the attention sub-layer is replaced by a SwiGLU over the *position* axis (width
  seq_len + puzzle_emb_len), and its post-norm normalises over positions too (TRM transposes to
  (B, D, L), adds, normalises the last axis, transposes back);
- `pos_encodings: none` is allowed (TRM's Sudoku recipe with mlp_t);
- halting from q_halt alone when `no_ACT_continue` (act.py reads the flag from this config).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from hrm_engine.errors import ConfigError
from hrm_engine.model import Attention, Linear, SwiGLU, resolve_dtype, rms_norm, trunc_normal


@dataclass
class TRMConfig:
    """TRM's architecture (config/arch/trm.yaml defaults) plus the data-dependent sizes."""

    seq_len: int
    vocab_size: int
    num_puzzle_identifiers: int
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    H_layers: int = 0  # ignored, as in TRM: one network, L_layers blocks
    L_layers: int = 2
    H_cycles: int = 3
    L_cycles: int = 6
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    puzzle_emb_ndim: int | None = None
    puzzle_emb_len: int | None = 16  # prefix positions; 0 = ceil(puzzle_emb_ndim / hidden_size), resolved at init
    pos_encodings: str = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    loss: str = "stablemax_cross_entropy"
    forward_dtype: str = "float32"
    mlp_t: bool = False
    no_ACT_continue: bool = True
    causal: bool = False  # TRM's blocks are always bidirectional; kept for the shared Attention layer
    name: str = "trm"

    def __post_init__(self) -> None:
        if self.puzzle_emb_ndim is None:
            self.puzzle_emb_ndim = self.hidden_size
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"arch.hidden_size={self.hidden_size} must be a multiple of arch.num_heads={self.num_heads}")
        if self.pos_encodings not in ("rope", "learned", "none"):
            raise ConfigError(f"arch.pos_encodings must be rope, learned or none, got {self.pos_encodings!r}")
        if self.loss not in ("stablemax_cross_entropy", "softmax_cross_entropy"):
            raise ConfigError(f"arch.loss must be stablemax_cross_entropy or softmax_cross_entropy, got {self.loss!r}")
        if self.puzzle_emb_ndim <= 0:
            raise ConfigError("arch.puzzle_emb_ndim must be positive (hrm always trains a puzzle embedding)")
        if self.puzzle_emb_len is None:  # unset in the config: TRM's default
            self.puzzle_emb_len = 16
        if self.puzzle_emb_len == 0:  # TRM's rule: 0 means ceil(puzzle_emb_ndim / hidden_size)
            self.puzzle_emb_len = -(-int(self.puzzle_emb_ndim) // self.hidden_size)
        if self.puzzle_emb_len < 0 or self.puzzle_emb_len * self.hidden_size < self.puzzle_emb_ndim:
            raise ConfigError(f"arch.puzzle_emb_len={self.puzzle_emb_len} positions cannot hold puzzle_emb_ndim="
                              f"{self.puzzle_emb_ndim} (at least ceil(ndim / hidden_size), or 0 for that)")
        if min(self.H_cycles, self.L_cycles, self.L_layers, self.halt_max_steps) < 1:
            raise ConfigError("arch cycles, L_layers and halt_max_steps must all be at least 1")

    @classmethod
    def from_config(cls, config: dict[str, Any], metadata: Any, forward_dtype: str | None = None) -> "TRMConfig":
        """Build from a resolved config dict (its `arch` section) and a DatasetMetadata."""
        arch = dict(config.get("arch", config))
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in arch.items() if k in known}
        kwargs.update(seq_len=int(metadata.seq_len), vocab_size=int(metadata.vocab_size),
                      num_puzzle_identifiers=int(metadata.num_puzzle_identifiers))
        kwargs["forward_dtype"] = forward_dtype or resolve_dtype(kwargs.get("forward_dtype", "auto"))
        return cls(**kwargs)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def total_len(self) -> int:
        return self.seq_len + self.puzzle_emb_len

    @property
    def dtype(self) -> mx.Dtype:
        return getattr(mx, self.forward_dtype)


class Block(nn.Module):
    """Post-norm block: token mixing (attention, or mlp_t over positions), then a SwiGLU over features."""

    def __init__(self, cfg: TRMConfig) -> None:
        super().__init__()
        self.mixes_positions = cfg.mlp_t
        if cfg.mlp_t:  # HRM's SwiGLU with the position count as its width
            self.mlp_t = SwiGLU(SimpleNamespace(hidden_size=cfg.total_len, expansion=cfg.expansion))
        else:
            self.self_attn = Attention(cfg)
        self.mlp = SwiGLU(cfg)
        self.eps = cfg.rms_norm_eps

    def __call__(self, h: mx.array) -> mx.array:
        if self.mixes_positions:
            t = h.swapaxes(1, 2)  # (B, D, L): mix and normalise over positions
            h = rms_norm(t + self.mlp_t(t), self.eps).swapaxes(1, 2)
        else:
            h = rms_norm(h + self.self_attn(h), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)


class ReasoningModule(nn.Module):
    """The one network: blocks over (state + injection), no final norm."""

    def __init__(self, cfg: TRMConfig) -> None:
        super().__init__()
        self.layers = [Block(cfg) for _ in range(cfg.L_layers)]

    def __call__(self, z: mx.array, injection: mx.array) -> mx.array:
        z = z + injection
        for layer in self.layers:
            z = layer(z)
        return z


class TRM(nn.Module):
    """The inner TRM. Trainable: embeddings, heads, the network. Not trained by Adam: the puzzle-embedding
    table (sign-SGD on the rows a batch uses) and the fixed random H_init/L_init.

    Same interface as engine/model.py's HRM (`segment`, `segment_q`, `H_init`, `L_init`, `puzzle_emb`,
    `config.total_len`), so one ACT wrapper, loss, trainer and rollout serve both.
    """

    def __init__(self, cfg: TRMConfig) -> None:
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
        self.L_level = ReasoningModule(cfg)
        self.H_init = trunc_normal((D,), std=1.0, dtype=cfg.dtype)
        self.L_init = trunc_normal((D,), std=1.0, dtype=cfg.dtype)
        self.puzzle_emb = mx.zeros((cfg.num_puzzle_identifiers, int(cfg.puzzle_emb_ndim)))
        self.freeze(keys=["H_init", "L_init", "puzzle_emb"], recurse=False)

    def input_embeddings(self, inputs: mx.array, puzzle_rows: mx.array) -> mx.array:
        """Token embeddings after the zero-padded puzzle prefix, x sqrt(D). `puzzle_rows` is [B, ndim]."""
        cfg, dtype = self.config, self.config.dtype
        emb = self.embed_tokens.weight.astype(dtype)[inputs]
        B, P, D = inputs.shape[0], cfg.puzzle_emb_len, cfg.hidden_size
        pad = P * D - puzzle_rows.shape[-1]
        prefix = mx.pad(puzzle_rows, [(0, 0), (0, pad)]) if pad > 0 else puzzle_rows
        emb = mx.concatenate([prefix.astype(dtype).reshape(B, P, D), emb], axis=1)
        if cfg.pos_encodings == "learned":
            emb = 0.707106781 * (emb + self.embed_pos.astype(dtype))
        return self.embed_scale * emb

    def cycle(self, z_H: mx.array, z_L: mx.array, x: mx.array) -> tuple[mx.array, mx.array]:
        """One H cycle: L_cycles latent updates from (z_H + x), then the answer update from z_L."""
        for _ in range(self.config.L_cycles):
            z_L = self.L_level(z_L, z_H + x)
        return self.L_level(z_H, z_L), z_L

    def segment(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array
                ) -> tuple[mx.array, mx.array, mx.array, mx.array, mx.array]:
        """One deep-supervision segment: H_cycles - 1 cycles without gradient, one with.

        Returns (z_H, z_L) detached for the carry, logits [B, S, V], q_halt and q_continue [B] (float32).
        """
        cfg = self.config
        x = self.input_embeddings(inputs, puzzle_rows)
        if cfg.H_cycles > 1:
            z_H, z_L, x_ng = mx.stop_gradient(z_H), mx.stop_gradient(z_L), mx.stop_gradient(x)
            for _ in range(cfg.H_cycles - 1):
                z_H, z_L = self.cycle(z_H, z_L, x_ng)
            z_H, z_L = mx.stop_gradient(z_H), mx.stop_gradient(z_L)
        z_H, z_L = self.cycle(z_H, z_L, x)
        logits = self.lm_head(z_H)[:, cfg.puzzle_emb_len:]
        q = self.q_head(z_H[:, 0]).astype(mx.float32)  # the first prefix position
        return mx.stop_gradient(z_H), mx.stop_gradient(z_L), logits, q[:, 0], q[:, 1]

    def segment_q(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array
                  ) -> tuple[mx.array, mx.array]:
        """(q_halt, q_continue) of one more segment without gradient: the Q target when no_ACT_continue is off."""
        out = self.segment(z_H, z_L, inputs, puzzle_rows)
        return mx.stop_gradient(out[3]), mx.stop_gradient(out[4])
