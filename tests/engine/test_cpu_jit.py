"""The g++ wrapper that lets MLX's CPU JIT target this CPU."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from hrm_engine import cpu_jit

pytestmark = pytest.mark.skipif(sys.platform != "linux" or shutil.which("g++") is None, reason="Linux with g++ only")


def test_wrapper_adds_the_flags_and_still_compiles(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HRM_CPU_JIT_FLAGS", "-march=native")
    monkeypatch.setenv("PATH", os.environ["PATH"])
    assert cpu_jit.install() == "-march=native"
    wrapper = tmp_path / "jit" / "g++"
    assert os.environ["PATH"].split(os.pathsep)[0] == str(tmp_path / "jit")
    assert "-march=native" in wrapper.read_text()
    assert cpu_jit.install() == "-march=native"  # idempotent: PATH gets the folder once
    assert os.environ["PATH"].split(os.pathsep).count(str(tmp_path / "jit")) == 1
    src = tmp_path / "k.cpp"
    src.write_text('extern "C" float f(float* x, int n) { float s = 0; for (int i = 0; i < n; ++i) s += x[i]; '
                   "return s; }\n")
    out = subprocess.run(["g++", "-O3", "-fPIC", "-shared", str(src), "-o", str(tmp_path / "k.so")],
                         capture_output=True, text=True, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "k.so").is_file()


def test_empty_flags_turn_it_off(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HRM_CPU_JIT_FLAGS", "")
    monkeypatch.setenv("PATH", os.environ["PATH"])
    before = os.environ["PATH"]
    assert cpu_jit.install() is None
    assert os.environ["PATH"] == before and not (tmp_path / "jit").exists()


def test_flags_the_compiler_refuses_leave_mlx_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HRM_CPU_JIT_FLAGS", "-mno-such-flag-anywhere")
    monkeypatch.setenv("PATH", os.environ["PATH"])
    before = os.environ["PATH"]
    assert cpu_jit.install() is None
    assert os.environ["PATH"] == before and not (tmp_path / "jit" / "g++").exists()
