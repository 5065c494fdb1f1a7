"""`hrm agent bench` / `report`: metrics against their formulas, failure rules on hand-written traces, and
whole benchmarks through the scripted OpenAI-compatible server (results.jsonl, summary, resume, report)."""

from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hrm_agent.bench.runs import (bootstrap_ci, make_plan, pass_at_k, read_results, resume_plan, run_bench,
                             summarize)
from hrm_agent.errors import BackendError
from hrm_agent.bench.failure_rules import classify, rules_table
from hrm_agent.bench.report import write_report
from hrm_engine.config import resolve_config

# -- pass@k and the bootstrap ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20])
def test_pass_at_k_equals_the_closed_form(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            closed = 1.0 - math.comb(n - c, k) / math.comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(closed, abs=1e-12), (n, c, k)


def test_pass_at_k_edges():
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 6, 5) == 1.0  # fewer than k wrong samples: some draw of k always has a right one
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_bootstrap_interval_on_known_data():
    assert bootstrap_ci([0.25] * 30) == (0.25, 0.25)
    data = [1.0] * 100 + [0.0] * 100  # mean 0.5, standard error sqrt(0.25 / 200) = 0.0354
    lo, hi = bootstrap_ci(data, n_boot=4000, seed=1)
    assert lo < 0.5 < hi
    assert lo == pytest.approx(0.5 - 1.96 * 0.0354, abs=0.012)
    assert hi == pytest.approx(0.5 + 1.96 * 0.0354, abs=0.012)
    assert bootstrap_ci(data, n_boot=500, seed=7) == bootstrap_ci(data, n_boot=500, seed=7)  # seeded
    assert bootstrap_ci(data, n_boot=500, seed=7) != bootstrap_ci(data, n_boot=500, seed=8)
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def _row(task, controller, ok, sample=0, time_s=1.0, category=None, failures=(), **extra):
    return {"task_id": task, "controller": controller, "sample": sample, "pass": ok, "time_s": time_s,
            "rounds": 1, "model_calls": 4 if controller == "hrm" else 2, "tool_calls": 1, "tokens": 100,
            "failure_category": None if ok else (category or "verification_gap"), "failures": list(failures),
            **extra}


def test_summary_from_hand_made_rows():
    rows = []
    # hrm: task a 2/2, task b 1/2; flat: task a 1/2, task b 0/2
    rows += [_row("a", "hrm", True, 0, 2.0), _row("a", "hrm", True, 1, 4.0)]
    rows += [_row("b", "hrm", True, 0, 6.0), _row("b", "hrm", False, 1, 9.0, "plan_drift", ["plan_drift"])]
    rows += [_row("a", "flat", True, 0, 1.0), _row("a", "flat", False, 1, 3.0, "tool_misuse", ["tool_misuse"])]
    rows += [_row("b", "flat", False, 0, 5.0, "tool_misuse", ["tool_misuse", "tool_misuse"]),
             _row("b", "flat", False, 1, 7.0, "spec_error", ["spec_error"])]
    s = summarize(rows, {"controllers": ["hrm", "flat"], "items_total": 8}, n_boot=200)
    hrm, flat = s["controllers"]["hierarchical"], s["controllers"]["flat"]
    assert hrm["pass@1"] == pytest.approx((1.0 + 0.5) / 2) and flat["pass@1"] == pytest.approx((0.5 + 0) / 2)
    assert hrm["pass@k"]["2"] == pytest.approx(1.0) and flat["pass@k"]["2"] == pytest.approx(0.5)
    assert hrm["time_to_solve_s"] == {"mean": 4.0, "median": 4.0}
    assert flat["time_s"]["median"] == pytest.approx(4.0)
    assert flat["failure_categories"] == {"spec_error": 1, "tool_misuse": 2}
    assert flat["tool_misuse_spec_error"] == 4 and hrm["tool_misuse_spec_error"] == 0
    comp = s["comparison"]
    assert (comp["a"], comp["b"], comp["tasks"]) == ("hierarchical", "flat", 2)
    assert comp["pass@1_diff"] == pytest.approx(0.5)  # per-task differences 0.5 and 0.5
    assert comp["ci95"] == pytest.approx([0.5, 0.5])
    assert comp["tool_misuse_spec_error_change"] == pytest.approx(-1.0)
    assert s["complete"] is True


