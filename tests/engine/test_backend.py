"""Which MLX backend wheel owns libmlx, and the one-line diagnosis when MLX cannot load.

The site folders here are real: dist-info folders with METADATA and RECORD, read by
importlib.metadata exactly as pip leaves them. Only the shared library's bytes are made up.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from hrm_engine import backend

VERSION = "0.32.4"
LIB = "mlx/lib/libmlx.so"


def _record_line(rel: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{rel},sha256={digest},{len(data)}"


def _wheel(site: Path, name: str, lib_bytes: bytes | None, version: str = VERSION) -> None:
    """Register `name` as installed in `site`; its RECORD claims mlx/lib/libmlx.so with `lib_bytes`."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = [f"{info.name}/METADATA,,"]
    if lib_bytes is not None:
        lines.append(_record_line(LIB, lib_bytes))
    (info / "RECORD").write_text("\n".join(lines) + "\n")


def _put_lib(site: Path, data: bytes) -> None:
    path = site / LIB
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


CPU_LIB, CUDA_LIB = b"cpu build" * 10, b"cuda build" * 40


@pytest.fixture
def clash_site(tmp_path: Path) -> Path:
    """What `pip install 'hrm[cuda13]'` leaves: mlx, mlx-cpu and mlx-cuda-13 all installed."""
    site = tmp_path / "site"
    _wheel(site, "mlx", None)
    _wheel(site, "mlx-cpu", CPU_LIB)
    _wheel(site, "mlx-cuda-13", CUDA_LIB)
    return site


def test_owner_of_the_shared_library_follows_the_bytes_on_disk(clash_site):
    path = [str(clash_site)]
    _put_lib(clash_site, CUDA_LIB)
    assert [w.wheel for w in backend.installed(path)] == ["mlx-cpu", "mlx-cuda-13"]
    assert backend.active(path).wheel == "mlx-cuda-13"
    assert backend.describe(backend.installed(path)) == "mlx-cuda-13 0.32.4 (also installed: mlx-cpu)"
    warning = backend.clash_warning(backend.installed(path))
    assert "mlx-cuda-13's is in place" in warning
    assert warning.endswith("pip install --force-reinstall --no-deps mlx-cuda-13==0.32.4")

    _put_lib(clash_site, CPU_LIB)  # what `pip install --force-reinstall --no-deps mlx-cpu` does
    assert backend.active(path).wheel == "mlx-cpu"
    assert backend.clash_warning(backend.installed(path)).endswith("--no-deps mlx-cpu==0.32.4")


def test_equal_sizes_are_told_apart_by_the_recorded_hash(tmp_path):
    site = tmp_path / "site"
    a, b = b"A" * 64, b"B" * 64
    _wheel(site, "mlx-cuda-12", a)
    _wheel(site, "mlx-cuda-13", b)
    _put_lib(site, b)
    assert backend.active([str(site)]).wheel == "mlx-cuda-13"
    _put_lib(site, b"C" * 64)  # same size, neither wheel's bytes
    assert backend.active([str(site)]) is None


def test_a_single_backend_gives_no_warning_and_no_backend_says_none(tmp_path):
    site = tmp_path / "site"
    _wheel(site, "mlx-cpu", CPU_LIB)
    _put_lib(site, CPU_LIB)
    assert backend.describe(backend.installed([str(site)])) == "mlx-cpu 0.32.4"
    assert backend.clash_warning(backend.installed([str(site)])) is None
    assert backend.describe(backend.installed([str(tmp_path / "empty")])) == "none"


def test_library_deleted_by_an_uninstall_is_diagnosed(clash_site, monkeypatch):
    path = [str(clash_site)]  # no libmlx written: `pip uninstall mlx-cuda-13` removed the shared file
    monkeypatch.setattr(backend, "has_nvidia_driver", lambda: False)
    assert backend.describe(backend.installed(path)) == "broken (mlx-cpu, mlx-cuda-13 installed, no libmlx)"
    hint = backend.diagnose_import_error(
        ImportError("libmlx.so: cannot open shared object file: No such file or directory"), path)
    assert "no libmlx" in hint and hint.endswith("pip install --force-reinstall --no-deps mlx-cpu==0.32.4")
    # on a machine with NVIDIA's driver, the CUDA build is the one to put back
    monkeypatch.setattr(backend, "has_nvidia_driver", lambda: True)
    hint = backend.diagnose_import_error(ImportError("libmlx.so: cannot open shared object file"), path)
    assert hint.endswith("pip install --force-reinstall --no-deps mlx-cuda-13==0.32.4")
    nothing = backend.diagnose_import_error(ImportError("libmlx.so: cannot open shared object file"),
                                            [str(clash_site / "nowhere")])
    assert "pip install 'mlx[cpu]==<mlx version>'" in nothing


@pytest.mark.parametrize("message, expected", [
    ("libcuda.so.1: cannot open shared object file: No such file or directory",
     "mlx-cuda-13 is installed, but this machine has no NVIDIA driver"),
    ("libcudnn.so.9: cannot open shared object file: No such file or directory",
     "cannot load libcudnn.so.9: install the NVIDIA libraries it needs with pip install 'hrm[cuda13]'"),
    ("libcublasLt.so.13: cannot open shared object file", "cannot load libcublasLt.so.13"),
])
def test_cuda_load_failures_name_the_fix(clash_site, message, expected):
    _put_lib(clash_site, CUDA_LIB)
    hint = backend.diagnose_import_error(ImportError(message), [str(clash_site)])
    assert expected in hint
    if "libcuda.so" in message:
        assert hint.endswith("pip install --force-reinstall --no-deps mlx-cpu==0.32.4")


def test_other_import_errors_are_left_alone(clash_site):
    assert backend.diagnose_import_error(ImportError("No module named 'yaml'", name="yaml"),
                                         [str(clash_site)]) is None
    missing = backend.diagnose_import_error(ImportError("No module named 'mlx'", name="mlx"), [str(clash_site)])
    assert "MLX is not installed" in missing


def test_cli_turns_an_mlx_that_cannot_load_into_one_line_and_exit_3(clash_site, run_hrm):
    """`hrm doctor` on a machine with MLX's CUDA build and no driver: the real console script, whose
    `import mlx.core` fails the way the CUDA wheel's does (the stub raises the loader's own message)."""
    _put_lib(clash_site, CUDA_LIB)
    (clash_site / "mlx" / "__init__.py").write_text("")
    (clash_site / "mlx" / "core.py").write_text(
        'raise ImportError("libcuda.so.1: cannot open shared object file: No such file or directory")\n')
    env = {"PYTHONPATH": os.pathsep.join([str(clash_site), os.environ.get("PYTHONPATH", "")])}
    out = run_hrm("doctor", "--no-compare", env=env)
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1
    assert out.stderr.startswith("error: mlx-cuda-13 is installed, but this machine has no NVIDIA driver")
    assert "pip install --force-reinstall --no-deps mlx-cpu==0.32.4" in out.stderr
