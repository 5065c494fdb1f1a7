"""What HRM and TRM share: the args every architecture has, the input and output ends of the network (token
and puzzle embeddings, LM and Q heads, the fixed initial states) and the recursion itself.

The recursion, written once (`ReasoningModel.segment`): H_cycles times, L_cycles updates of the fast state
z_L from (z_H + x), then one update of the slow state z_H from z_L. Each architecture supplies its two
updates (`L_update`, `H_update`) and how many of the segment's last updates keep their gradient
(`gradient_updates`: HRM its last L and H update, TRM its whole last cycle); every update before those runs
without gradient. An optional observer sees every update in order (solve_trace.py records the residuals).

Both references build these the same way (TinyRecursiveModels copied them from sapientinc/HRM): token
embedding x sqrt(D) after a zero-initialised puzzle-embedding prefix, an LM head and a Q head (zero weight,
bias -5) on the first prefix position, fixed random H_init and L_init of std 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import partial
from typing import Any, Callable, ClassVar

import mlx.core as mx
import mlx.nn as nn

from hrm_engine.cpu.streams import Shards
from hrm_engine.errors import ConfigError
from hrm_engine.models.grid_positions import canvas_side, grid_position_embeddings
from hrm_engine.models.layers import Linear, trunc_normal

Observer = Callable[[mx.array, mx.array], None]  # (new state, old state), after every update of a segment
SegmentOut = tuple[mx.array, mx.array, mx.array, mx.array, mx.array]  # z_H, z_L, logits, q_halt, q_continue
Cycles = tuple[int, int]  # (H_cycles, L_cycles) of one segment; None where one is asked for: the arch's own


def resolve_dtype(name: str) -> str:
    """`auto`: bfloat16 on a GPU, float32 on the CPU (faster here: no bf16 matmul kernels in the CPU BLAS)."""
    if name != "auto":
        if name not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"arch.forward_dtype must be auto, float32, bfloat16 or float16, got {name!r}")
        return name
    return "bfloat16" if mx.default_device() == mx.gpu else "float32"


@dataclass
class ArchArgs:
    """The fields every architecture has, plus the data-dependent sizes (`pretrain.py` injects these from
    dataset.json). Each architecture subclasses it with its own defaults and fields."""

    POS_ENCODINGS: ClassVar[tuple[str, ...]] = ("rope", "learned", "grid")

    seq_len: int
    vocab_size: int
    num_puzzle_identifiers: int
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    puzzle_emb_ndim: int | None = None
    pos_encodings: str = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    loss: str = "stablemax_cross_entropy"
    forward_dtype: str = "float32"
    causal: bool = False

    def __post_init__(self) -> None:
        if self.puzzle_emb_ndim is None:
            self.puzzle_emb_ndim = self.hidden_size
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"arch.hidden_size={self.hidden_size} must be a multiple of arch.num_heads={self.num_heads}")
        if self.pos_encodings not in self.POS_ENCODINGS:
            *first, last = self.POS_ENCODINGS
            raise ConfigError(f"arch.pos_encodings must be {', '.join(first)} or {last}, got {self.pos_encodings!r}")
        if self.loss not in ("stablemax_cross_entropy", "softmax_cross_entropy"):
            raise ConfigError(f"arch.loss must be stablemax_cross_entropy or softmax_cross_entropy, got {self.loss!r}")
        if self.pos_encodings == "grid":
            canvas_side(self.seq_len)
        if self.puzzle_emb_ndim <= 0:
            raise ConfigError("arch.puzzle_emb_ndim must be positive (the references require a puzzle embedding)")

    @classmethod
    def from_config(cls, config: dict[str, Any], metadata: Any, forward_dtype: str | None = None) -> Any:
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
        """Positions the network sees: the puzzle-embedding prefix, then the sequence."""
        return self.seq_len + self.puzzle_emb_len

    @property
    def dtype(self) -> mx.Dtype:
        return getattr(mx, self.forward_dtype)


class ReasoningModel(nn.Module):
    """The embeddings, heads, initial states and recursion of a recursive reasoning model; subclasses build
    their networks and supply `L_update`, `H_update` and `gradient_updates`.

    Not trained by Adam: the puzzle-embedding table (sign-SGD on the rows a batch uses) and H_init/L_init.
    `shards`: the CPU streams the batch is split over (hrm_engine.cpu.streams; none by default).
    """

    config: Any
    shards: Shards = Shards()

    def L_update(self, z_L: mx.array, z_H: mx.array, x: mx.array) -> mx.array:
        """The fast state's update from (z_H + x)."""
        raise NotImplementedError

    def H_update(self, z_H: mx.array, z_L: mx.array) -> mx.array:
        """The slow (answer) state's update from z_L."""
        raise NotImplementedError

    def gradient_updates(self, L_cycles: int) -> int:
        """How many of a segment's last updates the gradient flows through (with L_cycles updates per cycle)."""
        raise NotImplementedError

    # -- the recursion -------------------------------------------------------------------------
    def depth(self, cycles: Cycles | None = None) -> Cycles:
        """(H_cycles, L_cycles) of a segment: the arch's, unless a training stage gives its own
        (`cycles_schedule`, engine/training/schedule.py); evaluation and solving always run the arch's."""
        return cycles if cycles is not None else (self.config.H_cycles, self.config.L_cycles)

    def segment(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array,
                cycles: Cycles | None = None) -> SegmentOut:
        """One forward segment on the model's batch shards: the updates, gradient through the last ones only.

        Returns (z_H, z_L) detached for the carry, logits [B, S, V], q_halt and q_continue [B] (float32).
        """
        return self.shards.run(partial(self.segment_rows, cycles=cycles), z_H, z_L, inputs, puzzle_rows)

    def segment_q(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array,
                  cycles: Cycles | None = None) -> tuple[mx.array, mx.array]:
        """(q_halt, q_continue) of one more segment, without gradient: the Q-learning target."""
        out = self.segment(z_H, z_L, inputs, puzzle_rows, cycles)
        return mx.stop_gradient(out[3]), mx.stop_gradient(out[4])

    def segment_traced(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array,
                       measure: Callable[[mx.array, mx.array], mx.array]) -> tuple[mx.array, ...]:
        """`segment`, plus measure(new, old) -> [B] after every update, in order: [B, H_cycles, L_cycles + 1]
        (each cycle's L updates, then its H update)."""
        cfg = self.config

        def rows(*batch: mx.array) -> tuple[mx.array, ...]:
            seen: list[mx.array] = []
            out = self.segment_rows(*batch, observe=lambda new, old: seen.append(measure(new, old)))
            B = batch[0].shape[0]
            return (*out, mx.stack(seen, axis=1).reshape(B, cfg.H_cycles, cfg.L_cycles + 1))

        return self.shards.run(rows, z_H, z_L, inputs, puzzle_rows)

    def segment_rows(self, z_H: mx.array, z_L: mx.array, inputs: mx.array, puzzle_rows: mx.array,
                     observe: Observer | None = None, cycles: Cycles | None = None) -> SegmentOut:
        """`segment` on one shard of rows."""
        x = self.input_embeddings(inputs, puzzle_rows)
        z_H, z_L = self.no_grad_cycles(mx.stop_gradient(z_H), mx.stop_gradient(z_L), mx.stop_gradient(x), observe,
                                       cycles)
        return self.gradient_cycle(z_H, z_L, x, observe, cycles)

    def no_grad_cycles(self, z_H: mx.array, z_L: mx.array, x: mx.array, observe: Observer | None = None,
                       cycles: Cycles | None = None) -> tuple[mx.array, mx.array]:
        """Every update of a segment before the last `gradient_updates`, without gradient."""
        H, L = self.depth(cycles)
        steps = range(H * (L + 1) - self.gradient_updates(L))
        z_H, z_L = self.updates(z_H, z_L, x, steps, observe, L)
        return mx.stop_gradient(z_H), mx.stop_gradient(z_L)

    def gradient_cycle(self, z_H: mx.array, z_L: mx.array, x: mx.array, observe: Observer | None = None,
                       cycles: Cycles | None = None) -> SegmentOut:
        """The last `gradient_updates` updates and the heads: the gradient flows through these alone."""
        H, L = self.depth(cycles)
        n = H * (L + 1)  # updates in a segment: H_cycles x (L_cycles z_L updates + one z_H update)
        z_H, z_L = self.updates(z_H, z_L, x, range(n - self.gradient_updates(L), n), observe, L)
        logits, q_halt, q_continue = self.heads(z_H)
        return mx.stop_gradient(z_H), mx.stop_gradient(z_L), logits, q_halt, q_continue

    def updates(self, z_H: mx.array, z_L: mx.array, x: mx.array, steps: range, observe: Observer | None = None,
                L_cycles: int | None = None) -> tuple[mx.array, mx.array]:
        """Updates `steps` of a segment, numbered from 0 in their order: L_cycles z_L updates, then z_H's."""
        L_cycles = self.config.L_cycles if L_cycles is None else L_cycles
        for i in steps:
            if i % (L_cycles + 1) < L_cycles:
                new = self.L_update(z_L, z_H, x)
                if observe is not None:
                    observe(new, z_L)
                z_L = new
            else:
                new = self.H_update(z_H, z_L)
                if observe is not None:
                    observe(new, z_H)
                z_H = new
        return z_H, z_L

    # -- the two ends --------------------------------------------------------------------------

    def init_embeddings_and_heads(self, cfg: ArchArgs) -> None:
        """embed_tokens, lm_head, q_head and (learned positions) embed_pos, drawn in the references' order."""
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
        if cfg.pos_encodings == "grid":  # four tables summed: each of half the std, so the sum has learned's
            self.embed_grid = trunc_normal((4, canvas_side(cfg.seq_len) + 1, D), std=0.5 / self.embed_scale)

    def init_states(self, cfg: ArchArgs) -> None:
        """The fixed random initial states and the sparse puzzle-embedding table: not Adam parameters."""
        D = cfg.hidden_size
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
        elif cfg.pos_encodings == "grid":
            emb = 0.707106781 * (emb + grid_position_embeddings(inputs, self.embed_grid.astype(dtype), P))
        return self.embed_scale * emb

    def heads(self, z_H: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        """Logits of the sequence positions [B, S, V], and q_halt, q_continue [B] (float32) from position 0."""
        logits = self.lm_head(z_H)[:, self.config.puzzle_emb_len:]
        q = self.q_head(z_H[:, 0]).astype(mx.float32)
        return logits, q[:, 0], q[:, 1]


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters as the references count them (no puzzle table, no H_init/L_init)."""
    from mlx.utils import tree_flatten

    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
