"""Model output that attacks the agent process itself, through `hrm agent run` against a scripted server.

A real OpenAI-compatible server on 127.0.0.1 answers every call with the payload; `hrm agent run` is a real
subprocess. Each payload once crashed or hung the agent, or wrote escape sequences to the user's terminal:
a RESULT that made the answer-format regex backtrack for hours, a lone surrogate the trace writer could not
encode, `"[" * 200000` written to the result pipe (RecursionError in the parent), OSC/CSI sequences in
RESULT, stdout and the code itself. Every run must end with exit 0 or 1 within its --timeout plus a few
seconds, with result.json and a trace that hrm_agent.trace_check accepts, run_start first and run_end last;
on a terminal (a real pseudo-terminal) only hrm's own styling may be raw escapes.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from hrm_agent.sandbox.execute import isolation
from hrm_agent.trace_check import load_trace

pytestmark = pytest.mark.skipif(not (sys.platform.startswith("linux") and isolation().strong),
                                reason=f"no OS sandbox here: {isolation().detail}")

HRM = str(Path(sys.executable).with_name("hrm"))
TASK = "What is 2 + 2? Return exactly: 'Answer: <n>'"
TIMEOUT_S = 20
SLACK_S = 10.0  # the bound: the wall budget plus ten seconds, start-up included


def _argv(fake_llm, runs: Path, run_id: str, *extra: str) -> list[str]:
    return [HRM, "agent", "run", TASK, "--controller", "flat", "--backend", "openai", "--base-url", fake_llm.url,
            "--model", "fake-model", "--run-id", run_id, "--timeout", str(TIMEOUT_S), f"runs_dir={runs}",
            "budget.max_rounds=1", "sandbox.wall_s=10", *extra]


def _reply(code: str) -> str:
    return "```python\n" + code + "\n```"


def _check_run(run_dir: Path, proc_rc: int, took: float) -> tuple[dict, list[dict]]:
    assert proc_rc in (0, 1), proc_rc
    assert took < TIMEOUT_S + SLACK_S, took
    result = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    assert result["status"] in ("answered", "no_answer")
    events = load_trace(run_dir)  # UTF-8, one JSON object a line, the fields the viewers read
    assert events[0]["event"] == "run_start" and events[-1]["event"] == "run_end"
    return result, events


def _run(fake_llm, tmp_path: Path, run_id: str, code: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict,
                                                                                  list[dict]]:
    fake_llm.script([], default=_reply(code))
    runs = tmp_path / "runs"
    start = time.monotonic()
    proc = subprocess.run(_argv(fake_llm, runs, run_id, *extra), capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}, timeout=TIMEOUT_S + 60)
    result, events = _check_run(runs / run_id, proc.returncode, time.monotonic() - start)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc, result, events


def test_the_answer_that_hung_the_flat_controller_is_judged_at_once(fake_llm, tmp_path):
    proc, result, events = _run(fake_llm, tmp_path, "hang", 'RESULT = "Answer: 1" + " " * 3000 + "x"')
    assert [e["ok"] for e in events if e["event"] == "exec"] == [True]
    assert result["wall_s"] < 8  # the code run and one verdict: it was a hang before


@pytest.mark.parametrize("code", ['RESULT = "\\ud800"', 'RESULT = {"\\udfff": ["a\\ud800b"]}',
                                  'raise ValueError("\\ud800")', 'import sys\nsys.stderr.write("x")\nRESULT = "\\udc80 4"'],
                         ids=["result", "key", "error", "mixed"])
def test_lone_surrogates_from_the_code_are_replaced_not_fatal(fake_llm, tmp_path, code):
    proc, result, events = _run(fake_llm, tmp_path, "surrogate", code)
    trace = (tmp_path / "runs" / "surrogate" / "trace.jsonl").read_bytes()
    trace.decode("utf-8")  # strict: no surrogate made it into the file
    assert "\ufffd".encode() in trace
    json.dumps(result, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("then", ["os._exit(0)", "RESULT = 4"], ids=["alone", "before-the-report"])
def test_deep_json_written_to_the_result_pipe_is_no_result(fake_llm, tmp_path, then):
    # model code can reach the result pipe: it is the child's sys.argv[2]
    code = f'import os, sys\nos.write(int(sys.argv[2]), b"[" * 200000)\n{then}'
    proc, result, events = _run(fake_llm, tmp_path, "deep", code)
    execs = [e for e in events if e["event"] == "exec"]
    assert execs and all(e["ok"] is False and e["exit_reason"] == "no_result" for e in execs)
    assert result["status"] == "no_answer" and proc.returncode == 1


# Sequences a terminal acts on: set the title, set the clipboard (OSC 52), clear the screen, a C1 CSI, and
# the right-to-left override; none of them is what rich writes for hrm's own styling.
PAYLOAD = "\x1b]0;pwned-title\x07\x1b]52;c;cHduZWQ=\x07\x1b[2J\u009b2K\u202egnp.exe"
RAW = [b"\x1b]0;pwned-title", b"\x1b]52;c;", b"\x1b[2J", "\u009b".encode(), "\u202e".encode()]
SHOWN = [rb"\x1b]0;pwned-title\x07", rb"\x1b]52;c;cHduZWQ=\x07", rb"\x1b[2J", rb"\u009b2K", rb"\u202egnp.exe"]
# the model writes the payload raw into its code (a string literal may hold control characters), and the
# code prints it and returns it: it is in the reply, the code, stdout and RESULT (a bare value, so the flat
# controller answers with it)
ESCAPE_CODE = f'print("{PAYLOAD}")\nRESULT = "4{PAYLOAD}"'


def _in_pty(argv: list[str], timeout: float) -> tuple[int, bytes, float]:
    """Run argv on a real pseudo-terminal 300 columns wide; (exit status, all it wrote, seconds)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 300, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    env.update(TERM="xterm-256color", FORCE_COLOR="1")
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = bytearray()
    try:
        while time.monotonic() - start < timeout:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer of the terminal is gone
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                continue
        rc = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return rc, bytes(out), time.monotonic() - start


