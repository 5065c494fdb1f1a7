"""Selective answering in the bench and the report (agent/bench/selective.py, issue 32): answered-wrong,
abstention, accuracy among answered with bootstrap intervals, and the accuracy-coverage curve from one run,
checked on hand-made rows and on a real bench against the scripted server."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from hrm_agent.bench.plots import coverage_figure
from hrm_agent.bench.report import write_report
from hrm_agent.bench.runs import make_plan, run_bench
from hrm_agent.bench.selective import coverage_curve, selective_metrics
from hrm_engine.config import resolve_config


def _row(task, status, passed, agreement=None, votes=None, candidate_pass=None, candidate="Answer: 1"):
    return {"task_id": task, "status": status, "pass": passed, "votes": votes, "agreement": agreement,
            "candidate": candidate if (status == "answered" or candidate_pass is not None) else None,
            "candidate_pass": passed if status == "answered" else candidate_pass}


ROWS = [
    _row("a", "answered", True, agreement=5, votes=5),
    _row("b", "answered", True, agreement=3, votes=5),
    _row("c", "answered", False, agreement=3, votes=5),
    _row("d", "no_answer", False, agreement=2, votes=5, candidate_pass=False),  # no_agreement, would be wrong
    _row("e", "no_answer", False, agreement=2, votes=5, candidate_pass=True),  # no_agreement, would be right
    _row("f", "no_answer", False),  # no_successful_code: nothing to answer at any threshold
]


def test_rates_and_intervals_on_hand_made_rows():
    m = selective_metrics(ROWS, n_boot=500, seed=1)
    assert m["items"] == 6
    assert (m["pass@1"]["value"], m["pass@1"]["count"]) == (pytest.approx(2 / 6), 2)
    assert (m["answered_wrong"]["count"], m["answered_wrong"]["of"]) == (1, 6)
    assert (m["abstained"]["count"], m["abstained"]["value"]) == (3, 0.5)
    assert (m["accuracy_answered"]["count"], m["accuracy_answered"]["of"]) == (2, 3)
    lo, hi = m["accuracy_answered"]["ci95"]
    assert 0.0 <= lo <= 2 / 3 <= hi <= 1.0 and lo < hi
    assert m["pass@1"]["ci95"] == selective_metrics(ROWS, n_boot=500, seed=1)["pass@1"]["ci95"]  # seeded


def test_the_curve_reads_every_threshold_off_one_run():
    curve = {p["threshold"]: p for p in coverage_curve(ROWS)}
    assert sorted(curve) == [1, 2, 3, 4, 5]
    assert (curve[2]["answered"], curve[2]["correct"]) == (5, 3)  # d and e answer at t = 2
    assert (curve[3]["answered"], curve[3]["correct"]) == (3, 2)  # the run's own threshold
    assert (curve[5]["answered"], curve[5]["correct"], curve[5]["accuracy"]) == (1, 1, 1.0)
    assert [curve[t]["coverage"] for t in range(1, 6)] == [5 / 6, 5 / 6, 3 / 6, 1 / 6, 1 / 6]


def test_rows_from_before_voting_are_one_point():
    old = [{"task_id": "a", "status": "answered", "pass": True, "answer": "Answer: 1"},
           {"task_id": "b", "status": "answered", "pass": False, "answer": "Answer: 2"},
           {"task_id": "c", "status": "no_answer", "pass": False, "answer": None}]
    (point,) = coverage_curve(old)
    assert (point["threshold"], point["answered"], point["correct"]) == (1, 2, 1)


def test_coverage_figure_draws_one_labelled_line_per_arm():
    fig = coverage_figure("t", [("flat", [1.0, 0.5], [0.4, 0.8], ["t=1", "t=2"]),
                                ("hierarchical", [0.9, None], [0.5, None], ["t=1", "t=2"])])
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["flat", "hierarchical"]
    assert [t.get_text() for t in ax.texts] == ["t=1", "t=2", "t=1"]


SUITE = """
name: votes
kind: numeric
tasks:
  - id: mul
    prompt: What is 17 * 23?
    answer: 391
  - id: pct
    prompt: What is 35 percent of 240?
    answer: 84
  - id: sum
    prompt: What is the sum of the integers from 1 to 50?
    answer: 1275
