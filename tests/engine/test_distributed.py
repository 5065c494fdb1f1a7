"""Data parallelism with mx.distributed: 2 ring processes on 127.0.0.1 match one process.

One process with global batch B and two processes with B/2 each must end with the same parameters
(puzzle-embedding table included), the same summed metrics and the same global ACT carry.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hrm_datasets.build_sudoku import build_sudoku

SCRIPT = Path(__file__).with_name("dist_steps.py")
LAUNCH = Path(sys.executable).with_name("mlx.launch")
OVERRIDES = ["global_batch_size=16", "arch.hidden_size=32", "arch.num_heads=2", "arch.H_layers=1",
             "arch.L_layers=1", "arch.halt_exploration_prob=0.5", "lr_warmup_steps=1", "puzzle_emb_lr=0.01"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist") / "s4"
    build_sudoku(root, size=4, difficulty="easy", count=64, test_count=8, num_aug=1, seed=3)
    return root


def _alone(data: Path, out: Path, steps: int) -> dict:
    subprocess.run([sys.executable, str(SCRIPT), str(data), str(out), str(steps), *OVERRIDES], check=True,
                   timeout=300)
    return dict(np.load(out))


def test_two_ring_processes_match_one_process(data, tmp_path):
    if not LAUNCH.exists():
        pytest.skip("mlx.launch is not installed next to this Python")
    one = _alone(data, tmp_path / "one.npz", 3)
    two_path = tmp_path / "two.npz"
    proc = subprocess.run([str(LAUNCH), "--backend", "ring", "-n", "2", "--starting-port", str(_free_port()), "--",
                           sys.executable, str(SCRIPT), str(data), str(two_path), "3", *OVERRIDES],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rank 1/2 done" in proc.stdout and "rank 0/2 done" in proc.stdout
    two = dict(np.load(two_path))
    assert set(one) == set(two)
    np.testing.assert_allclose(two["metrics"], one["metrics"], rtol=1e-4, atol=1e-5)
    for key in one:
        if key.startswith("param/"):
            np.testing.assert_allclose(two[key], one[key], rtol=1e-4, atol=2e-5, err_msg=key)
        elif key.startswith("carry/") and one[key].dtype != np.float32:
            np.testing.assert_array_equal(two[key], one[key], err_msg=key)  # same rows, same halting
    # training really moved the parameters, so the comparison means something
    fresh = _alone(data, tmp_path / "zero.npz", 0)
    assert not np.allclose(fresh["param/puzzle_emb"], one["param/puzzle_emb"])
