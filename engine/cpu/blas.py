"""Give MLX an optimised BLAS on Linux before it is imported.

The `mlx[cpu]` Linux wheel bundles the reference BLAS (about 40x slower at matmul on a
small x86 machine). Symbols from a library opened with RTLD_GLOBAL *before* libmlx is
loaded take precedence over the bundled one, so loading OpenBLAS here is enough: no
LD_PRELOAD, no re-exec. `preload()` must run before the first `import mlx.core`; it is the first
step of `hrm_engine.cpu.setup()`, which the `hrm` entry point and the test suite call first thing.

Search order: $HRM_BLAS (a path, or "none" to disable), the system's libopenblas.so.0
(Debian/Ubuntu `libopenblas0-pthread`, installed by `make setup`), Intel's libmkl_rt from
the PyPI `mkl` wheel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from dataclasses import dataclass

_state: dict[str, str | None] = {"path": None, "error": None}


@dataclass
class BlasInfo:
    """What `preload()` found, for `hrm doctor` and `hrm bench`."""

    path: str | None
    name: str
    optimised: bool
    error: str | None = None


def _candidates() -> list[str]:
    env = os.environ.get("HRM_BLAS")
    if env:
        return [] if env.lower() == "none" else [env]
    found = [
        "libopenblas.so.0",
        ctypes.util.find_library("openblas") or "",
        *sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*"))),
    ]
    return [c for c in found if c]


def preload() -> BlasInfo:
    """Load an optimised BLAS with RTLD_GLOBAL if one is available (idempotent, Linux only)."""
    if sys.platform != "linux":
        return info()
    if _state["path"] or "mlx.core" in sys.modules:
        return info()
    for cand in _candidates():
        try:
            ctypes.CDLL(cand, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            _state["error"] = f"{cand}: {exc}"
            continue
        _state["path"], _state["error"] = cand, None
        break
    return info()


def set_threads(n: int) -> bool:
    """Set the optimised BLAS's thread count at run time (False when there is no such BLAS)."""
    path = _state["path"]
    if not path:
        return False
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    for fn in ("openblas_set_num_threads", "MKL_Set_Num_Threads"):
        setter = getattr(lib, fn, None)
        if setter is not None:
            setter(ctypes.c_int(max(1, int(n))))
            return True
    return False


def get_threads() -> int | None:
    """The optimised BLAS's thread count now (None when there is no such BLAS or it cannot say)."""
    path = _state["path"]
    if not path:
        return None
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    getter = getattr(lib, "openblas_get_num_threads", None) or getattr(lib, "MKL_Get_Max_Threads", None)
    return int(getter()) if getter is not None else None


def info() -> BlasInfo:
    """Describe the BLAS MLX will use in this process."""
    if sys.platform == "darwin":
        return BlasInfo(path=None, name="Accelerate (macOS)", optimised=True)
    path = _state["path"]
    if path:
        name = "MKL" if "mkl" in path else "OpenBLAS"
        return BlasInfo(path=path, name=name, optimised=True)
    late = "mlx.core" in sys.modules and not path
    msg = _state["error"] or ("mlx was imported before hrm could load a BLAS" if late else None)
    return BlasInfo(path=None, name="bundled reference BLAS (slow)", optimised=False, error=msg)


def measure_matmul_gflops(n: int = 1024, repeats: int = 10) -> float:
    """Measured float32 n x n matmul throughput of MLX on the default device, in GFLOP/s."""
    import time

    import mlx.core as mx

    a = mx.random.normal((n, n))
    b = mx.random.normal((n, n))
    mx.eval(a @ b)
    start = time.perf_counter()
    for _ in range(repeats):
        mx.eval(a @ b)
    seconds = (time.perf_counter() - start) / repeats
    return 2 * n**3 / seconds / 1e9
