"""Batch shards on CPU streams (`cpu_streams`): why one step keeps every core busy.

MLX runs each CPU stream's elementwise ops, softmax and attention on one thread. With the batch split
into row shards, each on its own stream, and the BLAS at one thread per stream, every core works all the
time (1.6x per segment on 2 cores for the HRM Sudoku preset; 3.45 -> 4.76 steps/s for trm-tiny on 6x6
Sudoku). Rows are independent, so the results are those of the unsplit batch (to the BLAS's summation order).

A model holds its `Shards` (models/base.py) and runs its segment through `Shards.run`; the model builder
(models/build.py) makes them from the config. Everything else that runs part of a segment (the step profile)
calls the same `run`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import mlx.core as mx

from hrm_engine.cpu import blas

MAX_STREAMS = 8


def stream_count(setting: Any = "auto") -> int:
    """The `cpu_streams` setting as a number: auto = one per core (at most 8) on the CPU, 1 on a GPU."""
    if mx.default_device() != mx.cpu:
        return 1
    if setting in (None, "auto"):
        return min(os.cpu_count() or 1, MAX_STREAMS)
    return max(1, int(setting))


@dataclass(frozen=True)
class Shards:
    """The CPU streams a model splits its batch over; none (the default): the whole batch on the default stream.

    A plain object, not a list, so nn.Module keeps it out of the parameter tree.
    """

    streams: tuple[Any, ...] = ()

    @classmethod
    def for_setting(cls, setting: Any = "auto") -> "Shards":
        """New streams for a `cpu_streams` setting, the BLAS set to one thread per stream when there are several."""
        n = stream_count(setting)
        if n < 2:
            return cls()
        blas.set_threads(1)  # the streams are the parallelism
        return cls(tuple(mx.new_stream(mx.cpu) for _ in range(n)))

    def run(self, fn: Callable[..., tuple[mx.array, ...]], *batch: mx.array) -> tuple[mx.array, ...]:
        """`fn(*batch)`, or `fn` on row shards of the batch, each on one stream, its outputs concatenated."""
        n, B = len(self.streams), batch[0].shape[0]
        if n < 2 or B < n:
            return fn(*batch)
        bounds = [B * i // n for i in range(n + 1)]
        parts = []
        for stream, lo, hi in zip(self.streams, bounds[:-1], bounds[1:]):
            with mx.stream(stream):
                parts.append(fn(*(a[lo:hi] for a in batch)))
        return tuple(mx.concatenate([p[i] for p in parts], axis=0) for i in range(len(parts[0])))
