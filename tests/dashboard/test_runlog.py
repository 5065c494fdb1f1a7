"""hrm_cli.dashboard.runlog: the incremental JSONL tail, run discovery and status, training series."""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
import time

import pytest
from dash_helpers import NOW, write_bench_run, write_trace, write_training_run

from hrm_cli.dashboard.runlog import (AgentTrace, JsonlTail, RunLogError, RunScanner, TrainingRun, last_jsonl_record,
                               per_controller, split_metrics, summary_headline)
from hrm_engine.run.directory import RunDir


def _append(path, text: str | bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)


def test_tail_reads_only_new_bytes_and_keeps_the_partial_line(tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    tail = JsonlTail(path)
    assert tail.poll().missing
    _append(path, '{"step": 1}\n{"step": 2}\n{"st')
    batch = tail.poll()
    assert [r["step"] for r in batch.records] == [1, 2] and not batch.reset
    assert tail.pending_bytes == 4 and tail.offset == path.stat().st_size
    # nothing new: the file is not even opened
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-read")))
    assert tail.poll().records == []
    monkeypatch.setattr(builtins, "open", real_open)
    _append(path, 'ep": 3}\n')
    assert [r["step"] for r in tail.poll().records] == [3]
    assert tail.pending_bytes == 0 and tail.skipped == 0 and tail.records == 3


def test_tail_counts_malformed_lines_and_never_raises(tmp_path):
    path = tmp_path / "m.jsonl"
    _append(path, b'{"step": 1}\nnot json\n[1, 2]\n\n{"step": 2,\n\xff\xfe\n"str"\n{"step": 3}\n')
    tail = JsonlTail(path)
    assert [r["step"] for r in tail.poll().records] == [1, 3]
    assert tail.skipped == 5


def test_tail_in_small_chunks_gives_the_same_records(tmp_path):
    path = tmp_path / "m.jsonl"
    lines = [json.dumps({"step": i, "lm_loss": 1.0 / (i + 1), "note": "x" * (i % 7)}) for i in range(500)]
    path.write_text("\n".join(lines) + "\n")
    tail = JsonlTail(path, chunk_bytes=37)
    got, polls = [], 0
    while True:
        got += tail.poll().records
        polls += 1
        if tail.caught_up:
            break
    assert [r["step"] for r in got] == list(range(500)) and polls > 100 and tail.skipped == 0


def test_tail_resets_on_truncation_replacement_and_recreation(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n')
    tail = JsonlTail(path)
    assert len(tail.poll().records) == 3
    path.write_text('{"step": 1}\n')  # truncated in place
    batch = tail.poll()
    assert batch.reset and [r["step"] for r in batch.records] == [1]
    # replaced by a longer file (another inode), as RunDir.truncate_metrics_after does on resume
    tmp = tmp_path / "new.jsonl"
    tmp.write_text('{"step": 1}\n{"step": 5}\n{"step": 6}\n')
    os.replace(tmp, path)
    batch = tail.poll()
    assert batch.reset and [r["step"] for r in batch.records] == [1, 5, 6]
    path.unlink()
    batch = tail.poll()
    assert batch.missing and not batch.reset and tail.missing
    path.write_text('{"step": 9}\n')
    batch = tail.poll()
    assert batch.reset and [r["step"] for r in batch.records] == [9]


def test_tail_drops_an_overlong_line(tmp_path):
    path = tmp_path / "m.jsonl"
    _append(path, '{"step": 1}\n' + "x" * 5000)
    tail = JsonlTail(path, max_line_bytes=1000, chunk_bytes=600)
    got = []
    while not tail.caught_up or not got:
        got += tail.poll().records
    _append(path, 'yyy\n{"step": 2}\n')
    got += tail.poll().records
    assert [r["step"] for r in got] == [1, 2] and tail.skipped == 1


def test_last_record_reads_the_end_even_past_a_big_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"seq": 0}) + "\n" + json.dumps({"seq": 1, "big": "z" * 300_000}) + "\n" + '{"seq": 2')
    assert last_jsonl_record(path)["seq"] == 1
    assert last_jsonl_record(tmp_path / "none.jsonl") is None


def test_scanner_describes_real_and_scripted_runs(runs, tmp_path):
    write_trace(runs / "agent" / "20250102-030000-aaaa").close()  # finished trace (run_end, no result.json)
    write_trace(runs / "agent" / "20250102-030100-bbbb", upto=7).close()  # still running
    write_bench_run(runs / "bench" / "b1")
    (runs / "optimize" / "o1").mkdir(parents=True)
    scanner = RunScanner(runs)
    found = {r.name: r for r in scanner.scan()}
    assert set(found) == {"t", "20250102-030000-aaaa", "20250102-030100-bbbb", "b1", "o1"}
    t = found["t"]
    assert (t.kind, t.status) == ("train", "finished") and t.progress.startswith("step 12/12")
    assert "exact" in t.progress  # from checkpoints/best.json
    assert (found["20250102-030000-aaaa"].kind, found["20250102-030000-aaaa"].status) == ("agent", "answered")
    live = found["20250102-030100-bbbb"]
    assert live.status == "running" and live.progress == "#6 exec"
    assert (found["b1"].kind, found["b1"].status) == ("bench", "finished") and "hierarchical 0.667" in found["b1"].progress
    assert found["b1"].started == pytest.approx(NOW - 600)  # bench.json's created
    assert (found["o1"].kind, found["o1"].status) == ("optimize", "running")
    # an hour later nothing has moved: the live agent and the optimize run are judged crashed
    later = RunScanner(runs, clock=lambda: live.started + 3600 + 600)
    found = {r.name: r for r in later.scan()}
    assert found["20250102-030100-bbbb"].status == "crashed" and "no run_end" in found["20250102-030100-bbbb"].note
    assert found["o1"].status == "crashed" and found["t"].status == "finished"
    with pytest.raises(RunLogError):
        RunScanner(runs / "t" / "run.json")