# -- failure rules on hand-written traces --------------------------------------------------------------------

def _ev(event, **fields):
    return {"event": event, **fields}


OK_EXEC = _ev("exec", ok=True, exit_reason="ok", result=90, result_repr="90")
BAD_EXEC = _ev("exec", ok=False, exit_reason="error", error="NameError: x")


@pytest.mark.parametrize("category, row, events", [
    ("backend_error", {}, [_ev("error", role="planner", message="openai backend: connection refused")]),
    ("timeout", {"stop_reason": "timeout", "answer": None}, [OK_EXEC, _ev("failure", category="timeout")]),
    ("timeout", {"answer": None}, [_ev("exec", ok=False, exit_reason="timeout"),
                                   _ev("exec", ok=False, exit_reason="cpu_limit")]),
    ("budget", {"stop_reason": "budget", "answer": "Answer: 3"}, [OK_EXEC]),
    ("budget", {"stop_reason": "max_rounds", "answer": None}, [BAD_EXEC, _ev("failure", category="budget")]),
    ("tool_misuse", {"answer": "90", "stop_reason": "answered"}, [_ev("failure", category="tool_misuse")]),
    ("tool_misuse", {"answer": None}, [BAD_EXEC, BAD_EXEC]),
    ("parse_error", {"answer": "Answer: 91", "parsed": 91.0, "kind": "numeric", "controller": "hrm"},
     [_ev("failure", category="parse_error", role="planner"), OK_EXEC]),
    ("spec_error", {"answer": "I think ninety", "readable": False, "kind": "numeric"}, [OK_EXEC]),
    ("spec_error", {"answer": "90!", "parsed": 90.0, "kind": "numeric"},
     [OK_EXEC, _ev("failure", category="spec_error", role="synthesizer")]),
    ("plan_drift", {"answer": "Answer: 91", "parsed": 91.0, "kind": "numeric", "controller": "hrm"}, [OK_EXEC]),
    ("plan_drift", {"answer": "Answer: 90", "parsed": 90.0, "kind": "numeric", "controller": "hrm"},
     [OK_EXEC, _ev("failure", category="plan_drift", role="replan")]),
    ("verification_gap", {"answer": "Answer: 90", "parsed": 90.0, "kind": "numeric", "controller": "hrm"},
     [OK_EXEC, _ev("critique", action="submit")]),
    ("verification_gap", {"answer": "91", "parsed": 91.0, "kind": "numeric", "controller": "flat"}, [OK_EXEC]),
    ("verification_gap", {"answer": "Answer: True", "kind": "code", "controller": "hrm"}, [OK_EXEC]),
])
def test_failure_rules_on_hand_written_traces(category, row, events):
    assert classify({"pass": False, **row}, events) == category


def test_a_passed_item_has_no_category_and_the_rules_are_ordered_and_documented():
    assert classify({"pass": True}, [_ev("error", message="x")]) is None
    table = rules_table()
    assert [cat for _, cat, _ in table][:2] == ["backend_error", "timeout"]
    assert table[-1][1] == "verification_gap"
    doc = (Path(__file__).resolve().parents[2] / "docs" / "agent-bench.md").read_text(encoding="utf-8")
    for _, cat, _ in table:
        assert f"`{cat}`" in doc


# -- whole benchmarks through the scripted server -------------------------------------------------------------

SUITE = """
name: tiny
tasks:
  - id: apples
    kind: numeric
    prompt: A grocer had 240 apples and sold 150. How many apples are left?
    answer: 90
  - id: reverse
    kind: exact
    prompt: Reverse the word "hello".
    answer: olleh
  - id: double
    kind: code
    entry_point: double
    prompt: "def double(x: int) -> int: return twice x."
    tests: |
      assert double(2) == 4
      assert double(-3) == -6
"""

