"""The Hierarchical Reasoning Model (inner network), top to bottom, as sapientinc/HRM defines it.

Two recurrent modules of post-norm transformer blocks, L (fast) and H (slow), with input
injection by addition. One forward *segment* runs H_cycles x L_cycles updates; all but the last
L and the last H update run under `mx.stop_gradient` (the one-step gradient), so training memory
does not grow with the number of cycles. The ACT wrapper around it lives in act.py.

Numerics follow the reference (see docs and REFERENCE.md): token embedding x sqrt(D), a
zero-initialised puzzle-embedding prefix, RoPE (theta 10000, rotate-half) over positions that
include the prefix, bidirectional attention, SwiGLU, RMSNorm without weight, truncated
LeCun-normal initialisation, fixed random H_init/L_init. The layers are in layers.py, the
embeddings and heads in base.py, both shared with TRM.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

from hrm_engine.errors import ConfigError
from hrm_engine.models.base import ArchArgs, ReasoningModel
from hrm_engine.models.layers import Attention, ReasoningModule, SwiGLU, rms_norm


@dataclass
class ModelConfig(ArchArgs):
    """HRM's architecture (the reference's config/arch/hrm_v1.yaml defaults) plus the data-dependent sizes."""

    H_layers: int = 4
    L_layers: int = 4
    H_cycles: int = 2
    L_cycles: int = 2
    name: str = "hrm_v1"

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.H_cycles, self.L_cycles, self.H_layers, self.L_layers, self.halt_max_steps) < 1:
            raise ConfigError("arch cycles, layers and halt_max_steps must all be at least 1")

    @property
    def puzzle_emb_len(self) -> int:
        """Prefix positions taken by the puzzle embedding: ceil(puzzle_emb_ndim / hidden_size)."""
        return -(-int(self.puzzle_emb_ndim) // self.hidden_size)



class Block(nn.Module):
    """Post-norm transformer block: h = rms(h + attn(h)); h = rms(h + mlp(h))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = SwiGLU(cfg)
        self.eps = cfg.rms_norm_eps

    def __call__(self, h: mx.array) -> mx.array:
        h = rms_norm(h + self.self_attn(h), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)


class HRM(ReasoningModel):
    """The inner HRM. Trainable: embeddings, heads, H and L levels. Not trained by Adam: the
    puzzle-embedding table (sign-SGD on the rows a batch uses) and H_init/L_init (fixed)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.init_embeddings_and_heads(cfg)
        self.H_level = ReasoningModule([Block(cfg) for _ in range(cfg.H_layers)])
        self.L_level = ReasoningModule([Block(cfg) for _ in range(cfg.L_layers)])
        self.init_states(cfg)

    def segment(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array
                ) -> tuple[mx.array, mx.array, mx.array, mx.array, mx.array]:
        """One forward segment: H_cycles x L_cycles updates, gradient through the last L and H call only.

        Returns (z_H, z_L) detached for the carry, logits [B, S, V], q_halt and q_continue [B] (float32).
        """
        x = self.input_embeddings(inputs, puzzle_rows)
        z_H, z_L = self.no_grad_cycles(mx.stop_gradient(z_H), mx.stop_gradient(z_L), mx.stop_gradient(x))
        return self.gradient_cycle(z_H, z_L, x)

    def segment_q(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array
                  ) -> tuple[mx.array, mx.array]:
        """(q_halt, q_continue) of one more segment, without gradient: the Q-learning target."""
        out = self.segment(z_H, z_L, inputs, puzzle_rows)
        return mx.stop_gradient(out[3]), mx.stop_gradient(out[4])

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

    def gradient_cycle(self, z_H: mx.array, z_L: mx.array, x: mx.array
                       ) -> tuple[mx.array, mx.array, mx.array, mx.array, mx.array]:
        """The last L and H update and the heads: the one-step gradient flows through these alone."""
        z_L = self.L_level(z_L, z_H + x)
        z_H = self.H_level(z_H, z_L)
        logits, q_halt, q_continue = self.heads(z_H)
        return mx.stop_gradient(z_H), mx.stop_gradient(z_L), logits, q_halt, q_continue