def test_training_status_from_heartbeat_and_process(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_training_run(tmp_path / "alive", status="running", heartbeat=NOW - 5, pid=os.getpid())
    write_training_run(tmp_path / "gone", status="running", heartbeat=NOW - 5, pid=dead.pid)
    write_training_run(tmp_path / "stale", status="running", heartbeat=NOW - 7200, pid=os.getpid())
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "metrics.jsonl").write_text("")
    found = {r.name: r for r in RunScanner(tmp_path, clock=lambda: NOW).scan()}
    assert found["alive"].status == "running"
    assert found["gone"].status == "crashed" and "gone" in found["gone"].note
    assert found["stale"].status == "crashed" and "heartbeat" in found["stale"].note
    assert found["fresh"].status == "waiting"
    run = TrainingRun(tmp_path / "alive")
    run.poll()
    assert run.eta_s(NOW) == pytest.approx((400 - 200) / 2.0)  # total 400, step 200, 2 steps/s


def test_training_run_follows_the_real_metrics_and_a_resume(runs):
    run = TrainingRun(runs / "t")
    assert run.poll()
    lines = [json.loads(x) for x in (runs / "t" / "metrics.jsonl").read_text().splitlines()]
    train = [x for x in lines if x["type"] == "train"]
    evals = [x for x in lines if x["type"] == "eval"]
    assert len(run.log.train["lm_loss"]) == len(train) and len(run.log.eval["exact_accuracy"]) == len(evals) == 2
    assert run.log.last_eval == evals[-1] and run.current_step() == 12 and run.status(NOW)[0] == "finished"
    assert not run.poll()  # nothing new
    RunDir(runs / "t").truncate_metrics_after(4)  # what --resume does: replace the file with its first lines
    run.poll()
    assert [int(x) for x in run.log.train["lm_loss"].xs] == [x["step"] for x in train if x["step"] <= 4]


def test_series_points_are_bounded_and_end_with_the_newest(tmp_path):
    run = write_training_run(tmp_path / "r", steps=400)
    for step in range(410, 20_001, 10):
        run.log({"type": "train", "step": step, "lm_loss": 1.0, "exact_accuracy": None})
    t = TrainingRun(tmp_path / "r")
    t.poll()
    xs, ys = t.log.train["lm_loss"].points(300)
    assert len(xs) <= 301 and xs[-1] == 20_000 and xs[0] == 10
    assert len(t.log.train["exact_accuracy"]) == 40  # nulls (non-finite values) are left out
    run.log({"type": "train", "step": 20_010, "lm_loss": 0.9, "exact_accuracy": 0.0, "steps": 0.0, "count": 0.0})
    t.poll()
    # no row halted in that window: its accuracies and ACT steps are undefined, not 0; the loss is kept
    assert t.log.train["steps"].xs[-1] != 20_010 and t.log.train["lm_loss"].xs[-1] == 20_010


def test_real_bench_summary(tmp_path):
    """The layout hrm_agent.bench.runs.summarize writes: per-controller metrics, failures, accuracy by depth."""
    write_bench_run(tmp_path / "bench" / "b", complete=False)
    summary = json.loads((tmp_path / "bench" / "b" / "summary.json").read_text())
    rows = per_controller(summary)
    assert list(rows) == ["hierarchical", "flat"]
    metrics, failures = split_metrics(rows["hierarchical"])
    assert metrics["pass@1"] == pytest.approx(4 / 6) and metrics["time_s.mean"] == pytest.approx(3.5)
    assert "by_depth.2.pass@1" in metrics and "by_depth.2.tasks" not in metrics
    assert failures == {"spec_error": 1, "tool_misuse": 1}
    info = RunScanner(tmp_path, clock=lambda: time.time()).scan()[0]
    assert info.status == "running" and info.progress.startswith("12/16 items")


def test_agent_trace_poll(tmp_path):
    writer = write_trace(tmp_path / "a", upto=3)
    trace = AgentTrace(tmp_path / "a")
    trace.poll()
    assert [e["event"] for e in trace.events] == ["run_start", "model_call", "plan"] and not trace.finished
    _append(tmp_path / "a" / "trace.jsonl", '{"no_event": 1}\n')
    writer.emit("subgoal_start", round=1, index=1, subgoal="x")
    trace.poll()
    assert trace.events[-1]["event"] == "subgoal_start" and trace.skipped == 1
    writer.close()


@pytest.mark.parametrize("summary", [
    {"controllers": {"hrm": {"pass@1": 0.6, "failures": {"timeout": 1}}, "flat": {"pass@1": 0.5}}},
    {"controllers": [{"controller": "hrm", "pass@1": 0.6, "failures": {"timeout": 1}},
                     {"controller": "flat", "pass@1": 0.5}]},
    {"suite": "math", "hrm": {"pass@1": 0.6, "failures": {"timeout": 1}}, "flat": {"pass@1": 0.5},
     "config": {"samples": 1}},
    {"arms": {"hrm": {"pass@1": 0.6, "failure_categories": {"timeout": 1}, "recorded_failures": {"x": 9}},
              "flat": {"pass@1": 0.5}}},
])
def test_bench_summary_layouts(summary):
    rows = per_controller(summary)
    assert list(rows) == ["hrm", "flat"]
    metrics, failures = split_metrics(rows["hrm"])
    assert {k: v for k, v in metrics.items() if not k.startswith("recorded")} == {"pass@1": 0.6}
    assert failures == {"timeout": 1}
    assert summary_headline(summary) == "hrm 0.6  flat 0.5"
