"""The sandbox's friendly layer and its limits: each naive escape ends with the right exit_reason.

Every test runs real child interpreters with small limits, in both modes where it matters: "os" (the
kernel boundary, bubblewrap) and "weak" (separate process + audit hook, accepted explicitly).
Containment is checked from the outside (files that must not appear, a real listening socket that must
see no connection, pids that must be gone). Attacks that switch the audit hook off are in
test_sandbox_escapes.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hrm_agent.errors import AgentError
from hrm_agent.sandbox.execute import SandboxLimits, SandboxUnavailable, isolation, run_code
from hrm_agent.sandbox.launch import unshare_prefix

STRONG = isolation().strong
FAST = SandboxLimits(cpu_s=1, wall_s=3, memory_mb=256, output_bytes=10_000, allow_weak=not STRONG)
NS_MODES = [pytest.param(True, id="os", marks=pytest.mark.skipif(not STRONG, reason=isolation().detail)),
            pytest.param(False, id="weak")]


def limits(strong: bool = True, **kw) -> SandboxLimits:
    base = dict(cpu_s=1, wall_s=3, memory_mb=256, output_bytes=10_000)
    mode = {"isolation": "auto", "allow_weak": not STRONG} if strong else {"isolation": "process",
                                                                        "allow_weak": True}
    return SandboxLimits(**{**base, **kw, **mode})


@pytest.fixture
def outside():
    """A host folder outside /tmp: inside the jail /tmp is the jail's own tmpfs, so a host /tmp path
    names a different (harmless) place there; /var/tmp exists only on the host."""
    import shutil
    import tempfile

    base = "/var/tmp" if os.path.isdir("/var/tmp") else None
    path = Path(tempfile.mkdtemp(prefix="hrm-sandbox-test-", dir=base))
    path.chmod(0o755)  # as root the jail runs as nobody: allowed paths must be readable by it
    yield path
    shutil.rmtree(path, ignore_errors=True)


def sandbox_children() -> list[int]:
    """Host pids of every process still running the sandbox's child module (the tests run one at a time)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"hrm_agent.sandbox.child" in cmd and alive(int(entry.name)):
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except OSError:
        return status.parent.exists() or not Path("/proc").exists()


def live_session_members(sid: int) -> list[str]:
    """Processes (zombies excluded: they are dead, only not yet reaped by init) in session `sid`."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat="], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines()
            if line.split()[1:2] == [str(sid)] and not line.split()[2].startswith("Z")]


def assert_group_gone(pgid: int) -> None:
    """Nothing the run started is still alive: killpg finds no process, or ps only zombies."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return
    assert live_session_members(pgid) == []


def test_normal_computation_returns_result_and_stdout():
    code = "total = sum(range(10))\nprint('hello')\nRESULT = {'total': total, 'ok': True}"
    res = run_code(code, limits=FAST)
    assert res.exit_reason == "ok" and res.ok
    assert res.result == {"total": 45, "ok": True}
    assert res.stdout == "hello\n"
    assert res.variables == {"total": 45}
    assert res.error == ""
    assert_group_gone(res.pid)


def test_non_json_result_is_converted_not_crashing():
    code = ("import numpy as np\nclass Thing: pass\n"
            "RESULT = {'arr': np.arange(3), 'scalar': np.int64(7), 'set': {3, 1, 2}, 'tup': (1, 2),"
            " 'obj': Thing()}\ngrid = np.eye(2)")
    res = run_code(code, limits=limits(memory_mb=512))
    assert res.exit_reason == "ok", res.stderr
    assert res.result["arr"] == [0, 1, 2] and res.result["scalar"] == 7
    assert res.result["set"] == [1, 2, 3] and res.result["tup"] == [1, 2]
    assert res.result["obj"].startswith("<") and "Thing" in res.result["obj"]
    assert res.variables == {"grid": [[1.0, 0.0], [0.0, 1.0]]}  # np, Thing and RESULT left out
    assert "Thing" in res.result_repr