HRM_CODE = {"apples": "RESULT = 240 - 150", "reverse": "RESULT = 'hello'[::-1]",
            "double": "def double(x):\n    return 2 * x\nRESULT = double(2)"}
FLAT_REPLY = {"apples": "```python\nRESULT = 240 - 150\n```",
              "reverse": "```python\nRESULT = 'hello'\n```",  # wrong: forgot to reverse
              "double": "The function returns x * 2."}  # answers without code


def _task_of(text: str) -> str:
    return "apples" if "apples" in text else "reverse" if "hello" in text else "double"


def oracle(req):
    """A model that knows the tasks: answers each role of the hierarchical and flat controllers."""
    system, user = req.messages[0]["content"], req.last_user
    task = _task_of(user)
    if system.startswith("You are the planner"):
        return json.dumps({"subgoals": [f"compute the {task} result"], "final_format": "Answer: <value>"})
    if system.startswith("You are the critic"):
        return '{"action": "submit", "reason": "the result answers the task"}'
    if system.startswith("You give the final answer"):
        value = re.search(r"^\d+\. .* -> (.*)$", user, re.M).group(1).strip().strip("'\"")  # the results listing
        return f"Answer: {value}"
    if system.startswith("You write Python"):
        return f"```python\n{HRM_CODE[task]}\n```"
    return FLAT_REPLY[task]


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(SUITE).lstrip(), encoding="utf-8")
    return path


def _config(url: str, *extra: str) -> dict:
    return resolve_config("agent", None, ["backend=openai", f"base_url={url}", "model=fake-model", "retries=0",
                                          *extra])


def test_bench_end_to_end_writes_results_and_summary(fake_llm, suite_file, tmp_path):
    fake_llm.script([], default=oracle)
    plan = make_plan(str(suite_file), ["hrm", "flat"], 1, _config(fake_llm.url))
    seen = []
    summary = run_bench(plan, root=tmp_path / "runs", bench_id="b1", workers=3, on_item=seen.append)
    run_dir = tmp_path / "runs" / "b1"
    lines = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    rows = {(r["task_id"], r["controller"]): r for r in map(json.loads, lines)}
    assert len(lines) == 6 and len(seen) == 6 and len(rows) == 6
    for key in ("pass", "answer", "time_s", "rounds", "model_calls", "tool_calls", "tokens", "failure_category",
                "trace"):
        assert all(key in r for r in rows.values()), key
    assert all(Path(r["trace"]).is_file() for r in rows.values())
    assert [r["pass"] for r in (rows[("apples", "hierarchical")], rows[("reverse", "hierarchical")], rows[("double", "hierarchical")])] == \
        [True, True, True]
    assert rows[("apples", "flat")]["pass"] is True and rows[("apples", "flat")]["answer"] == "Answer: 90"
    assert rows[("reverse", "flat")]["pass"] is False
    assert rows[("reverse", "flat")]["failure_category"] == "verification_gap"
    assert rows[("double", "flat")]["pass"] is False
    # prose every time: asked for code again on each attempt, then out of attempts, no answer
    assert rows[("double", "flat")]["failure_category"] == "budget"
    assert rows[("double", "flat")]["failures"].count("tool_misuse") == 4
    assert rows[("double", "flat")]["status"] == "no_answer" and rows[("double", "flat")]["reason"] == "no_successful_code"
    assert rows[("apples", "hierarchical")]["model_calls"] == 4  # planner, solver, critic, synthesizer
    assert rows[("apples", "hierarchical")]["tool_calls"] == 1 and rows[("apples", "hierarchical")]["tokens"] > 0

    on_disk = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["controllers"] == summary["controllers"]
    assert summary["complete"] and summary["items_done"] == 6
    assert summary["controllers"]["hierarchical"]["pass@1"] == pytest.approx(1.0)
    assert summary["controllers"]["flat"]["pass@1"] == pytest.approx(1 / 3)
    assert summary["controllers"]["flat"]["failure_categories"] == {"budget": 1, "verification_gap": 1}
    assert summary["controllers"]["flat"]["no_answer"] == 1 and summary["controllers"]["hierarchical"]["no_answer"] == 0
    assert summary["controllers"]["flat"]["no_answer_reasons"] == {"no_successful_code": 1}
    assert summary["comparison"]["pass@1_diff"] == pytest.approx(2 / 3)
    assert summary["comparison"]["wins"] == 2 and summary["comparison"]["losses"] == 0
    # the summary is exactly what the rows say
    recomputed = summarize(read_results(run_dir / "results.jsonl"), json.loads((run_dir / "bench.json").read_text()))
    assert recomputed["controllers"] == summary["controllers"]


