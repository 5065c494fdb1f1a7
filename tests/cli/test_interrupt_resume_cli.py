"""Real `hrm train` processes stopped by SIGTERM and kill -9, then resumed: exit codes, run.json, each step
once in metrics.jsonl, final parameters bit-identical to a run that never stopped; a full disk is exit 4."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mounts
import numpy as np
import pytest
from hrm_paths import HRM

small_disk = mounts.small_disk  # the fixture
STEPS = 60
TINY = ["arch.hidden_size=32", "arch.num_heads=2", "arch.H_layers=1", "arch.L_layers=1", "global_batch_size=16",
        "arch.halt_max_steps=2", f"max_steps={STEPS}", "log_interval=1", "eval_interval=null",
        "checkpoint_interval=10"]
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
# a real `hrm train` that kills itself with SIGKILL right after logging step KILL_AT (a deterministic kill -9)
KILL_SCRIPT = """
import os, signal, sys
from hrm_cli.main import main
from hrm_engine.run import directory as runs
kill_at, log = int(sys.argv[1]), runs.RunDir.log
def log_then_die(self, record):
    log(self, record)
    if record.get("step") == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
runs.RunDir.log = log_then_die
sys.argv = ["hrm", "train", *sys.argv[2:]]
main()
"""


def hrm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([HRM, *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=300)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A dataset and a run that never stopped (what every interrupted-and-resumed run must equal)."""
    root = tmp_path_factory.mktemp("interrupt")
    assert hrm("data", "build", "sudoku", "--size", "4", "--count", "64", "--test-count", "8", "-o", "d4",
               cwd=root).returncode == 0
    out = hrm("train", "d4", *TINY, "--run-name", "full", "--json", cwd=root)
    assert out.returncode == 0, out.stderr
    return root


def final_arrays(run: Path) -> dict[str, np.ndarray]:
    import mlx.core as mx

    ckpt = run / "checkpoints" / f"step_{STEPS:07d}"
    return {f"{name}:{k}": np.array(v) for name in ("model", "optimizer")
            for k, v in mx.load(str(ckpt / f"{name}.safetensors")).items()}


def assert_same_as_uninterrupted(root: Path, run: Path) -> None:
    full, resumed = final_arrays(root / "runs" / "full"), final_arrays(run)
    assert full.keys() == resumed.keys()
    different = [k for k in full if not np.array_equal(full[k], resumed[k])]
    assert not different, different[:5]


def logged(run: Path) -> list[tuple[str, int]]:
    return [(r["type"], r["step"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


def test_sigterm_saves_a_checkpoint_exits_143_and_resumes_exactly(baseline):
    root, run = baseline, baseline / "runs" / "term"
    proc = subprocess.Popen([HRM, "train", "d4", *TINY, "--run-name", "term"], cwd=root, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:  # wait for the first logged step
        try:
            if json.loads((run / "run.json").read_text()).get("step", 0) >= 1:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be sent SIGTERM"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    info = json.loads((run / "run.json").read_text())
    step = info["step"]
    assert info["status"] == "interrupted" and info["signal"] == "SIGTERM" and 1 <= step < STEPS
    assert f"interrupted by SIGTERM: checkpoint saved at step {step};" in err
    assert (run / "checkpoints" / f"step_{step:07d}" / "state.json").is_file()
    out = hrm("train", "d4", "--resume", "runs/term", cwd=root)  # piped: plain progress lines, no bar
    assert out.returncode == 0, out.stderr
    assert "eval: 8 test examples" in out.stderr  # the final evaluation says what it is doing
    assert logged(run) == [("train", s) for s in range(1, STEPS + 1)] + [("eval", STEPS)]
    assert_same_as_uninterrupted(root, run)


@pytest.mark.parametrize("kill_at", [3, 13], ids=["before-first-checkpoint", "after-a-checkpoint"])
def test_kill_9_then_resume_logs_each_step_once_and_ends_bit_identical(baseline, kill_at):
    root, name = baseline, f"killed{kill_at}"
    run = root / "runs" / name
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(kill_at), "d4", *TINY, "--run-name", name],
                            cwd=root, capture_output=True, text=True, env=ENV, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert logged(run)[-1] == ("train", kill_at)
    assert json.loads((run / "run.json").read_text())["status"] == "running"  # what kill -9 leaves
    out = hrm("train", "d4", "--resume", f"runs/{name}", "--json", cwd=root)
    assert out.returncode == 0, out.stderr
    assert logged(run) == [("train", s) for s in range(1, STEPS + 1)] + [("eval", STEPS)]
    assert_same_as_uninterrupted(root, run)


def test_a_full_disk_is_one_line_and_exit_4(baseline, small_disk):
    disk = small_disk("1m")
    out = hrm("train", "d4", *TINY, f"runs_dir={disk}", "--run-name", "r", cwd=baseline)
    assert out.returncode == 4, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert lines == [f"error: cannot write checkpoint {disk}/r/checkpoints/step_0000020: no space left on "
                     f"device (free some space or write elsewhere; run {disk}/r marked failed)"], out.stderr
    assert "Traceback" not in out.stderr
    assert json.loads((disk / "r" / "run.json").read_text())["status"] == "failed"
    tiny = small_disk("32k")
    build = hrm("data", "build", "sudoku", "--size", "4", "--count", "600", "-o", f"{tiny}/big", cwd=baseline)
    assert build.returncode == 4 and "Traceback" not in build.stderr, build.stderr
    assert build.stderr.startswith(f"error: cannot write dataset {tiny}/big (train/") and "no space left" in build.stderr
    assert list(tiny.iterdir()) == []
