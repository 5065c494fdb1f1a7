"""Keep MLX's CPU buffers in glibc's heap instead of fresh mmaps.

MLX's CPU allocator is plain malloc/free. glibc serves blocks above its mmap threshold (a few
MB at most, dynamically) with a fresh mmap each time, and the kernel must fault in and zero
every page again: in the Sudoku preset's training step that was 18% of all CPU time, in the
kernel. Raising the mmap threshold to its 32 MB maximum and never trimming the heap's top
lets freed activations be reused as they are: the per-stream block forward went 185-212 ->
155-157 ms here. Resident memory stays near the run's peak, which training reaches anyway.

Linux with glibc only; HRM_MALLOC=default leaves malloc as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's upper limit on 64-bit systems
TRIM_THRESHOLD = 1 << 30

_state: dict[str, bool] = {}


def tuned() -> bool:
    """Whether `tune()` is in effect in this process."""
    return _state.get("done", False)


def tune() -> bool:
    """Apply the malloc settings once (idempotent); True when they are in effect."""
    if "done" in _state:
        return _state["done"]
    ok = False
    if sys.platform == "linux" and os.environ.get("HRM_MALLOC", "").lower() != "default":
        try:
            mallopt = ctypes.CDLL(None).mallopt  # glibc; musl has none
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        except (OSError, AttributeError):
            ok = False
    _state["done"] = ok
    return ok
