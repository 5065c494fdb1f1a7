"""Training fast on a plain CPU: the process set-up and the per-model speed-ups, kept out of the model maths.

Two parts (docs/cpu-performance.md has the figures and the knobs):

- `setup()`, once per process, before the first `import mlx.core`: the `hrm` CLI calls it at start-up and
  the test suite in its conftest. A library user who imports hrm_engine without the CLI calls it first:

      import hrm_engine.cpu
      hrm_engine.cpu.setup()      # then import mlx, build models...

  Without it every result is the same, only slower (MLX's bundled reference BLAS, generic JIT kernels).
- The speed-ups of one model, which the model builder (hrm_engine.models.build.model_from_args, behind
  `new_model`) passes to its constructor: the kernels of `kernels.py` for the shared layers (`cpu_math`)
  and the batch shards on CPU streams of `streams.py` (`cpu_streams`). A model built by hand runs MLX's
  built-in kernels on one stream unless given them.

Nothing here imports MLX at import time, so `setup()` can load the BLAS before MLX does.
"""

from __future__ import annotations

from dataclasses import dataclass
from hrm_engine.cpu import alloc, blas, jit


@dataclass
class SetupReport:
    """What `setup()` put in effect in this process."""

    blas: blas.BlasInfo  # the BLAS MLX uses
    jit_flags: str | None  # flags MLX's CPU JIT compiler wrapper adds (None: MLX's own -O3)
    stale_kernels_removed: bool  # cached kernels built with other flags were deleted this time
    malloc_tuned: bool  # glibc keeps MLX's freed buffers instead of returning them to the kernel


_report: dict[str, SetupReport] = {}


def setup() -> SetupReport:
    """The process-wide CPU set-up, in four named steps; idempotent (later calls return the first report).

    1. `blas.preload()`: open OpenBLAS (or MKL) with RTLD_GLOBAL so MLX links it instead of its bundled
       reference BLAS; must run before `import mlx.core` (HRM_BLAS=none: skip).
    2. `jit.install()`: a `g++` wrapper first on this process's PATH that adds `-march=native` and the
       inlining flags to MLX's CPU JIT (HRM_CPU_JIT_FLAGS="": skip).
    3. `jit.forget_stale_kernels()`: deletes the kernels MLX cached in $TMPDIR/mlx/<version>/cpu with
       other flags or on another CPU, once (a stamp file records the flags), so they are rebuilt.
    4. `alloc.tune()`: glibc's mmap threshold to 32 MB and no heap trimming (HRM_MALLOC=default: skip).
    """
    if "done" not in _report:
        info = blas.preload()
        flags = jit.install()
        removed = jit.forget_stale_kernels(flags) if flags else False
        _report["done"] = SetupReport(blas=info, jit_flags=flags, stale_kernels_removed=removed,
                                      malloc_tuned=alloc.tune())
    return _report["done"]
