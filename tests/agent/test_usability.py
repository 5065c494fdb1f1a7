"""Issue 18's usability fixes: the run's live phase, the bench's ETA, optimize's budget check, real hints,
and the controller's new name with the old one still accepted."""

from __future__ import annotations

import ast
import json
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from hrm_agent.backends.http import make_backend
from hrm_agent.bench.runs import eta_s
from hrm_agent.runner import run_agent
from hrm_engine.config import resolve_config
from hrm_paths import HRM, REPO

TASK = "A tank holds 1200 L. It leaks 2% per hour for 3 hours, then is refilled by 150 L. Return exactly: 'Answer: <liters>'."
SCRIPT = ['{"subgoals": ["leak for 3 hours", "add 150 L"], "final_format": "Answer: <liters>"}',
          "```python\nRESULT = 1200 * 0.98 ** 3\n```", "```python\nRESULT = S1 + 150\n```",
          '{"action": "submit", "reason": "ok"}', "Answer: 1279.4304"]


def _cli(fake_llm, tmp_path, *extra):
    return ("agent", "run", TASK, "--backend", "openai", "--base-url", fake_llm.url, "--model", "fake-model",
            "retries=0", f"runs_dir={tmp_path / 'runs'}", *extra)


# -- the run's phase -------------------------------------------------------------------------------------

def test_phases_follow_the_trace(fake_llm, tmp_path):
    from hrm_cli.agent.render import PhaseTracker

    tracker, phases = PhaseTracker(), []

    def listen(record):
        if tracker.update(record):
            phases.append(tracker.phase)
    fake_llm.script(SCRIPT)
    cfg = resolve_config("agent", None, [f"runs_dir={tmp_path}"])
    backend = make_backend("openai", base_url=fake_llm.url, model="fake-model", retries=0, timeout=10)
    result = run_agent(cfg, TASK, backend=backend, listener=listen)
    assert result["status"] == "answered"
    assert phases == ["planning", "solving subgoal 1/2", "running code (subgoal 1/2)", "solving subgoal 1/2",
                      "solving subgoal 2/2", "running code (subgoal 2/2)", "solving subgoal 2/2", "critic",
                      "synthesizing", "done"]
    assert tracker.calls == 5 and tracker.tokens == result["prompt_tokens"] + result["completion_tokens"]


def test_no_synthesizing_phase_when_nothing_succeeded(fake_llm, tmp_path):
    from hrm_cli.agent.render import PhaseTracker

    tracker, phases = PhaseTracker(), []

    def listen(record):
        if tracker.update(record):
            phases.append(tracker.phase)
    fake_llm.script([SCRIPT[0]] + ["```python\nRESULT = (\n```"] * 4 + [SCRIPT[3]])
    cfg = resolve_config("agent", None, [f"runs_dir={tmp_path}"])
    backend = make_backend("openai", base_url=fake_llm.url, model="fake-model", retries=0, timeout=10)
    result = run_agent(cfg, TASK, backend=backend, listener=listen)
    assert result["reason"] == "no_successful_code"
    assert phases[-2:] == ["critic", "done"] and "synthesizing" not in phases


