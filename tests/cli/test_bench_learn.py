"""`hrm bench learn` through the real console script: a short curve, its file, and one-line errors."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest

from hrm_paths import HRM

TINY = ["global_batch_size=16", "arch.hidden_size=32", "arch.num_heads=2", "arch.H_layers=1", "arch.L_layers=1",
        "arch.halt_max_steps=2"]


def test_a_short_run_prints_plain_lines_when_piped_and_writes_the_curve(run_hrm, sudoku4, tmp_path):
    out = tmp_path / "curves" / "c.json"
    r = run_hrm("bench", "learn", str(sudoku4), "--config", "hrm-tiny", "--budget", "0.02", "--eval-every", "0.5",
                "--eval-examples", "8", "--out", str(out), "--label", "tiny", *TINY)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stdout + r.stderr and "\x1b[" not in r.stdout + r.stderr  # no bar, no escapes: piped
    lines = r.stdout.splitlines()
    assert lines[0].startswith("learn hrm-tiny (hrm_tiny) on ") and "curve" in lines[0]
    assert any("exact" in line and "step" in line for line in lines[1:-1])
    assert lines[-1].startswith("done (budget)") or "done (budget)" in r.stdout
    curve = json.loads(out.read_text())
    assert curve["format"] == "hrm-learn-curve/1" and curve["label"] == "tiny" and curve["stop_reason"] == "budget"
    assert curve["data"]["eval_examples"] == 8 and curve["config"]["global_batch_size"] == 16


def test_json_prints_the_curve_only(run_hrm, sudoku4, tmp_path):
    r = run_hrm("bench", "learn", str(sudoku4), "--target", "0", "--eval-every", "0.3", "--out", str(tmp_path / "c.json"),
                "--json", *TINY)
    assert r.returncode == 0, r.stderr
    curve = json.loads(r.stdout)
    assert curve["stop_reason"] == "target" and len(curve["points"]) == 1
    assert json.loads((tmp_path / "c.json").read_text()) == curve


@pytest.mark.parametrize("args, message", [
    (["--target", "1.5"], "--target 1.5 is not an exact accuracy"),
    (["--budget", "0"], "--budget 0.0 is not a training time"),
    (["--budget", "-3"], "--budget -3.0 is not a training time"),
    (["--eval-every", "0"], "--eval-every 0.0 is not an interval"),
    (["--eval-examples", "0"], "--eval-examples 0 is not a count"),
    (["--target", "high"], "'--target'"),
    (["--config", "no-such-preset"], "unknown config preset 'no-such-preset'"),
    (["lr=-1"], "config key 'lr'"),
])
def test_bad_input_is_one_line_and_exit_2(run_hrm, sudoku4, tmp_path, args, message):
    r = run_hrm("bench", "learn", str(sudoku4), "--out", str(tmp_path / "c.json"), *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "c.json").exists()


def test_missing_data_is_one_line_and_exit_2(run_hrm, tmp_path):
    r = run_hrm("bench", "learn", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "dataset folder" in r.stderr and "hrm data build" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "file").write_text("x")
    r = run_hrm("bench", "learn", str(tmp_path / "file"))
    assert r.returncode == 2 and "is not a folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_terminal_gets_a_progress_bar_with_an_eta(sudoku4, tmp_path):
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "LINES": "40", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([HRM, "bench", "learn", str(sudoku4), "--budget", "0.03", "--eval-every", "0.6",
                             "--out", str(tmp_path / "c.json"), *TINY],
                            cwd=tmp_path, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))
    assert proc.wait(timeout=120) == 0, text
    assert "train" in text and "best exact" in text and re.search(r"-?\d+:\d\d:\d\d", text)  # bar, elapsed, ETA
    assert text.index("parameters") < text.index("best exact") and "done (budget)" in text


def test_save_writes_a_run_that_hrm_eval_scores_as_the_curve_did(run_hrm, sudoku4, tmp_path):
    run = tmp_path / "runs" / "saved"
    r = run_hrm("bench", "learn", str(sudoku4), "--config", "hrm-tiny", "--target", "0", "--eval-every", "0.3",
                "--out", str(tmp_path / "c.json"), "--save", str(run), "--json", *TINY)
    assert r.returncode == 0, r.stderr
    curve = json.loads(r.stdout)
    last = curve["points"][-1]
    assert curve["checkpoint"].endswith(f"step_{last['step']:07d}")
    assert json.loads((run / "run.json").read_text())["step"] == last["step"]
    assert (run / "config.yaml").is_file() and (run / "dataset.json").is_file()
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    assert best["exact_accuracy"] == last["exact_accuracy"]
    ev = run_hrm("eval", str(run), "--data", str(sudoku4), "--json")
    assert ev.returncode == 0, ev.stderr
    scored = json.loads(ev.stdout)
    metrics = scored.get("metrics", scored)
    assert metrics["accuracy"] == pytest.approx(last["accuracy"], abs=1e-6)
    assert metrics["exact_accuracy"] == pytest.approx(last["exact_accuracy"], abs=1e-6)
    again = run_hrm("bench", "learn", str(sudoku4), "--config", "hrm-tiny", "--target", "0", "--eval-every", "0.3",
                    "--out", str(tmp_path / "c2.json"), "--save", str(run), *TINY)  # never over a saved run
    assert again.returncode == 2 and "already exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1
