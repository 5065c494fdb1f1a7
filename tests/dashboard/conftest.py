"""Dashboard fixtures: a real tiny training run (hrm data build + hrm train, once per session)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HRM_BIN = str(Path(sys.executable).with_name("hrm"))


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory) -> Path:
    """`runs/t`: a finished 12-step training run with 2 evaluations, made by the real CLI (~10 s)."""
    root = tmp_path_factory.mktemp("dash-train")
    env = {**os.environ, "NO_COLOR": "1"}

    def hrm(*args: str) -> None:
        out = subprocess.run([HRM_BIN, *args], cwd=root, capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr

    hrm("data", "build", "sudoku", "--size", "4", "--count", "200", "--test-count", "20", "--output", "D")
    hrm("train", "D", "--config", "hrm-tiny", "epochs=2", "eval_interval=1", "global_batch_size=32",
        "log_interval=2", "runs_dir=runs", "--run-name", "t")
    return root / "runs"


@pytest.fixture
def runs(tmp_path, trained_runs) -> Path:
    """A private copy of the trained runs directory (tests append to and delete its files)."""
    dest = tmp_path / "runs"
    shutil.copytree(trained_runs, dest)
    return dest


@pytest.fixture
def utc(monkeypatch):
    """Times render the same everywhere (snapshots)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def _colour_env(monkeypatch):
    """Tests choose NO_COLOR themselves; the developer's terminal settings must not leak in."""
    for name in ("NO_COLOR", "TEXTUAL_COLOR_SYSTEM", "TEXTUAL_FILTERS"):
        monkeypatch.delenv(name, raising=False)
