"""The memory bound holds in every mode, and every mode says which bounds it holds.

A normal user has no cgroup to bound the jail's process tree; RLIMIT_AS alone bounds one process, so
14 processes once held 5.6 GiB against a 512 MiB limit with the verdict `ok`. These tests run the
attack as a real unprivileged user (normal_user.py) and measure, from the outside, the resident memory
of every process under the run while it runs (the kernel's figure in /proc), through the sandbox API
and through `hrm agent run` against a scripted server. `hrm doctor` and the trace must name the mode
and its bounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from normal_user import NORMAL_UID, as_normal_user, available
from test_sandbox_escapes import UNHOOKED

from hrm_agent.sandbox import modes as sandbox_modes
from hrm_agent.sandbox.execute import isolation

pytestmark = pytest.mark.skipif(not (sys.platform.startswith("linux") and isolation().strong and not available()),
                                reason=f"no OS sandbox or no normal user here: {isolation().detail} {available()}")

HRM = str(Path(sys.executable).with_name("hrm"))
MEMORY_MB = 256
SLACK_MB = 96  # bubblewrap's own two processes, the interpreter's code pages, the sampling's granularity
# Model code with the audit hook switched off: many processes, many threads and an off-mapping store
# each try to hold more than the limit, then the main process allocates past it.
ATTACK = UNHOOKED + f"""
import os, threading, time
started = []
for _ in range(8):
    try:
        started.append(subprocess.Popen([sys.executable, "-I", "-c",
                                         "x = bytearray(200 << 20); import time; time.sleep(10)"]).pid)
    except OSError as exc:
        started.append(type(exc).__name__)
held = []
def grab():
    try:
        held.append(bytearray(100 << 20))
    except MemoryError:
        held.append("MemoryError")
