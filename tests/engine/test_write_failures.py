"""Writes that fail leave nothing half-done: real full and read-only file systems (tmpfs), staging cleanup,
metrics that hold each step once after a resume, and the checkpoint saved before an evaluation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import mounts
import pytest
from mounts import leftovers, read_only

from hrm_datasets.build_sudoku import build_sudoku
from hrm_engine.run.checkpoint import list_checkpoints, load_checkpoint
from hrm_engine.config import resolve_config
from hrm_engine.run.directory import RunDir
from hrm_engine.train import TrainingInterrupted, Unobserved, run_training
from hrm_datasets.files import WRITE_EXIT_CODE, WriteError, clean_stale, reason

small_disk = mounts.small_disk  # the fixture
TINY = ["arch.hidden_size=32", "arch.num_heads=2", "arch.H_layers=1", "arch.L_layers=1", "global_batch_size=16",
        "log_interval=1", "lr_warmup_steps=2", "arch.halt_max_steps=2", "eval_interval=null"]


def cfg(runs_dir, *extra):
    return resolve_config("hrm-tiny", None, [*TINY, f"runs_dir={runs_dir}", *extra])


def dead_pid() -> int:
    """The PID of a process that has exited (not reused this soon)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def steps_logged(run) -> list[tuple[str, int]]:
    return [(r["type"], r["step"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


def test_full_disk_during_training_fails_cleanly(sudoku4, small_disk):
    disk = small_disk("1m")  # room for one checkpoint of the tiny model (~0.8 MB), not two
    with pytest.raises(WriteError) as err:
        run_training(cfg(disk, "max_steps=20", "checkpoint_interval=5", "keep_checkpoints=5"), sudoku4, run_name="r")
    run = disk / "r"
    message = str(err.value)
    assert err.value.exit_code == WRITE_EXIT_CODE == 4
    assert f"cannot write checkpoint {run}/checkpoints/step_0000010: no space left on device" in message
    assert f"run {run} marked failed" in message and "\n" not in message
    assert leftovers(disk) == []  # the half-written .step_0000010.tmp-PID is gone
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "failed" and info["step"] == 10 and "no space left on device" in info["error"]
    assert [p.name for p in list_checkpoints(run)] == ["step_0000005"]
    assert load_checkpoint(run).step == 5  # the one before is whole
    assert all(line.endswith("}") for line in (run / "metrics.jsonl").read_text().splitlines())


def test_read_only_run_directory_is_one_error_and_changes_nothing(sudoku4, small_disk):
    disk = small_disk("4m")
    run_training(cfg(disk, "max_steps=3"), sudoku4, run_name="r")
    before = {p: p.stat().st_mtime_ns for p in (disk / "r").rglob("*")}
    read_only(disk)
    with pytest.raises(WriteError, match=r"cannot write .*: read-only file system") as err:
        run_training(cfg(disk, "max_steps=6"), sudoku4, resume=disk / "r")
    assert "marked failed" not in str(err.value)  # run.json cannot be written either: not claimed
    assert {p: p.stat().st_mtime_ns for p in (disk / "r").rglob("*")} == before


def test_data_build_on_a_full_or_read_only_disk(small_disk):
    disk = small_disk("100k")
    with pytest.raises(WriteError, match=r"cannot write dataset .*/s4 \(train/all__\w+\.npy\): no space left"):
        build_sudoku(disk / "s4", size=4, difficulty="easy", count=3000, test_count=8, seed=0)
    assert list(disk.iterdir()) == []  # no staging, no half dataset
    read_only(disk)
    with pytest.raises(WriteError, match="read-only file system"):
        build_sudoku(disk / "s4", size=4, difficulty="easy", count=8, test_count=8, seed=0)


def test_import_reference_on_a_full_disk_leaves_nothing(small_disk):
    from hrm_paths import REPO

    from hrm_engine.reference.convert import import_reference

    fixture = REPO / "tests" / "fixtures" / "parity" / "h64-rope-act4"
    disk = small_disk("300k")
    with pytest.raises(WriteError, match=f"cannot write run directory {disk}/ref: no space left on device"):
        import_reference(fixture / "weights.safetensors", disk / "ref", arch_config=fixture / "config.json")
    assert list(disk.iterdir()) == []


def test_agent_trace_on_a_full_disk_keeps_whole_events(small_disk):
    from hrm_agent.trace import TraceWriter, read_trace

    disk = small_disk("64k")
    trace = TraceWriter(disk / "run")
    with pytest.raises(WriteError, match="trace.jsonl: no space left on device"):
        for i in range(100):
            trace.emit("model_reply", text="x" * 5000, i=i)
    trace.close()
    events = read_trace(disk / "run")
    assert events and (disk / "run" / "trace.jsonl").read_bytes().endswith(b"\n")
    assert [e["i"] for e in events] == list(range(len(events)))


def test_staging_left_by_dead_processes_is_cleaned_when_the_run_starts_again(sudoku4, tmp_path):
    run_training(cfg(tmp_path, "max_steps=2"), sudoku4, run_name="r")
    run, dead = tmp_path / "r", dead_pid()
    stale = [run / "checkpoints" / f".step_0000002.tmp-{dead}", run / f".run.json.tmp-{dead}",
             run / "checkpoints" / ".best.tmp"]
    live = run / "checkpoints" / f".step_0000002.tmp-{os.getppid()}"  # a writer still running: left alone
    for path in (stale[0], live):
        path.mkdir()
        (path / "model.safetensors").write_bytes(b"half")
    for path in stale[1:]:
        path.write_text("{")
    run_training(cfg(tmp_path, "max_steps=4"), sudoku4, resume=run)
    assert leftovers(tmp_path) == [str(live.relative_to(tmp_path))]
    assert clean_stale(run / "checkpoints") == []  # nothing more of dead writers


def test_resume_without_a_checkpoint_logs_each_step_once(sudoku4, tmp_path):
    run_training(cfg(tmp_path, "max_steps=4"), sudoku4, run_name="r")
    for ckpt in list_checkpoints(tmp_path / "r"):  # as if killed before its first checkpoint
        subprocess.run(["rm", "-r", str(ckpt)], check=True)
    run_training(cfg(tmp_path, "max_steps=4"), sudoku4, resume=tmp_path / "r")
    assert steps_logged(tmp_path / "r") == [("train", 1), ("train", 2), ("train", 3), ("train", 4), ("eval", 4)]


def test_checkpoint_comes_before_the_final_evaluation_and_a_signal_stops_it(sudoku4, tmp_path):
    config = cfg(tmp_path, "max_steps=3", "eval_batch_size=4")  # 16 test rows: 4 evaluation batches
    seen = []

    class SignalDuringEval(Unobserved):
        def eval_progress(self, done, total):
            seen.append((done, total))
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingInterrupted) as stop:
        run_training(config, sudoku4, run_name="r", observer=SignalDuringEval())
    run = tmp_path / "r"
    assert seen == [(4, 16)] and stop.value.args[0]["signal"] == "SIGTERM"
    state = json.loads((run / "checkpoints" / "step_0000003" / "state.json").read_text())
    assert state["eval_pending"] is True and "eval" not in state  # saved before the evaluation ran
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted" and info["signal"] == "SIGTERM" and info["step"] == 3
    summary = run_training(config, sudoku4, resume=run)  # the interrupted evaluation runs again, once
    assert summary["status"] == "finished" and summary["last_eval"]["count"] == 16
    assert steps_logged(run) == [("train", 1), ("train", 2), ("train", 3), ("eval", 3)]
    state = json.loads((run / "checkpoints" / "step_0000003" / "state.json").read_text())
    assert "eval_pending" not in state and state["eval"]["count"] == 16
    assert leftovers(tmp_path) == []


def test_write_reasons_from_errno_and_from_the_file_system(tmp_path):
    assert reason(OSError(28, "No space left on device")) == "no space left on device"
    assert reason(OSError(30, "Read-only file system")) == "read-only file system"
    assert reason(RuntimeError("[write] Unable to write 10 bytes to file."), tmp_path) == (
        "[write] Unable to write 10 bytes to file.")  # a roomy, writable disk: MLX's own words
    assert RunDir(tmp_path / "r").mark_failed("cannot write x: no space left on device")
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "failed"
