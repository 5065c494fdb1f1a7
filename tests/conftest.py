"""Shared fixtures. The CPU set-up (an optimised BLAS, before any test imports mlx) runs first (engine/cpu)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import hrm_engine.cpu

hrm_engine.cpu.setup()  # an optimised BLAS before mlx is imported, the JIT flags, malloc

from hrm_paths import HRM, REPO  # noqa: E402,F401  (re-exported for fixtures)


@pytest.fixture
def run_hrm(tmp_path):
    """Run the real `hrm` console script in a subprocess; returns CompletedProcess (text)."""

    def _run(*args: str, input: str | None = None, cwd: Path | None = None, env: dict | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
        full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", **(env or {})}
        return subprocess.run([HRM, *args], input=input, capture_output=True, text=True,
                              cwd=cwd or tmp_path, env=full_env, timeout=timeout)

    return _run