def test_exception_reports_error_with_message_and_line():
    res = run_code("x = 1\ny = x / 0\nRESULT = y", limits=FAST)
    assert res.exit_reason == "error" and not res.ok
    assert res.error == "ZeroDivisionError: division by zero"
    assert 'File "<code>", line 2' in res.stderr
    assert res.result is None and res.variables == {"x": 1}


def test_missing_result_is_no_result():
    res = run_code("z = 5", limits=FAST)
    assert res.exit_reason == "no_result" and not res.ok and res.variables == {"z": 5}


@pytest.mark.parametrize("code", [
    "while True:\n    pass",
    # ignoring SIGXCPU does not help: the hard limit or the wall clock still ends it
    "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass",
], ids=["busy-loop", "sigxcpu-ignored"])
def test_infinite_loop_is_stopped(code):
    res = run_code(code, limits=FAST)
    assert res.exit_reason in ("cpu_limit", "timeout"), (res.exit_reason, res.error)
    assert not res.ok and res.duration_s < FAST.wall_s + 2
    assert_group_gone(res.pid)


def test_sleeping_code_hits_wall_timeout():
    res = run_code("import time\ntime.sleep(60)", limits=limits(wall_s=1))
    assert res.exit_reason == "timeout" and "wall-time" in res.error
    assert_group_gone(res.pid)


@pytest.mark.parametrize("namespaces", NS_MODES)
def test_fork_bomb_is_refused_and_leaves_nothing(namespaces):
    res = run_code("import os\nwhile True:\n    os.fork()", limits=limits(namespaces))
    assert res.exit_reason == "forbidden", (res.exit_reason, res.error, res.stderr)
    assert "os.fork" in res.error
    assert_group_gone(res.pid)


# Children really started (the preamble runs before the audit hook): they must all die with the run.
_FORKING_PREAMBLE = """
import os, time
def _host_pid():
    try:
        return int(os.readlink('/proc/self'))  # the host's pid even inside a PID namespace
    except OSError:
        return os.getpid()
for i in range(3):
    if os.fork() == 0:
        if i == 2 and USE_SETSID:
            os.setsid()  # leaves the process group: only the PID namespace still holds it
        open(os.path.join(PID_DIR, str(_host_pid())), 'w').close()
        while True:
            time.sleep(0.05)
deadline = time.time() + 2
while len(os.listdir(PID_DIR)) < 3 and time.time() < deadline:
    time.sleep(0.01)
"""


@pytest.mark.parametrize("code", ["RESULT = 1", "while True:\n    pass"], ids=["finishes", "loops"])
def test_processes_started_by_the_run_are_all_killed_weak(tmp_path, code):
    use_setsid = unshare_prefix() is not None
    res = run_code(code, limits=limits(False, wall_s=2),
                   variables={"PID_DIR": str(tmp_path), "USE_SETSID": use_setsid}, preamble=_FORKING_PREAMBLE)
    assert res.exit_reason in ("ok", "cpu_limit", "timeout"), (res.exit_reason, res.error, res.stderr)
    pids = [int(p.name) for p in tmp_path.iterdir()]
    assert len(pids) == 3
    deadline = time.monotonic() + 3
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in pids if alive(p)] == []
    assert_group_gone(res.pid)


_DAEMON_PREAMBLE = """
import os, time
for i in range(3):
    if os.fork() == 0:
        if i == 2:
            os.setsid()
        while True:
            time.sleep(0.05)
"""


@pytest.mark.skipif(not STRONG, reason=isolation().detail)
@pytest.mark.parametrize("code", ["RESULT = 1", "while True:\n    pass"], ids=["finishes", "loops"])
def test_processes_started_by_the_run_all_die_with_the_jail(code):
    """Forked children, one in its own session, die with the PID namespace when the run ends."""
    res = run_code(code, limits=limits(True, wall_s=2), preamble=_DAEMON_PREAMBLE)
    assert res.exit_reason in ("ok", "cpu_limit", "timeout"), (res.exit_reason, res.error, res.stderr)
    deadline = time.monotonic() + 3
    while sandbox_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_children() == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is not enforced on macOS")
