"""Let MLX's CPU JIT compile fused kernels for this CPU's vector units (AVX2/FMA, NEON...).

`mx.compile` fuses chains of elementwise ops into C++ that MLX compiles at run time with the
`g++` found on PATH, using `-O3` but no target flags: on x86-64 that means SSE2, so the
fused SiLU/softmax/norm loops of every training step run scalar. A two-line `g++` wrapper,
put first on this process's PATH, adds `-march=native` and the flags that let GCC inline and
vectorise MLX's exp: the fused SiLU * up kernel of the Sudoku preset runs 22x faster here
(54 -> 2.4 ms per stream), with the same arithmetic (no fast-math).

The wrapper always execs the real compiler by absolute path, found on PATH skipping every
file that carries the wrapper's marker line. So processes with different HRM_CACHE_DIRs,
each adding its own wrapper folder to a PATH it hands to children, never chain wrappers into
a loop.

MLX caches the kernels in $TMPDIR/mlx/<version>/cpu by graph, not by flags, so kernels built
before (generic) would be reused for ever: the first time these flags meet that folder, its
compiled kernels are removed (`forget_stale_kernels`; a stamp file records the flags and the CPU) and MLX
rebuilds them. `hrm_engine.cpu.setup()` runs both steps.
Set HRM_CPU_JIT_FLAGS="" to turn it all off, or to other flags to use those.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from hrm_engine.run.cache import cache_dir

# -march=native: this CPU's vector units. -finline-limit: inline MLX's simd::exp into the
# kernel's loop (else every element is a PLT call into libmlx's generic copy). -fno-trapping-math
# and -fno-math-errno: let the loop be if-converted and vectorised. None of them changes a result
# (no fast-math, no reassociation; ISO C++ keeps FMA contraction off).
DEFAULT_FLAGS = "-march=native -finline-limit=10000 -fno-trapping-math -fno-math-errno"
MARKER = "# hrm cpu-jit compiler wrapper"


def _is_wrapper(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return MARKER.encode() in fh.read(512)
    except OSError:
        return False


def real_compiler(path_dirs: list[str], name: str = "g++") -> str | None:
    """The first `name` on PATH that is not an hrm wrapper (any HRM_CACHE_DIR's)."""
    for folder in path_dirs:
        cand = Path(folder or ".") / name
        if cand.is_file() and os.access(cand, os.X_OK) and not _is_wrapper(cand):
            return str(cand.resolve())
    return None


def _flags_accepted(compiler: str, flags: str) -> bool:
    try:
        done = subprocess.run([compiler, *shlex.split(flags), "-x", "c++", "-E", os.devnull],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _cpu_signature() -> str:
    """The CPU's model and feature flags: -march=native kernels must not outlive a move to another CPU."""
    import hashlib

    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    keep = sorted({ln for ln in lines if ln.split(":")[0].strip() in ("model name", "flags", "Features")})
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()[:16]


def forget_stale_kernels(flags: str | None = None) -> bool:
    """Remove MLX's cached CPU kernels once, when they were built with other flags (or none) or on another CPU.

    `flags`: those the wrapper adds (default: the ones `install()` put in effect; none in effect: nothing to do).
    True when kernels were removed.
    """
    flags = flags if flags is not None else _installed["flags"]
    if not flags:
        return False
    try:
        from importlib.metadata import version

        kernels = Path(tempfile.gettempdir()) / "mlx" / version("mlx") / "cpu"
        stamp = kernels / ".hrm-jit-flags"
        want = f"{flags}\ncpu {_cpu_signature()}\n"
        if not kernels.is_dir() or (stamp.is_file() and stamp.read_text() == want):
            return False
        for lib in kernels.glob("lib*.so"):
            lib.unlink(missing_ok=True)  # a process that has it loaded keeps its mapping
        stamp.write_text(want)
        return True
    except Exception:  # noqa: BLE001 - a cache we cannot tidy costs speed, never correctness
        return False


_installed: dict[str, str | None] = {"flags": None}


def active_flags() -> str | None:
    """The flags MLX's CPU JIT builds with in this process (None: MLX's own `-O3` only)."""
    return _installed["flags"]


def install() -> str | None:
    """Put the flag-adding `g++` wrapper first on PATH (Linux only); returns the flags or None.

    Kernels MLX cached before with other flags stay in use until `forget_stale_kernels()` removes them.
    """
    flags = os.environ.get("HRM_CPU_JIT_FLAGS", DEFAULT_FLAGS).strip()
    if sys.platform != "linux" or not flags or platform.machine() not in ("x86_64", "AMD64", "aarch64"):
        return None
    folder = cache_dir() / "jit"
    wrapper = folder / "g++"
    path_dirs = os.environ.get("PATH", "").split(os.pathsep)
    real = real_compiler(path_dirs)
    if real is None:
        return None  # MLX then runs fused kernels without a compiler's help, as it always does
    quoted = " ".join(shlex.quote(f) for f in shlex.split(flags))
    script = f'#!/bin/sh\n{MARKER}\nexec {shlex.quote(real)} {quoted} "$@"\n'
    try:
        if not wrapper.is_file() or wrapper.read_text() != script:
            if not _flags_accepted(real, flags):
                return None  # an old compiler or odd flags: never break MLX's own JIT
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".g++.{os.getpid()}"
            tmp.write_text(script)
            tmp.chmod(0o755)
            os.replace(tmp, wrapper)
    except OSError:
        return None  # a read-only home: keep MLX's defaults
    rest = [d for d in path_dirs if d != str(folder)]
    os.environ["PATH"] = os.pathsep.join([str(folder), *rest])
    _installed["flags"] = flags
    return flags