"""
# the flat model's sampled programs by task and seed: mul agrees on the right value, pct 2 of 3 on a wrong
# one, sum 2 of 3 on the right one
PROGRAMS = {"mul": ["17 * 23", "391.0", "' 391 '"], "pct": ["240 * 35", "35 * 240", "0.35 * 240"],
            "sum": ["sum(range(1, 51))", "50 * 51", "25 * 51.0"]}


def flat_by_seed(req):
    task = next(t for t, word in (("mul", "17 * 23"), ("pct", "percent"), ("sum", "sum of")) if word in req.last_user)
    return f"```python\nRESULT = {PROGRAMS[task][int(req.body['seed']) % 3]}\n```"


def test_bench_records_votes_and_the_report_plots_accuracy_against_coverage(fake_llm, tmp_path):
    suite = tmp_path / "votes.yaml"
    suite.write_text(textwrap.dedent(SUITE).lstrip(), encoding="utf-8")
    fake_llm.script([], default=flat_by_seed)
    cfg = resolve_config("agent", None, ["backend=openai", f"base_url={fake_llm.url}", "model=fake-model",
                                         "retries=0", "samples=3", "min_agreement=3"])
    summary = run_bench(make_plan(str(suite), ["flat"], 1, cfg), root=tmp_path / "runs", bench_id="v1", workers=2)
    rows = {json.loads(line)["task_id"]: json.loads(line)
            for line in (tmp_path / "runs" / "v1" / "results.jsonl").read_text().splitlines()}
    assert rows["mul"]["pass"] and rows["mul"]["agreement"] == 3 and rows["mul"]["votes"] == 3
    assert rows["mul"]["vote_counts"] == [3] and rows["mul"]["candidate_pass"] is True
    for task, right in (("pct", False), ("sum", True)):
        row = rows[task]
        assert row["status"] == "no_answer" and row["reason"] == "no_agreement" and not row["pass"]
        assert row["vote_counts"] == [2, 1] and row["agreement"] == 2 and row["min_agreement"] == 3
        assert row["candidate_pass"] is right, row
    sel = summary["controllers"]["flat"]["selective"]
    assert sel["answered_wrong"]["count"] == 0 and sel["abstained"]["count"] == 2
    assert sel["accuracy_answered"]["value"] == 1.0
    curve = {p["threshold"]: (p["answered"], p["correct"]) for p in sel["coverage_curve"]}
    assert curve == {1: (3, 2), 2: (3, 2), 3: (1, 1)}  # at t = 2 pct's wrong 8400 would have been answered
    out = write_report(["v1"], tmp_path / "rep", root=tmp_path / "runs")
    assert (tmp_path / "rep" / "accuracy_coverage.png").read_bytes()[:4] == b"\x89PNG"
    text = Path(out["report"]).read_text(encoding="utf-8")
    assert "Selective answering" in text and "| answered wrong | 0.000 (0/3)" in text
    assert "| flat | 2 | 1.000 (3/3) | 0.667 (2/3) |" in text
    assert "![Accuracy against coverage](accuracy_coverage.png)" in text
    assert "3 voting samples per step (min agreement 3" in text


def test_cli_bench_samples_and_report(fake_llm, tmp_path, run_hrm):
    suite = tmp_path / "votes.yaml"
    suite.write_text(textwrap.dedent(SUITE).lstrip(), encoding="utf-8")
    fake_llm.script([], default=flat_by_seed)
    proc = run_hrm("agent", "bench", "--suite", str(suite), "--controller", "flat", "--backend", "openai",
                   "--base-url", fake_llm.url, "--model", "fake-model", "--samples", "3", "--min-agreement", "3",
                   "--id", "cli", "--runs-dir", str(tmp_path / "runs"), "--json", "retries=0")
    assert proc.returncode == 0, proc.stderr
    sel = json.loads(proc.stdout)["controllers"]["flat"]["selective"]
    assert (sel["abstained"]["count"], sel["answered_wrong"]["count"], sel["accuracy_answered"]["value"]) == (2, 0, 1.0)
    table = run_hrm("agent", "bench", "--id", "cli", "--runs-dir", str(tmp_path / "runs"))  # nothing left: the table
    assert table.returncode == 0 and "abstained (rate)" in table.stdout and "0.667" in table.stdout
    rep = run_hrm("agent", "report", str(tmp_path / "runs" / "cli"), "--json")
    assert rep.returncode == 0 and any(p.endswith("accuracy_coverage.png") for p in json.loads(rep.stdout)["plots"])