@pytest.mark.parametrize("code", [
    "x = bytearray(10**10)",
    "chunks = []\nwhile True:\n    chunks.append(bytearray(10**6))",
    "items = []\nwhile True:\n    items.append('x' * 10_000)",
    # numpy's own MemoryError, or OpenBLAS exiting when its buffer allocation fails
    "import numpy as np\nm = np.ones((2000, 2000))\nRESULT = float((m @ m @ m).sum())",
], ids=["bytearray", "growing-chunks", "growing-list", "numpy"])
def test_memory_bomb_is_memory(code):
    res = run_code(code, limits=limits(memory_mb=128, cpu_s=5, wall_s=10))  # filling takes CPU time
    assert res.exit_reason == "memory", (res.exit_reason, res.error, res.stderr[-500:])
    assert "MemoryError" in res.error


@pytest.mark.parametrize("code", [
    "open(TARGET, 'w').write('pwned')",
    "import pathlib\npathlib.Path(TARGET).write_text('pwned')",
    "import os\nos.close(os.open(TARGET, os.O_CREAT | os.O_WRONLY))",
    "import os\nos.symlink(TARGET, 'link')\nopen('link', 'w').write('pwned')",
    "import os\nos.chdir(os.path.dirname(TARGET))\nopen(os.path.basename(TARGET), 'w').write('pwned')",
    "import shutil\nopen('local.txt', 'w').write('pwned')\nshutil.copy('local.txt', TARGET)",
    "import os\nopen('local.txt', 'w').write('pwned')\nos.rename('local.txt', TARGET)",
    # the failure is caught, but the attempt alone makes the run forbidden
    "try:\n    open(TARGET, 'w').write('pwned')\nexcept OSError:\n    pass\nRESULT = 1",
], ids=["open", "pathlib", "os.open", "symlink", "chdir", "copy", "rename", "caught"])
def test_write_outside_working_directory_is_forbidden(outside, code):
    target = outside / "escape.txt"
    res = run_code(code, variables={"TARGET": str(target)}, limits=FAST)
    assert res.exit_reason == "forbidden", (res.exit_reason, res.error, res.stderr)
    assert "PermissionError" in res.error
    assert not target.exists()


@pytest.mark.parametrize("code", [
    "import os\nos.remove(OWNED)",
    "import os\nos.rename(OWNED, 'stolen.txt')",
    "import os\nos.chmod(OWNED, 0)",
    "import shutil, os\nshutil.rmtree(os.path.dirname(OWNED))",
    "import os\nos.mkdir(OWNED + '.d')",
], ids=["remove", "rename", "chmod", "rmtree", "mkdir"])
def test_changing_files_outside_working_directory_is_forbidden(outside, code):
    owned = outside / "owned" / "keep.txt"
    owned.parent.mkdir()
    owned.write_text("mine")
    mode = owned.stat().st_mode
    res = run_code(code, variables={"OWNED": str(owned)}, limits=FAST)
    assert res.exit_reason == "forbidden", (res.exit_reason, res.error, res.stderr)
    assert owned.read_text() == "mine" and owned.stat().st_mode == mode
    assert sorted(p.name for p in outside.rglob("*")) == ["keep.txt", "owned"]


def test_working_directory_is_fresh_writable_and_removed():
    code = ("import os, shutil\nopen('a.txt', 'w').write('hi')\nos.mkdir('d')\n"
            "os.rename('a.txt', 'd/b.txt')\ntext = open('d/b.txt').read()\nshutil.rmtree('d')\n"
            "RESULT = [os.getcwd(), os.listdir('.'), text]")
    res = run_code(code, limits=FAST)
    assert res.exit_reason == "ok", res.stderr
    cwd, listing, text = res.result
    assert text == "hi" and listing == []
    assert cwd != os.getcwd() and not Path(cwd).exists()


