"""Data parallelism on MLX's own `mx.distributed` (ring/TCP, MPI or NCCL, started by `mlx.launch`).

Semantics are those of one process with the global batch: each process takes its slice of every
global batch, the loss is divided by the *global* batch size, so summing the per-process gradients
gives exactly the single-process gradient; the puzzle-embedding rows and their gradients are
gathered so every process applies the same sign-SGD update. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import mlx.core as mx
from mlx.utils import tree_map

from hrm_engine.errors import EngineError


@dataclass
class Dist:
    """This process's place in the group (a single process is rank 0 of 1)."""

    group: Any = None
    rank: int = 0
    size: int = 1

    @property
    def enabled(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_sum(self, tree: Any) -> Any:
        if not self.enabled:
            return tree
        return tree_map(lambda x: mx.distributed.all_sum(x, group=self.group), tree)

    def all_gather(self, x: mx.array) -> mx.array:
        """Concatenate every process's `x` along axis 0, in rank order."""
        return mx.distributed.all_gather(x, group=self.group) if self.enabled else x

    def barrier(self) -> None:
        if self.enabled:
            mx.eval(mx.distributed.all_sum(mx.array(1.0), group=self.group))

    def shard(self) -> tuple[int, int]:
        return self.rank, self.size


def launched_by_mlx() -> bool:
    """True inside `mlx.launch` (it sets the ring/MPI/NCCL environment for each process)."""
    return any(k in os.environ for k in ("MLX_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "MLX_HOSTFILE"))


def init(required: bool = False, backend: str = "any") -> Dist:
    """Join the process group when started by `mlx.launch`; a single process otherwise."""
    if not required and not launched_by_mlx():
        return Dist()
    if not mx.distributed.is_available():
        raise EngineError("this MLX build has no distributed backend; install mlx with ring/MPI support")
    group = mx.distributed.init(strict=required, backend=backend)
    if required and group.size() < 2:
        raise EngineError("--distributed needs several processes: start with "
                          "`mlx.launch --backend ring -n 2 -- hrm train ...` or use `hrm train --processes 2`")
    return Dist(group=group, rank=group.rank(), size=group.size())
