"""Which MLX backend wheel is really in place, and one clear line when MLX cannot load.

On Linux, MLX's backends are separate wheels (`mlx-cpu`, `mlx-cuda-12`, `mlx-cuda-13`) that all
write the same file, `mlx/lib/libmlx.so`. `pip install 'hrm[cuda12]'` installs `mlx-cpu` (hrm's
base dependency) beside `mlx-cuda-12`: whichever wheel pip unpacks last owns the file, and
uninstalling either deletes it. So "which backend do I have" cannot be read from `pip list`; this
module reads the wheels' RECORD files and compares them with the file on disk. It never imports
`mlx.core`, because that import is exactly what fails when the wrong library is in place.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

# Wheel name -> the extra that installs it (`pip install 'mlx[cuda13]'`).
BACKEND_WHEELS = {"mlx-cpu": "cpu", "mlx-cuda-12": "cuda12", "mlx-cuda-13": "cuda13",
                  "mlx-cuda": "cuda", "mlx-metal": "metal"}

# Shared libraries of the NVIDIA runtime that MLX's CUDA build links (pip's nvidia-* wheels).
_CUDA_LIB = re.compile(r"(lib(?:cudnn|cublas|cublasLt|cufft|cusolver|cusparse|nccl|nvrtc|cudart|nvJitLink)"
                       r"[\w.\-]*\.so[\d.]*)")


@dataclass(frozen=True)
class BackendWheel:
    """One installed MLX backend wheel and whether the libmlx on disk is the one it wrote."""

    wheel: str
    version: str
    extra: str
    lib_path: Path | None
    in_place: bool


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def installed(path: list[str] | None = None) -> list[BackendWheel]:
    """The MLX backend wheels installed on `path` (default: sys.path), in a stable order."""
    found: dict[str, tuple[str, Path | None, int | None, str | None]] = {}
    for dist in metadata.distributions(path=path) if path is not None else metadata.distributions():
        name = _normalise(dist.metadata["Name"] or "")
        if name not in BACKEND_WHEELS or name in found:
            continue  # the first on the path wins, as for imports
        lib, size, digest = None, None, None
        for item in dist.files or []:
            if item.parent.name == "lib" and item.name.startswith("libmlx."):
                lib = Path(dist.locate_file(item))
                size = item.size
                digest = item.hash.value if item.hash and item.hash.mode == "sha256" else None
                break
        found[name] = (dist.version, lib, size, digest)

    # Several wheels may record the same file: the one whose size (or, on a tie, hash) matches owns it.
    def owns(name: str) -> bool:
        _, lib, size, digest = found[name]
        if lib is None or not lib.is_file() or size is None or lib.stat().st_size != size:
            return False
        rivals = [n for n, (_, other, s, _) in found.items() if n != name and other == lib and s == size]
        return not rivals or (digest is not None and _record_hash(lib) == digest)

    return [BackendWheel(name, found[name][0], BACKEND_WHEELS[name], found[name][1], owns(name))
            for name in sorted(found)]


def _in_place(wheels: list[BackendWheel]) -> tuple[BackendWheel | None, list[BackendWheel]]:
    """The wheel whose libmlx is on disk, and the other installed wheels that write the same file."""
    live = next((w for w in wheels if w.in_place), None)
    sharing = [w for w in wheels if live is not None and w is not live and w.lib_path == live.lib_path]
    return live, sharing


def active(path: list[str] | None = None) -> BackendWheel | None:
    """The backend wheel whose libmlx is on disk now, or None."""
    return _in_place(installed(path))[0]


def describe(wheels: list[BackendWheel]) -> str:
    """A short label of `installed()` for `hrm doctor`: 'mlx-cuda-13 0.32.4', 'none' or the state of a clash."""
    live, sharing = _in_place(wheels)
    if live is None:
        return "none" if not wheels else "broken (" + ", ".join(w.wheel for w in wheels) + " installed, no libmlx)"
    also = f" (also installed: {', '.join(w.wheel for w in sharing)})" if sharing else ""
    return f"{live.wheel} {live.version}{also}"


def clash_warning(wheels: list[BackendWheel]) -> str | None:
    """Why two installed backends sharing one libmlx is fragile, and the command that settles it."""
    live, sharing = _in_place(wheels)
    if live is None or not sharing:
        return None
    names = ", ".join(w.wheel for w in sharing)
    return (f"{live.wheel} and {names} are both installed and write the same {live.lib_path.name}; "
            f"{live.wheel}'s is in place now. Uninstalling {names} would delete it and upgrading it would "
            f"replace it; to put {live.wheel}'s back: pip install --force-reinstall --no-deps {live.wheel}=={live.version}")


def has_nvidia_driver() -> bool:
    """Whether the dynamic loader can find NVIDIA's driver library (libcuda), which MLX's CUDA build needs."""
    import ctypes.util

    return ctypes.util.find_library("cuda") is not None


def _mlx_version(path: list[str] | None) -> str:
    try:
        dists = metadata.distributions(path=path, name="mlx") if path is not None else [metadata.distribution("mlx")]
        return next(iter(dists)).version
    except (metadata.PackageNotFoundError, StopIteration):
        return "<mlx version>"


def diagnose_import_error(exc: ImportError, path: list[str] | None = None) -> str | None:
    """One line naming why `import mlx.core` failed and what to run; None if it is not an MLX problem."""
    message = str(exc)
    wheels = installed(path)
    version = _mlx_version(path)
    cuda = [w for w in wheels if w.extra.startswith("cuda")]
    cuda_wheel = next((w for w in cuda if w.in_place), None) or (cuda[0] if cuda else None)
    if "libcuda.so" in message:
        which = cuda_wheel.wheel if cuda_wheel else "MLX's CUDA build"
        return (f"{which} is installed, but this machine has no NVIDIA driver (libcuda.so.1 not found). "
                f"On an NVIDIA machine, install the driver; to run on the CPU here instead: "
                f"pip install --force-reinstall --no-deps mlx-cpu=={version}")
    lib = _CUDA_LIB.search(message)
    if lib:
        extra = cuda_wheel.extra if cuda_wheel else "cuda"
        return (f"MLX's CUDA build cannot load {lib.group(1)}: install the NVIDIA libraries it needs with "
                f"pip install 'hrm[{extra}]' (or put the folder that holds them on LD_LIBRARY_PATH)")
    if "libmlx" in message:
        if wheels:  # put back the CUDA build where a driver is there to run it, else the CPU one
            pick = (cuda_wheel if cuda_wheel and has_nvidia_driver()
                    else next((w for w in wheels if w.extra == "cpu"), wheels[0]))
            return (f"MLX's library is missing ({', '.join(w.wheel for w in wheels)} installed, but no libmlx): "
                    f"uninstalling one backend wheel deletes the file they share. Put one back: "
                    f"pip install --force-reinstall --no-deps {pick.wheel}=={pick.version}")
        return (f"MLX has no backend installed: pip install 'mlx[cpu]=={version}' "
                f"(or 'mlx[cuda12]' / 'mlx[cuda13]' on an NVIDIA machine)")
    if getattr(exc, "name", None) in ("mlx", "mlx.core"):
        return "MLX is not installed in this Python: pip install hrm (or `make setup` in a checkout)"
    return None


def device_name() -> str | None:
    """The default device's name as MLX reports it ('NVIDIA H100 80GB HBM3', 'AMD EPYC'), if it does."""
    import mlx.core as mx

    try:
        return mx.device_info().get("device_name") or None  # type: ignore[attr-defined]
    except Exception:  # an MLX without device_info
        return None


def device_label() -> str:
    """'gpu (NVIDIA H100 80GB HBM3)' or 'cpu (AMD EPYC)': what `hrm train` prints and run.json records."""
    import mlx.core as mx

    kind = "gpu" if mx.default_device() == mx.gpu else "cpu"
    name = device_name()
    return f"{kind} ({name})" if name else kind