def test_reading_outside_needs_allowed_read_paths(outside):
    data = outside / "data.txt"
    data.write_text("readable")
    code = "RESULT = open(PATH).read()"
    denied = run_code(code, variables={"PATH": str(data)}, limits=FAST)
    assert denied.exit_reason == "forbidden" and "reading" in denied.error
    allowed = run_code(code, variables={"PATH": str(data)}, limits=FAST, allowed_read_paths=[str(outside)])
    assert allowed.exit_reason == "ok" and allowed.result == "readable"


def _server() -> socket.socket:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.3)
    return srv


def _assert_no_connection(srv: socket.socket) -> None:
    with pytest.raises(socket.timeout):
        conn, _ = srv.accept()
        conn.close()


@pytest.mark.parametrize("namespaces", NS_MODES)
@pytest.mark.parametrize("code", [
    "import socket\nsocket.create_connection(('127.0.0.1', PORT), timeout=1)",
    "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.connect(('127.0.0.1', PORT))",
    "import urllib.request\nurllib.request.urlopen(f'http://127.0.0.1:{PORT}/', timeout=1)",
], ids=["create_connection", "raw-socket", "urllib"])
def test_network_connection_is_forbidden(code, namespaces):
    with _server() as srv:
        res = run_code(code, variables={"PORT": srv.getsockname()[1]}, limits=limits(namespaces))
        assert res.exit_reason == "forbidden", (res.exit_reason, res.error, res.stderr)
        assert "network" in res.error
        _assert_no_connection(srv)


@pytest.mark.skipif(not STRONG, reason=isolation().detail)
def test_network_namespace_blocks_even_code_run_before_the_hook():
    preamble = ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', PORT), timeout=1)\n"
                "    OUTCOME = 'connected'\nexcept OSError as exc:\n    OUTCOME = type(exc).__name__")
    with _server() as srv:
        res = run_code("RESULT = OUTCOME", variables={"PORT": srv.getsockname()[1]}, preamble=preamble,
                       limits=FAST)
        assert res.exit_reason == "ok" and res.result != "connected"
        _assert_no_connection(srv)


def test_parent_environment_is_invisible(monkeypatch):
    secret = "sk-test-4f8a1c-never-leak"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("HRM_SANDBOX_SECRET", secret)
    res = run_code("import os\nprint(dict(os.environ))\nRESULT = dict(os.environ)", limits=FAST)
    assert res.exit_reason == "ok"
    assert secret not in res.stdout and secret not in repr(res.result)
    assert "OPENAI_API_KEY" not in res.result and "HRM_SANDBOX_SECRET" not in res.result
    assert res.result["PATH"] == "/usr/bin:/bin"


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/environ").exists(), reason="needs /proc")
def test_parent_environment_file_cannot_be_read(monkeypatch):
    monkeypatch.setenv("HRM_SANDBOX_SECRET", "sk-proc-secret")
    res = run_code("RESULT = open(f'/proc/{PARENT}/environ', 'rb').read().decode('latin-1')",
                   variables={"PARENT": os.getpid()}, limits=FAST)
    assert res.exit_reason == "forbidden"
    assert "sk-proc-secret" not in repr(res.result) + res.stdout + res.stderr


def test_megabytes_of_output_are_cut_at_the_limit():
    res = run_code("for i in range(200_000):\n    print('y' * 99)\nRESULT = 1", limits=FAST)
    assert res.exit_reason == "output_limit" and not res.ok
    assert 0 < len(res.stdout.encode()) <= FAST.output_bytes
    assert set(res.stdout.replace("\n", "")) == {"y"}
    assert res.result is None
    assert_group_gone(res.pid)