def test_rerunning_the_same_id_skips_finished_items(fake_llm, suite_file, tmp_path):
    fake_llm.script([], default=oracle)
    plan = make_plan(str(suite_file), ["hierarchical", "flat"], 1, _config(fake_llm.url))
    run_bench(plan, root=tmp_path / "runs", bench_id="r1", workers=1)
    results = tmp_path / "runs" / "r1" / "results.jsonl"
    before = results.read_text(encoding="utf-8")
    calls = len(fake_llm.chat_requests)

    run_bench(resume_plan(tmp_path / "runs" / "r1"), root=tmp_path / "runs", bench_id="r1")
    assert len(fake_llm.chat_requests) == calls  # nothing ran again
    assert results.read_text(encoding="utf-8") == before

    # a crash after 4 items, mid-write of the 5th line: only the 2 missing items run
    lines = before.splitlines(keepends=True)
    results.write_text("".join(lines[:4]) + lines[4][:25], encoding="utf-8")
    seen = []
    summary = run_bench(resume_plan(tmp_path / "runs" / "r1"), root=tmp_path / "runs", bench_id="r1",
                        on_item=seen.append)
    done = {(r["task_id"], r["controller"]) for r in map(json.loads, lines[:4])}
    assert {(r["task_id"], r["controller"]) for r in seen} == {(json.loads(x)["task_id"], json.loads(x)["controller"])
                                                               for x in lines[4:]}
    assert not done & {(r["task_id"], r["controller"]) for r in seen}
    assert summary["items_done"] == 6 and summary["complete"]


