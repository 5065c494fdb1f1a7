"""The g++ wrapper that lets MLX's CPU JIT target this CPU."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from hrm_engine.cpu import jit as cpu_jit

pytestmark = pytest.mark.skipif(sys.platform != "linux" or shutil.which("g++") is None, reason="Linux with g++ only")


def test_wrapper_adds_the_flags_and_still_compiles(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HRM_CPU_JIT_FLAGS", cpu_jit.DEFAULT_FLAGS)
    monkeypatch.setenv("PATH", os.environ["PATH"])
    assert cpu_jit.install() == cpu_jit.DEFAULT_FLAGS
    wrapper = tmp_path / "jit" / "g++"
    assert os.environ["PATH"].split(os.pathsep)[0] == str(tmp_path / "jit")
    assert cpu_jit.DEFAULT_FLAGS in wrapper.read_text()
    assert cpu_jit.install() == cpu_jit.DEFAULT_FLAGS  # idempotent: PATH gets the folder once
    assert cpu_jit.active_flags() == cpu_jit.DEFAULT_FLAGS
    assert os.environ["PATH"].split(os.pathsep).count(str(tmp_path / "jit")) == 1
    src = tmp_path / "k.cpp"
    src.write_text('extern "C" float f(float* x, int n) { float s = 0; for (int i = 0; i < n; ++i) s += x[i]; '
                   "return s; }\n")
    out = subprocess.run(["g++", "-O3", "-fPIC", "-shared", str(src), "-o", str(tmp_path / "k.so")],
                         capture_output=True, text=True, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "k.so").is_file()


@pytest.mark.parametrize("flags", ["", "-mno-such-flag-anywhere"], ids=["empty-turns-it-off", "refused-by-g++"])
def test_no_wrapper_when_flags_are_empty_or_refused_so_mlx_keeps_its_own_jit(flags, tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HRM_CPU_JIT_FLAGS", flags)
    monkeypatch.setenv("PATH", os.environ["PATH"])
    before = os.environ["PATH"]
    assert cpu_jit.install() is None
    assert os.environ["PATH"] == before and not (tmp_path / "jit").exists()


def test_wrappers_of_other_cache_dirs_are_skipped_so_they_never_loop(tmp_path, monkeypatch):
    """A child with another HRM_CACHE_DIR inherits a PATH that starts with its parent's wrapper."""
    real = cpu_jit.real_compiler(os.environ["PATH"].split(os.pathsep))
    monkeypatch.setenv("HRM_CPU_JIT_FLAGS", cpu_jit.DEFAULT_FLAGS)
    monkeypatch.setenv("PATH", os.environ["PATH"])
    a, b = tmp_path / "a", tmp_path / "b"
    for first, second in ((a, b), (b, a), (a, b)):
        monkeypatch.setenv("HRM_CACHE_DIR", str(first))
        assert cpu_jit.install() == cpu_jit.DEFAULT_FLAGS
        monkeypatch.setenv("HRM_CACHE_DIR", str(second))
        assert cpu_jit.install() == cpu_jit.DEFAULT_FLAGS
    for folder in (a, b):
        script = (folder / "jit" / "g++").read_text()
        assert f"exec {real} {cpu_jit.DEFAULT_FLAGS}" in script
    assert os.environ["PATH"].split(os.pathsep)[:2] == [str(b / "jit"), str(a / "jit")]
    out = subprocess.run(["g++", "--version"], capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert out.returncode == 0 and out.stdout


def test_kernels_built_with_other_flags_are_rebuilt_once(tmp_path, monkeypatch):
    """MLX keys its kernel cache by graph only: generic kernels would otherwise be reused for ever."""
    from importlib.metadata import version

    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setenv("HRM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HRM_CPU_JIT_FLAGS", cpu_jit.DEFAULT_FLAGS)
    monkeypatch.setenv("PATH", os.environ["PATH"])
    kernels = tmp_path / "tmp" / "mlx" / version("mlx") / "cpu"
    kernels.mkdir(parents=True)
    (kernels / "libOld.so").write_bytes(b"generic")
    (kernels / "Old.cpp").write_text("// source")
    assert cpu_jit.install() == cpu_jit.DEFAULT_FLAGS
    assert (kernels / "libOld.so").exists()  # the wrapper alone deletes nothing: that is a step of its own
    assert cpu_jit.forget_stale_kernels() is True
    assert not (kernels / "libOld.so").exists() and (kernels / "Old.cpp").exists()
    assert (kernels / ".hrm-jit-flags").read_text().startswith(cpu_jit.DEFAULT_FLAGS + "\ncpu ")
    (kernels / "libNew.so").write_bytes(b"built with the flags")
    assert cpu_jit.forget_stale_kernels() is False
    assert (kernels / "libNew.so").exists()
    monkeypatch.setattr(cpu_jit, "_cpu_signature", lambda: "another-cpu")  # e.g. a /tmp carried to a new host
    assert cpu_jit.forget_stale_kernels() is True
    assert not (kernels / "libNew.so").exists()
