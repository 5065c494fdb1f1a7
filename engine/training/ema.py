"""An exponential moving average of the trainable weights (TinyRecursiveModels' models/ema.py).

After every optimizer step: shadow <- (1 - rate) * param + rate * shadow, started from the initial
weights, without bias correction. Evaluation runs on the shadow, and checkpoints keep it (ema.safetensors)
so `hrm eval` and `hrm solve` use the weights TRM would have saved. Only trainable parameters are
averaged: the puzzle-embedding table and H_init/L_init are used as they are, as in TRM.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten


def ema_update(shadow: dict[str, mx.array], params: dict[str, mx.array], rate: float) -> dict[str, mx.array]:
    """One step of the average, per tensor: (1 - rate) * param + rate * shadow."""
    return {k: (1.0 - rate) * params[k] + rate * v for k, v in shadow.items()}


class EMA:
    """The shadow weights of one model (flat names, as in model.safetensors)."""

    def __init__(self, model: Any, rate: float = 0.999) -> None:
        self.rate = float(rate)
        self.shadow = {k: mx.array(v) for k, v in tree_flatten(model.trainable_parameters())}
        self._update = mx.compile(lambda s, p: ema_update(s, p, self.rate))

    def update(self, model: Any) -> None:
        """Fold the model's current trainable weights into the shadow (lazy: evaluated with the step)."""
        self.shadow = self._update(self.shadow, dict(tree_flatten(model.trainable_parameters())))

    def load(self, arrays: dict[str, mx.array]) -> None:
        missing = sorted(set(self.shadow) - set(arrays))
        if missing:
            from hrm_engine.errors import EngineError

            raise EngineError(f"ema.safetensors lacks {', '.join(missing[:5])}; the checkpoint is damaged")
        self.shadow = {k: arrays[k].astype(v.dtype) for k, v in self.shadow.items()}

    @contextmanager
    def applied(self, model: Any) -> Iterator[None]:
        """The model runs on the shadow weights inside the block, on its own weights after it."""
        own = tree_flatten(model.trainable_parameters())
        model.update(tree_unflatten(list(self.shadow.items())))
        try:
            yield
        finally:
            model.update(tree_unflatten(own))