def test_piped_run_prints_plain_phase_lines_and_json_prints_none(fake_llm, tmp_path, run_hrm):
    fake_llm.script(SCRIPT)
    proc = run_hrm(*_cli(fake_llm, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Answer: 1279.4304"
    lines = proc.stderr.splitlines()
    for phase in ("planning", "solving subgoal 1/2", "running code (subgoal 2/2)", "critic", "synthesizing"):
        assert any(re.fullmatch(rf"\s*\d+\.\ds {re.escape(phase)}", line) for line in lines), (phase, proc.stderr)
    assert "\x1b[" not in proc.stderr  # piped: no cursor movement, no colour

    fake_llm.script(SCRIPT)
    proc = run_hrm(*_cli(fake_llm, tmp_path, "--json"))
    assert proc.returncode == 0 and json.loads(proc.stdout)["final"] == "Answer: 1279.4304"
    assert "planning" not in proc.stderr and "subgoal" not in proc.stderr


def _run_on_a_terminal(args, env):
    """stderr of `hrm ARGS` written to a pseudo-terminal (stdout piped), read until the process ends."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([HRM, *args], stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL,
                            env=env, cwd=REPO)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the process closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode()
    proc.wait(timeout=60)
    os.close(leader)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("no_color", [False, True])
def test_terminal_run_shows_a_live_phase_and_the_elapsed_time(fake_llm, tmp_path, no_color):
    def slow(text):
        return {"text": text, "delay": 0.6}  # long enough for the live line to be drawn at 4 Hz
    fake_llm.script([slow(t) for t in SCRIPT])
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "OPENAI_API_BASE", "OPENAI_MODEL")}
    env.update(COLUMNS="120", TERM="xterm-256color", **({"NO_COLOR": "1"} if no_color else {}))
    rc, out, err = _run_on_a_terminal(_cli(fake_llm, tmp_path), env)
    assert rc == 0, err
    assert out.strip() == "Answer: 1279.4304"
    assert re.search(r"planning\s+0:0\d\s+calls 0", err), err
    assert "solving subgoal 2/2" in err and "synthesizing" in err
    sgr = re.findall(r"\x1b\[([0-9;]*)m", err)
    colours = [code for code in sgr if re.search(r"(^|;)(3[0-7]|38|9[0-7])(;|$)", code)]
    assert bool(colours) is not no_color  # NO_COLOR: the same status, without colour


# -- the bench's ETA -------------------------------------------------------------------------------------------

def test_eta_from_the_mean_item_time():
    assert eta_s(0, 10, 100.0) is None  # nothing finished yet: nothing to say
    assert eta_s(2, 8, 240.0, since_last_s=0.0) == pytest.approx(960.0)  # 120 s an item, 8 left
    assert eta_s(2, 8, 300.0, since_last_s=60.0) == pytest.approx(900.0)  # counts down between items
    assert eta_s(5, 0, 50.0) == 0.0
    assert eta_s(1, 1, 10.0, since_last_s=500.0) == 0.0  # never negative


def test_bench_progress_column_shows_a_time_after_one_item():
    from rich.console import Console
    from rich.progress import Progress

    from hrm_cli.agent.experiments import eta_column

    column = eta_column()
    progress = Progress(column, console=Console(file=open(os.devnull, "w")))  # noqa: SIM115
    now = time.monotonic()
    task_id = progress.add_task("x", total=10, t0=now - 300.0, done_now=0)
    task = progress.tasks[0]
    assert column.render(task).plain == "ETA -:--:--"
    progress.update(task_id, advance=2, done_now=2, t_last=now)  # 2 items in 300 s: 150 s each, 8 left
    text = column.render(progress.tasks[0]).plain
    h, m, s = map(int, text.removeprefix("ETA ").split(":"))
    assert 19 * 60 <= h * 3600 + m * 60 + s <= 20 * 60


# -- optimize's budget -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", ["2", "4"])
def test_optimize_refuses_a_budget_the_initial_design_uses_up(run_hrm, dead_llm_url, n):
    proc = run_hrm("agent", "optimize", "guess-word", "-n", n, "--backend", "openai", "--base-url", dead_llm_url,
                   "--embedding", "hash")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert f"--evaluations {n} is not larger than the initial design (4 points)" in proc.stderr
    assert "--evaluations 5 or more" in proc.stderr


def test_optimize_budget_check_names_the_task_file_key():
    from hrm_agent.errors import AgentError
    from hrm_cli.agent.optimize import check_budget

    check_budget(5, 12, 4)
    check_budget(None, 12, 4)
    with pytest.raises(AgentError, match=r"the task's optimizer.evaluations \(4\) is not larger"):
        check_budget(None, 4, 4)


# -- hints name real flags and keys --------------------------------------------------------------------------------

def _all_options() -> set[str]:
    import click
    import typer

    from hrm_cli.main import app

    names: set[str] = set()

    def walk(cmd: click.Command) -> None:
        for p in cmd.params:
            names.update(o for o in (*p.opts, *p.secondary_opts) if o.startswith("--"))
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)
    walk(typer.main.get_command(app))
    return names


def _hint_strings(path: Path) -> list[str]:
    """String literals (f-string parts too) that read as prose: hints, messages, help."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " " in node.value.strip():
            out.append(node.value)
    return out


NOT_HRM = re.compile(r"mlx_lm|bwrap|bubblewrap|ollama |pip |mlx\.launch")  # other programs' flags, quoted as such


def test_every_flag_and_key_a_hint_names_exists():
    options = _all_options()
    agent_yaml = yaml.safe_load((REPO / "configs" / "agent.yaml").read_text(encoding="utf-8"))
    argv_builders = {"sandbox/launch.py", "sandbox/child.py", "sandbox/seccomp.py", "sandbox/cgroup.py"}  # bwrap's
    files = [p for p in sorted((REPO / "agent").rglob("*.py"))
             if p.relative_to(REPO / "agent").as_posix() not in argv_builders]
    files += sorted((REPO / "hrm_cli" / "agent").glob("*.py"))
    bad = []
    for path in files:
        for text in _hint_strings(path):
            if NOT_HRM.search(text):
                continue
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text):
                if flag not in options:
                    bad.append(f"{path.name}: {flag} in {text[:70]!r}")
            for section, key in re.findall(r"\b(budget|sandbox)\.([a-z_]+)\b", text):
                if key not in (agent_yaml.get(section) or {}):
                    bad.append(f"{path.name}: {section}.{key} in {text[:70]!r}")
    assert not bad, "\n".join(bad)
    assert "--api-key" not in options and "--max-tokens" not in options  # the hints the issue found


# -- the controller's name ------------------------------------------------------------------------------------------

def test_the_controller_is_called_hierarchical_and_hrm_still_works(fake_llm, tmp_path):
    from hrm_agent.bench.runs import make_plan, resume_plan, run_bench, summarize

    assert resolve_config("agent", None, [])["controller"] == "hierarchical"
    backend = make_backend("openai", base_url=fake_llm.url, model="fake-model", retries=0, timeout=10)
    fake_llm.script(SCRIPT)
    old = run_agent(resolve_config("agent", None, [f"runs_dir={tmp_path}", "controller=hrm"]), TASK, backend=backend)
    assert old["controller"] == "hierarchical" and old["status"] == "answered"
    start = json.loads(Path(old["trace"]).read_text().splitlines()[0])
    assert start["controller"] == "hierarchical" and start["config"]["controller"] == "hierarchical"

    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ntasks:\n  - id: six\n    kind: numeric\n    prompt: What is 6 * 7?\n    answer: 42\n")
    fake_llm.script([], default=lambda req: (
        '{"subgoals": ["multiply"], "final_format": "Answer: <n>"}' if "planner" in req.messages[0]["content"]
        else '{"action": "submit"}' if "critic" in req.messages[0]["content"]
        else "Answer: 42" if "final answer" in req.messages[0]["content"] else "```python\nRESULT = 6 * 7\n```"))
    cfg = resolve_config("agent", None, ["backend=openai", f"base_url={fake_llm.url}", "model=fake-model",
                                         "retries=0"])
    plan = make_plan(str(suite), ["hrm", "flat"], 1, cfg)
    assert plan.controllers == ["hierarchical", "flat"]
    summary = run_bench(plan, root=tmp_path / "bench", bench_id="b", workers=1)
    assert set(summary["controllers"]) == {"hierarchical", "flat"}
    assert summary["comparison"]["a"] == "hierarchical" and summary["controllers"]["hierarchical"]["passed"] == 1

    # a run made before the rename: its rows and bench.json say hrm; resuming skips them, tables say hierarchical
    run_dir = tmp_path / "bench" / "b"
    rows = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    (run_dir / "results.jsonl").write_text("".join(json.dumps({**r, "controller": r["controller"].replace(
        "hierarchical", "hrm")}) + "\n" for r in rows))
    meta = json.loads((run_dir / "bench.json").read_text())
    (run_dir / "bench.json").write_text(json.dumps({**meta, "controllers": ["hrm", "flat"]}))
    calls = len(fake_llm.chat_requests)
    again = run_bench(resume_plan(run_dir), root=tmp_path / "bench", bench_id="b")
    assert len(fake_llm.chat_requests) == calls and set(again["controllers"]) == {"hierarchical", "flat"}
    assert summarize(rows, {"controllers": ["hrm", "flat"]})["comparison"]["a"] == "hierarchical"