def _no_raw_payload(out: bytes) -> None:
    assert b"\x1b[" in out  # a terminal: hrm's own styling is there
    for raw in RAW:
        assert raw not in out, (raw, out[-3000:])


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "verbose"])
def test_escape_sequences_reach_the_terminal_written_out(fake_llm, tmp_path, verbose):
    fake_llm.script([], default=_reply(ESCAPE_CODE))
    runs = tmp_path / "runs"
    rc, out, took = _in_pty(_argv(fake_llm, runs, "esc", *(["--verbose"] if verbose else [])), TIMEOUT_S + 60)
    result, events = _check_run(runs / "esc", rc, took)
    assert rc == 0 and result["final"] == "Answer: 4" + PAYLOAD  # kept as it was in result.json
    _no_raw_payload(out)
    for shown in SHOWN:  # the answer, written out
        assert shown in out, (shown, out[-3000:])
    assert b"Traceback" not in out

    rc, shown_out, _ = _in_pty([HRM, "agent", "show", str(runs / "esc"), "--full"], 60)
    assert rc == 0
    _no_raw_payload(shown_out)
    assert shown_out.count(rb"\x1b]52;c;cHduZWQ=\x07") >= 3  # the reply, the code, stdout and the answer


def test_json_output_keeps_the_payload_as_json_escapes(fake_llm, tmp_path):
    proc, result, events = _run(fake_llm, tmp_path, "esc-json", ESCAPE_CODE, "--json")
    assert "\x1b" not in proc.stdout and "\\u001b]52;c;" in proc.stdout
    assert json.loads(proc.stdout)["final"] == "Answer: 4" + PAYLOAD