def test_backend_down_stops_the_bench_and_a_resume_retries_those_items(fake_llm, dead_llm_url, suite_file,
                                                                        tmp_path):
    plan = make_plan(str(suite_file), ["hrm", "flat"], 1, _config(dead_llm_url))
    with pytest.raises(BackendError, match="--resume d1"):
        run_bench(plan, root=tmp_path / "runs", bench_id="d1", workers=1)
    rows = [json.loads(x) for x in (tmp_path / "runs" / "d1" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["incomplete"] and rows[0]["failure_category"] == "backend_error"

    fake_llm.script([], default=oracle)  # the server is back
    plan = make_plan(str(suite_file), ["hrm", "flat"], 1, _config(fake_llm.url))
    summary = run_bench(plan, root=tmp_path / "runs", bench_id="d1", workers=2)
    assert summary["items_done"] == 6 and summary["controllers"]["hierarchical"]["pass@1"] == pytest.approx(1.0)
    assert not any(r.get("incomplete") for r in read_results(tmp_path / "runs" / "d1" / "results.jsonl"))


def test_samples_give_pass_at_k(fake_llm, suite_file, tmp_path):
    fake_llm.script([], default=oracle)
    plan = make_plan(str(suite_file), ["flat"], 3, _config(fake_llm.url, "temperature=0.7"), task_ids=["apples"])
    summary = run_bench(plan, root=tmp_path / "runs", bench_id="k1", workers=2)
    flat = summary["controllers"]["flat"]
    assert flat["items"] == 3 and flat["tasks"] == 1 and flat["pass@k"] == {"1": 1.0, "2": 1.0, "3": 1.0}
    assert summary["comparison"] is None


# -- CLI and report -------------------------------------------------------------------------------------------

def _read_png(path: Path) -> np.ndarray:
    """The PNG at `path` decoded by Pillow (matplotlib's own dependency) as an (H, W, 3) array."""
    from PIL import Image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def test_cli_bench_json_table_and_report(fake_llm, suite_file, tmp_path, run_hrm):
    fake_llm.script([], default=oracle)
    common = ["agent", "bench", "--suite", str(suite_file), "--backend", "openai", "--base-url", fake_llm.url,
              "--model", "fake-model", "--id", "c1", "--runs-dir", str(tmp_path / "runs")]
    proc = run_hrm(*common, "--json", "retries=0")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["items_done"] == 6 and summary["comparison"]["a"] == "hierarchical"

    again = run_hrm(*common)  # same id: nothing left to run, prints the table
    assert again.returncode == 0, again.stderr
    assert "pass@1" in again.stdout and "hierarchical - flat" in again.stdout and "+0.667" in again.stdout
    assert "failed: budget" in again.stdout  # the flat model's prose answers used up its attempts
    assert re.search(r"no answer \(status no_answer\)\s*│\s*0\s*│\s*1\s*│", again.stdout), again.stdout

    rep = run_hrm("agent", "report", str(tmp_path / "runs" / "c1"), "--json")
    assert rep.returncode == 0, rep.stderr
    out = json.loads(rep.stdout)
    text = Path(out["report"]).read_text(encoding="utf-8")
    assert "| pass@1 | 1.000 | 0.333 | +0.667 |" in text
    assert "![pass@1 per controller](pass_at_1.png)" in text and "## Failure rules" in text
    assert {Path(p).name for p in out["plots"]} == {"pass_at_1.png", "failure_categories.png"}
    for p in out["plots"]:
        assert _read_png(Path(p)).shape == (440, 760, 3)


def test_report_plots_accuracy_by_depth_for_curriculum_runs(fake_llm, tmp_path):
    def arithmetic(req):
        system = req.messages[0]["content"]
        if system.startswith("You solve tasks with Python"):
            return "```python\nRESULT = 0\n```"
        raise AssertionError(system)

    fake_llm.script([], default=arithmetic)
    plan = make_plan("curriculum", ["flat"], 1, _config(fake_llm.url), limit=5)
    run_bench(plan, root=tmp_path / "runs", bench_id="cur", workers=2)
    out = write_report(["cur"], tmp_path / "rep", root=tmp_path / "runs")
    assert {Path(p).name for p in out["plots"]} >= {"pass_at_1.png", "accuracy_by_depth.png"}
    text = Path(out["report"]).read_text(encoding="utf-8")
    assert "Accuracy by depth" in text and "5 (held out)" in text


def test_report_of_a_missing_run_is_a_one_line_error(run_hrm, tmp_path):
    proc = run_hrm("agent", "report", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "no bench run at" in proc.stderr and "Traceback" not in proc.stderr


def test_report_names_the_adapter_a_run_used(fake_llm, tmp_path):
    fake_llm.script([], default=lambda req: "```python\nRESULT = 0\n```")
    plan = make_plan("curriculum", ["flat"], 1, _config(fake_llm.url), limit=2)
    run_bench(plan, root=tmp_path / "runs", bench_id="plain", workers=1)
    text = Path(write_report(["plain"], tmp_path / "r0", root=tmp_path / "runs")["report"]).read_text()
    assert "- backend: openai" in text and "adapter" not in text.split("- backend:")[1].splitlines()[0]

    meta_file = tmp_path / "runs" / "plain" / "bench.json"
    meta = json.loads(meta_file.read_text())
    meta["config"]["adapter"] = "e1-math"  # what `hrm agent bench --adapter e1-math` records
    meta_file.write_text(json.dumps(meta))
    text = Path(write_report(["plain"], tmp_path / "r1", root=tmp_path / "runs")["report"]).read_text()
    assert "adapter `e1-math`, temperature" in text.split("- backend:")[1].splitlines()[0]
