"""The CPU set-up runs only when called (the CLI's start-up, the test suite), never on import."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = """
import os, sys
path = os.environ["PATH"]
import hrm_engine.cpu, hrm_engine.models.build, hrm_cli.main
from hrm_engine.cpu import alloc, blas, jit
assert "mlx.core" not in sys.modules, "importing hrm or its CLI imported mlx: the BLAS could not come first"
assert blas.info().path is None and jit.active_flags() is None and not alloc.tuned(), "set-up ran on import"
assert os.environ["PATH"] == path, "the compiler wrapper went on PATH on import"
report = hrm_engine.cpu.setup()
assert hrm_engine.cpu.setup() is report
import mlx.core
print(report.blas.optimised, report.blas.path == blas.info().path, report.jit_flags == jit.active_flags(),
      report.malloc_tuned == alloc.tuned(), jit.active_flags() is None or os.environ["PATH"] != path)
"""


def test_setup_is_explicit_and_runs_once(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "HRM_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    optimised, *agree = out.stdout.split()
    assert agree == ["True"] * 4
    if sys.platform == "linux" and os.path.exists("/usr/lib/x86_64-linux-gnu/libopenblas.so.0"):
        assert optimised == "True"  # `make setup` installs OpenBLAS; setup() loaded it before mlx
