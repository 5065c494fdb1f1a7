"""Run a few training steps (alone, or as one process under mlx.launch) and save the result.

Used by test_distributed.py: argv = DATA OUT STEPS [override ...]. Rank 0 writes OUT (an .npz of
every parameter and the puzzle-embedding table, plus the summed metrics of each step).
"""

from __future__ import annotations

import sys

import hrm_engine.cpu

hrm_engine.cpu.setup()  # an optimised BLAS before mlx is imported, the JIT flags, malloc

import mlx.core as mx  # noqa: E402
import numpy as np  # noqa: E402
from mlx.utils import tree_flatten  # noqa: E402

from hrm_engine.config import resolve_config  # noqa: E402
from hrm_engine.training.distributed import init  # noqa: E402
from hrm_engine.train import Trainer  # noqa: E402

data, out, steps, *overrides = sys.argv[1:]
dist = init()
cfg = resolve_config("hrm-tiny", None, overrides)
trainer = Trainer(cfg, data, dist=dist)
losses = []
for _ in range(int(steps)):
    m = trainer.step()
    losses.append([m["lm_loss"], m["count"], m["steps"]])
carry = trainer.global_carry()
if dist.is_main:
    arrays = {f"param/{k}": np.array(v) for k, v in tree_flatten(trainer.model.parameters())}
    arrays.update({f"carry/{k}": np.array(v) for k, v in (carry or {}).items()})
    arrays["metrics"] = np.array(losses)
    np.savez(out, **arrays)
print(f"rank {dist.rank}/{dist.size} done", flush=True)
mx.eval(mx.array(0))