threads = [threading.Thread(target=grab) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
try:
    fd = os.memfd_create("hoard")
    os.write(fd, bytes(64 << 20))
    started.append("memfd")
except OSError as exc:
    started.append("memfd:" + type(exc).__name__)
print(started, [h if isinstance(h, str) else len(h) for h in held], flush=True)
time.sleep(2)
hog = [bytearray(100 << 20) for _ in range({MEMORY_MB // 50})]
RESULT = started
"""
DRIVER = f"""
import json, sys
from hrm_agent.sandbox.execute import SandboxLimits, run_code
res = run_code(sys.stdin.read(), limits=SandboxLimits(cpu_s=10, wall_s=25, memory_mb={MEMORY_MB}, disk_mb=16))
print(json.dumps({{"exit_reason": res.exit_reason, "error": res.error, "mode": res.mode, "bounds": res.bounds,
                  "stdout": res.stdout, "stderr": res.stderr[-1500:]}}))
"""


def _tree(root: int) -> list[int]:
    """Host pids of every process below `root` (the PID namespace does not hide them from here)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        kids = [p for p, parent in parents.items() if parent == pid]
        out += kids
        todo += kids
    return out


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _run_measured(argv: list[str], stdin: str, env: dict, cwd: str,
                  timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    """Run `argv` and sample the resident memory of everything below it every 20 ms: (result, peak MiB)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=cwd)
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib(_tree(proc.pid)))
            time.sleep(0.02)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    finally:
        done.set()
        sampler.join()
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), peak[0]


def _scratch() -> Path:
    """A folder the normal user owns (the test's own tmp_path is root's 0700)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="hrm-normal-user-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    path.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(path, NORMAL_UID, NORMAL_UID)
    return path


@pytest.fixture(scope="module")
def normal_user_mode(tmp_path_factory) -> str:
    """The sandbox mode a normal user gets here; skips where that user gets no OS boundary at all (user
    namespaces switched off for unprivileged users), since then no run happens to measure."""
    probe = "from hrm_agent.sandbox.execute import isolation; i = isolation(); print(i.mode if i.strong else '')"
    out = subprocess.run(as_normal_user([sys.executable, "-c", probe], str(tmp_path_factory.mktemp("probe"))),
                         capture_output=True, text=True, env=_env(Path("/")), cwd="/", timeout=60)
    if out.returncode != 0 or not out.stdout.strip():
        pytest.skip(f"a normal user gets no OS sandbox here: {out.stderr.strip()[-300:] or 'no user namespaces'}")
    return out.stdout.strip()


@pytest.fixture
def without_cgroup(normal_user_mode) -> None:
    if normal_user_mode != sandbox_modes.ONE_PROCESS:
        pytest.skip(f"the normal user here has a delegated cgroup ({normal_user_mode}): the tree bound is the cgroup's")


@pytest.fixture
def scratch():
    import shutil

    path = _scratch()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "NO_COLOR": "1", "LANG": "C.UTF-8"}


def test_a_normal_user_cannot_hold_more_than_the_limit_in_many_processes(normal_user_mode, scratch, tmp_path):
    argv = as_normal_user([sys.executable, "-c", DRIVER], str(tmp_path))
    proc, peak = _run_measured(argv, ATTACK, _env(scratch), str(scratch), timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    assert res["bounds"]["tree_bounded"] is True and res["mode"] == normal_user_mode
    if res["mode"] == sandbox_modes.ONE_PROCESS:  # no delegated cgroup: the filter keeps it to one process
        assert "PermissionError" in res["stdout"] and "memfd:PermissionError" in res["stdout"], res
    else:
        assert res["mode"] == sandbox_modes.CGROUP, res
    assert res["exit_reason"] == "memory", res
    assert peak <= MEMORY_MB + SLACK_MB, f"{peak:.0f} MiB resident under a {MEMORY_MB} MiB limit"


def test_the_mode_without_a_cgroup_is_named_and_bounded_in_doctor(without_cgroup, scratch, tmp_path):
    out = subprocess.run(as_normal_user([HRM, "doctor", "--json", "--no-compare"], str(tmp_path)),
                         capture_output=True, text=True, env=_env(scratch), cwd=str(scratch), timeout=180)
    report = json.loads(out.stdout)
    assert report["agent_sandbox_mode"].startswith(sandbox_modes.ONE_PROCESS + ":"), report["agent_sandbox_mode"]
    assert "seccomp refuses fork" in report["agent_sandbox"]
    bounds = report["agent_sandbox_bounds"]
    assert bounds["tree_bounded"] is True and "512 MiB address space of the one process" in bounds["memory"]
    assert bounds["processes"].startswith("1 process")


def test_doctor_names_this_hosts_mode_and_bounds():
    out = subprocess.run([HRM, "doctor", "--json", "--no-compare"], capture_output=True, text=True, timeout=180)
    report = json.loads(out.stdout)
    iso = isolation()
    assert report["agent_sandbox_mode"] == f"{iso.mode}: {sandbox_modes.GUARANTEES[iso.mode]}"
    assert report["agent_sandbox_bounds"]["tree_bounded"] is True
    if iso.cgroup:
        assert report["agent_sandbox_bounds"]["memory"] == \
            f"512 MiB for the whole process tree, tmpfs files included (cgroup {iso.cgroup})"


def test_through_agent_run_a_normal_user_without_cgroup_stays_bounded(without_cgroup, fake_llm, scratch,
                                                                        tmp_path):
    fake_llm.script([], default="```python\n" + ATTACK + "\n```")
    runs = scratch / "runs"
    argv = as_normal_user([HRM, "agent", "run", "What is 2 + 2? Return exactly: 'Answer: <n>'", "--controller",
                           "flat", "--backend", "openai", "--base-url", fake_llm.url, "--model", "fake-model",
                           "--run-id", "bomb", "--timeout", "60", f"runs_dir={runs}", "budget.max_rounds=1",
                           "budget.max_tokens_per_call=2000", "budget.max_model_tokens=20000",
                           f"sandbox.memory_mb={MEMORY_MB}", "sandbox.wall_s=25", "sandbox.disk_mb=16"],
                          str(tmp_path))
    proc, peak = _run_measured(argv, "", _env(scratch), str(scratch), timeout=180)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    events = [json.loads(line) for line in (runs / "bomb" / "trace.jsonl").read_text().splitlines()]
    start = events[0]
    assert start["isolation"]["mode"] == sandbox_modes.ONE_PROCESS
    assert start["isolation"]["bounds"]["tree_bounded"] is True
    execs = [e for e in events if e["event"] == "exec"]
    assert execs and all(e["exit_reason"] == "memory" for e in execs), [e["exit_reason"] for e in execs]
    assert all(e["mode"] == sandbox_modes.ONE_PROCESS and e["bounds"]["memory"].startswith(f"{MEMORY_MB} MiB")
               for e in execs)
    assert peak <= MEMORY_MB + SLACK_MB, f"{peak:.0f} MiB resident under a {MEMORY_MB} MiB limit"
