"""Shared fixtures. The CPU set-up (an optimised BLAS, before any test imports mlx) runs first (engine/cpu)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import hrm_engine.cpu

hrm_engine.cpu.setup()  # an optimised BLAS before mlx is imported, the JIT flags, malloc

from hrm_paths import HRM, REPO  # noqa: E402,F401  (re-exported for fixtures)

BLAS_THREADS = hrm_engine.cpu.blas.get_threads()  # what a fresh `hrm` process starts with


@pytest.fixture(autouse=True)
def _blas_threads_as_at_start():
    """No test inherits another's BLAS thread count.

    Building an HRM or TRM model on a CPU with several cores sets OpenBLAS to one thread for the whole
    process (cpu_streams: the streams are the parallelism). A later test that compared its in-process
    numbers with a subprocess's then differed: one thread against two changed a LoRA weight by 8.6e-5
    after 3 Adam steps (tests/agent/test_tune.py, after test_hrm_tool). So each test starts as a fresh
    process does.
    """
    if BLAS_THREADS is not None:
        hrm_engine.cpu.blas.set_threads(BLAS_THREADS)
    yield


@pytest.fixture
def run_hrm(tmp_path):
    """Run the real `hrm` console script in a subprocess; returns CompletedProcess (text)."""

    def _run(*args: str, input: str | None = None, cwd: Path | None = None, env: dict | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
        full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", **(env or {})}
        return subprocess.run([HRM, *args], input=input, capture_output=True, text=True,
                              cwd=cwd or tmp_path, env=full_env, timeout=timeout)

    return _run


@pytest.fixture(scope="session")
def sudoku4(tmp_path_factory) -> Path:
    """4x4 easy Sudoku (64 training puzzles, 16 test, seed 0), built once for the session: the tests that
    train, resume and evaluate tiny models read it and never write into it."""
    from hrm_datasets.build_sudoku import build_sudoku

    out = tmp_path_factory.mktemp("sudoku4") / "s4"
    build_sudoku(out, size=4, difficulty="easy", count=64, test_count=16, seed=0)
    return out