def test_oversized_result_is_output_limit():
    res = run_code("RESULT = 'x' * 3000", limits=limits(result_bytes=1000))
    assert res.exit_reason == "output_limit" and "RESULT" in res.error and res.result is None


def test_variables_pass_between_runs():
    first = run_code("import math\npoints = [[0, 0], [3, 4]]\nscale = 2.5\nf = lambda v: v\n_hidden = 1\n"
                     "RESULT = len(points)", limits=FAST)
    assert first.ok and first.variables == {"points": [[0, 0], [3, 4]], "scale": 2.5}
    second = run_code("d = math.dist(*points) * scale\nRESULT = d", variables=first.variables,
                      preamble="import math", limits=FAST)
    assert second.ok and second.result == 12.5
    assert second.variables == {"points": [[0, 0], [3, 4]], "scale": 2.5, "d": 12.5}


def test_preamble_helper_is_available_to_code():
    res = run_code("RESULT = hrm_double(21)", preamble="def hrm_double(x):\n    return 2 * x", limits=FAST)
    assert res.ok and res.result == 42


def test_bad_variables_are_an_agent_error():
    with pytest.raises(AgentError):
        run_code("RESULT = 1", variables={"x": object()})
    with pytest.raises(AgentError):
        SandboxLimits(wall_s=0)


@pytest.mark.parametrize("code", [
    "import subprocess\nsubprocess.run(['/bin/sh', '-c', f'echo x > {MARKER}'])",
    "import os\nos.system(f'echo x > {MARKER}')",
    "import os\nos.popen(f'echo x > {MARKER}').read()",
    "import os\nos.execv('/bin/sh', ['/bin/sh', '-c', f'echo x > {MARKER}'])",
    "import os\nos.posix_spawn('/bin/sh', ['/bin/sh', '-c', f'echo x > {MARKER}'], {})",
    "import multiprocessing\np = multiprocessing.Process(target=open, args=(MARKER, 'w'))\np.start()",
    "import _posixsubprocess, subprocess\nsubprocess.Popen._execute_child = None\n"
    "_posixsubprocess.fork_exec([b'/bin/sh'], [b'/bin/sh'], True, (), None, None, -1, -1, -1, -1, -1, -1,"
    " -1, -1, False, False, -1, None, None, None, None)",
    "import os, signal\nos.kill(os.getppid(), signal.SIGTERM)",
], ids=["subprocess", "os.system", "os.popen", "os.execv", "posix_spawn", "multiprocessing", "fork_exec",
        "kill"])
def test_starting_processes_is_forbidden(outside, code):
    marker = outside / "marker"
    res = run_code(code, variables={"MARKER": str(marker)}, limits=FAST)
    assert res.exit_reason == "forbidden", (res.exit_reason, res.error, res.stderr)
    assert "process" in res.error
    time.sleep(0.1)
    assert not marker.exists()


def test_child_runs_isolated_interpreter():
    res = run_code("import sys\nRESULT = [sys.flags.isolated, sys.flags.dont_write_bytecode, sys.executable]",
                   limits=FAST)
    assert res.ok and res.result == [1, 1, sys.executable]


@pytest.mark.skipif(not STRONG, reason="agent tests accept the weak mode where no OS sandbox exists")
def test_weak_mode_must_be_accepted_explicitly():
    with pytest.raises(SandboxUnavailable, match="allow_weak"):
        run_code("RESULT = 1", limits=SandboxLimits(isolation="process"))


def test_works_without_pidfd_and_waitid(monkeypatch):
    """The polling fallback used on macOS (no pidfd_open; os.waitid only from Python 3.13)."""
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    monkeypatch.delattr(os, "waitid", raising=False)
    done = run_code("print('hi')\nRESULT = 7", limits=FAST)
    assert done.ok and done.result == 7 and done.stdout == "hi\n"
    looping = run_code("import time\nwhile True:\n    time.sleep(0.01)", limits=limits(wall_s=1))
    assert looping.exit_reason == "timeout"
    assert_group_gone(looping.pid)
