"""The Hierarchical Reasoning Model (inner network), top to bottom, as sapientinc/HRM defines it.

Two recurrent modules of post-norm transformer blocks, L (fast) and H (slow), with input
injection by addition. One forward *segment* runs H_cycles x L_cycles updates (the recursion in
base.py); all but the last L and the last H update run under `mx.stop_gradient` (the one-step
gradient), so training memory does not grow with the number of cycles. The ACT wrapper around it
lives in act.py.

Numerics follow the reference (see docs and REFERENCE.md): token embedding x sqrt(D), a
zero-initialised puzzle-embedding prefix, RoPE (theta 10000, rotate-half) over positions that
include the prefix, bidirectional attention, SwiGLU, RMSNorm without weight, truncated
LeCun-normal initialisation, fixed random H_init/L_init. The layers are in layers.py, the
embeddings and heads in base.py, both shared with TRM.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import mlx.core as mx
import mlx.nn as nn

from hrm_engine.cpu.streams import Shards
from hrm_engine.errors import ConfigError
from hrm_engine.models.base import ArchArgs, Cycles, ReasoningModel
from hrm_engine.models.layers import BUILTIN, Attention, Kernels, ReasoningModule, SwiGLU, rms_norm


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

    def __init__(self, cfg: ModelConfig, kernels: Kernels = BUILTIN) -> None:
        super().__init__()
        self.self_attn = Attention(cfg, kernels)
        self.mlp = SwiGLU(cfg, kernels)
        self.eps = cfg.rms_norm_eps

    def __call__(self, h: mx.array) -> mx.array:
        h = rms_norm(h + self.self_attn(h), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)

    def first_position(self, h: mx.array) -> mx.array:
        """The block's output at position 0 alone ([B, 1, D]: its query against every key), all the Q head reads."""
        attn = self.self_attn
        q, k, v = attn.project(h)
        h = rms_norm(h[:, :1] + attn.output(attn.attend(q[:, :, :1], k, v)), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)


class HRM(ReasoningModel):
    """The inner HRM. Trainable: embeddings, heads, H and L levels. Not trained by Adam: the
    puzzle-embedding table (sign-SGD on the rows a batch uses) and H_init/L_init (fixed).

    `kernels` (layers.py) and `shards` (hrm_engine.cpu.streams) are how it computes, chosen by the model
    builder (models/build.py); neither changes what it computes.
    """

    def __init__(self, cfg: ModelConfig, kernels: Kernels = BUILTIN, shards: Shards | None = None) -> None:
        super().__init__()
        self.config = cfg
        self.shards = shards or Shards()
        self.init_embeddings_and_heads(cfg)
        self.H_level = ReasoningModule([Block(cfg, kernels) for _ in range(cfg.H_layers)])
        self.L_level = ReasoningModule([Block(cfg, kernels) for _ in range(cfg.L_layers)])
        self.init_states(cfg)

    def L_update(self, z_L: mx.array, z_H: mx.array, x: mx.array) -> mx.array:
        return self.L_level(z_L, z_H + x)

    def H_update(self, z_H: mx.array, z_L: mx.array) -> mx.array:
        return self.H_level(z_H, z_L)

    def gradient_updates(self, L_cycles: int) -> int:
        """The one-step gradient: through the last L and the last H update only."""
        return 2

    def segment_q(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array,
                  cycles: Cycles | None = None) -> tuple[mx.array, mx.array]:
        """(q_halt, q_continue) of one more segment, without gradient: the Q-learning target.

        The segment as `segment` runs it, except that the last H block computes only the position the Q head
        reads, and no LM head runs (1.2% fewer FLOPs per training step for the Sudoku preset).
        """
        q_halt, q_continue = self.shards.run(partial(self.q_logits, cycles=cycles), z_H, z_L, inputs, puzzle_rows)
        return mx.stop_gradient(q_halt), mx.stop_gradient(q_continue)

    def q_logits(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array,
                 cycles: Cycles | None = None) -> tuple[mx.array, mx.array]:
        """`segment_q` on one shard of rows, before the stop-gradient."""
        x = self.input_embeddings(inputs, puzzle_rows)
        z_H, z_L = self.no_grad_cycles(mx.stop_gradient(z_H), mx.stop_gradient(z_L), mx.stop_gradient(x),
                                       cycles=cycles)
        z_L = self.L_update(z_L, z_H, x)
        h = z_H + z_L  # the H level's input injection, then its blocks
        *first, last = self.H_level.layers
        for layer in first:
            h = layer(h)
        q = self.q_head(last.first_position(h)[:, 0]).astype(mx.float32)
        return q[:, 0], q[:, 1]
