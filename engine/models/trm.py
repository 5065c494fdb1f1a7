"""The Tiny Recursive Model (inner network), as SamsungSAILMontreal/TinyRecursiveModels @ e7b6871 defines it.

One small network `L_level` serves both recursions: the latent answer-reasoning state z_L is refined
L_cycles times from (z_H + x), then the answer state z_H from z_L:

    repeat H_cycles:  { repeat L_cycles: z_L <- net(z_L, z_H + x);   z_H <- net(z_H, z_L) }

The first H_cycles - 1 cycles run without gradient; the last one with gradient through all its
L_cycles + 1 calls (HRM keeps only the last L and H call). The recursion itself is base.py's, shared
with HRM; this file supplies the two updates and the gradient's reach. The carry leaves a segment detached, so
deep supervision (one optimizer step per segment, ACT in act.py) never backpropagates across segments.

Layers are HRM's (layers.py, base.py), identical in TRM's models/layers.py: truncated LeCun-normal
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

from dataclasses import dataclass
from types import SimpleNamespace
from typing import ClassVar

import mlx.core as mx
import mlx.nn as nn

from hrm_engine.cpu.streams import Shards
from hrm_engine.errors import ConfigError
from hrm_engine.models.base import ArchArgs, ReasoningModel
from hrm_engine.models.layers import BUILTIN, Attention, Kernels, ReasoningModule, SwiGLU, rms_norm


@dataclass
class TRMConfig(ArchArgs):
    """TRM's architecture (config/arch/trm.yaml defaults) plus the data-dependent sizes."""

    POS_ENCODINGS: ClassVar[tuple[str, ...]] = ("rope", "learned", "grid", "none")

    H_layers: int = 0  # ignored, as in TRM: one network, L_layers blocks
    L_layers: int = 2
    H_cycles: int = 3
    L_cycles: int = 6
    puzzle_emb_len: int | None = 16  # prefix positions; 0 = ceil(puzzle_emb_ndim / hidden_size), resolved at init
    mlp_t: bool = False
    no_ACT_continue: bool = True
    name: str = "trm"
    # `causal` (from ArchArgs): TRM's blocks are always bidirectional; kept for the shared Attention layer

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.puzzle_emb_len is None:  # unset in the config: TRM's default
            self.puzzle_emb_len = 16
        if self.puzzle_emb_len == 0:  # TRM's rule: 0 means ceil(puzzle_emb_ndim / hidden_size)
            self.puzzle_emb_len = -(-int(self.puzzle_emb_ndim) // self.hidden_size)
        if self.puzzle_emb_len < 0 or self.puzzle_emb_len * self.hidden_size < self.puzzle_emb_ndim:
            raise ConfigError(f"arch.puzzle_emb_len={self.puzzle_emb_len} positions cannot hold puzzle_emb_ndim="
                              f"{self.puzzle_emb_ndim} (at least ceil(ndim / hidden_size), or 0 for that)")
        if min(self.H_cycles, self.L_cycles, self.L_layers, self.halt_max_steps) < 1:
            raise ConfigError("arch cycles, L_layers and halt_max_steps must all be at least 1")


class Block(nn.Module):
    """Post-norm block: token mixing (attention, or mlp_t over positions), then a SwiGLU over features."""

    def __init__(self, cfg: TRMConfig, kernels: Kernels = BUILTIN) -> None:
        super().__init__()
        self.mixes_positions = cfg.mlp_t
        if cfg.mlp_t:  # HRM's SwiGLU with the position count as its width
            self.mlp_t = SwiGLU(SimpleNamespace(hidden_size=cfg.total_len, expansion=cfg.expansion), kernels)
        else:
            self.self_attn = Attention(cfg, kernels)
        self.mlp = SwiGLU(cfg, kernels)
        self.eps = cfg.rms_norm_eps

    def __call__(self, h: mx.array) -> mx.array:
        if self.mixes_positions:
            t = h.swapaxes(1, 2)  # (B, D, L): mix and normalise over positions
            h = rms_norm(t + self.mlp_t(t), self.eps).swapaxes(1, 2)
        else:
            h = rms_norm(h + self.self_attn(h), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)


class TRM(ReasoningModel):
    """The inner TRM. Trainable: embeddings, heads, the network. Not trained by Adam: the puzzle-embedding
    table (sign-SGD on the rows a batch uses) and the fixed random H_init/L_init.

    Same interface as HRM (`segment`, `segment_q`, `H_init`, `L_init`, `puzzle_emb`, `config.total_len`),
    so one ACT wrapper, loss, trainer and rollout serve both. `kernels` and `shards` as HRM's.
    """

    def __init__(self, cfg: TRMConfig, kernels: Kernels = BUILTIN, shards: Shards | None = None) -> None:
        super().__init__()
        self.config = cfg
        self.shards = shards or Shards()
        self.init_embeddings_and_heads(cfg)
        self.L_level = ReasoningModule([Block(cfg, kernels) for _ in range(cfg.L_layers)])  # the one network
        self.init_states(cfg)

    def L_update(self, z_L: mx.array, z_H: mx.array, x: mx.array) -> mx.array:
        return self.L_level(z_L, z_H + x)

    def H_update(self, z_H: mx.array, z_L: mx.array) -> mx.array:
        return self.L_level(z_H, z_L)  # the same network updates the answer

    def gradient_updates(self, L_cycles: int) -> int:
        """The whole last cycle: its L_cycles latent updates and the answer update."""
        return L_cycles + 1
