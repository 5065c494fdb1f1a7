"""Hostile programs against the OS boundary, written as an attacker would: switch the audit hook off first.

Each program gets a shell and a hook-free Python inside the jail (the audit event that guards
subprocess is skipped by handing `subprocess` a fake `sys`, and a fresh `_posixsubprocess` replaces
the patched one), then tries an escape. Containment is checked from the outside: files that must not
appear, listeners that must see no connection, secrets that must not come back, processes that must
be gone, and the verdict that must come from the kernel (SIGSYS for refused system calls, the cgroup for
memory). The friendly layer's refusals of naive attempts are in test_sandbox.py.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from hrm_agent.sandbox.execute import SandboxLimits, isolation, run_code

pytestmark = pytest.mark.skipif(not (sys.platform.startswith("linux") and isolation().strong),
                                reason=f"no OS sandbox here: {isolation().detail}")

# Runs inside the jail as model code; defines sh(cmd) and py(src), neither seen by the audit hook.
UNHOOKED = r'''
import subprocess, sys, types
class _Sys(types.ModuleType):
    def __getattr__(self, name):
        return getattr(sys, name)
_fake = _Sys("sys")
_fake.audit = lambda *a, **k: None
subprocess.sys = _fake
del sys.modules["_posixsubprocess"]
import _posixsubprocess
subprocess._fork_exec = _posixsubprocess.fork_exec
subprocess._posixsubprocess = _posixsubprocess
def sh(cmd, timeout=20):
    p = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, timeout=timeout)
    return {"rc": p.returncode, "out": p.stdout[-3000:], "err": p.stderr[-3000:]}
def py(src, timeout=20):
    p = subprocess.run([sys.executable, "-I", "-c", src], capture_output=True, text=True, timeout=timeout)
    return {"rc": p.returncode, "out": p.stdout[-3000:], "err": p.stderr[-3000:]}
'''

LIMITS = SandboxLimits(cpu_s=5, wall_s=15, memory_mb=256, output_bytes=50_000, disk_mb=16, max_processes=16)
SECRET = "sk-hrm-escape-test-" + uuid.uuid4().hex


def attack(body: str, **kw):
    return run_code(UNHOOKED + body, limits=kw.pop("limits", LIMITS), **kw)


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("HRM_ESCAPE_SECRET", SECRET)
    return SECRET


def test_the_bypass_really_switches_the_hook_off():
    """Without this, every test below would only show the friendly layer again."""
    res = attack("RESULT = sh('id -u; echo hooked-not')")
    assert res.ok, (res.exit_reason, res.error, res.stderr)
    assert res.result["rc"] == 0 and "hooked-not" in res.result["out"]
    assert res.result["out"].split()[0] != "0"  # never root inside


def _targets(token: str) -> list[Path]:
    site = next(p for p in sys.path if p.endswith("site-packages"))
    here = Path(__file__).resolve().parents[2]
    return [Path.home() / f"pwned-{token}", Path("/tmp") / f"pwned-{token}", Path("/dev/shm") / f"pwned-{token}",
            Path("/var/tmp") / f"pwned-{token}", Path(site) / f"pwned-{token}.pth", here / "agent" / f"pwned-{token}",
            here / f"pwned-{token}", Path("/etc") / f"pwned-{token}", Path("/root") / f"pwned-{token}"]


def test_no_write_reaches_the_host(tmp_path):
    token = uuid.uuid4().hex[:10]
    targets = _targets(token) + [tmp_path / f"pwned-{token}"]
    paths = json.dumps([str(t) for t in targets])
    body = f"""
import json
RESULT = py('''
import json, os
out = {{}}
for p in json.loads({paths!r}):
    try:
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("import os; os.system('touch /tmp/pth-ran')\\n")
        out[p] = "written-in-jail"
    except OSError as exc:
        out[p] = type(exc).__name__
print(json.dumps(out))
''')
"""
    res = attack(body)
    assert res.exit_reason == "ok", (res.exit_reason, res.error, res.stderr)
    for t in targets:
        assert not t.exists(), f"{t} was written on the host"
    assert not Path("/tmp/pth-ran").exists()


def test_site_packages_and_sources_are_read_only():
    site = next(p for p in sys.path if p.endswith("site-packages"))
    before = sorted(os.listdir(site))
    here = Path(__file__).resolve().parents[2]
    agent_before = {p: p.stat().st_mtime_ns for p in (here / "agent").rglob("*.py")}
    res = attack(f"""
RESULT = sh('echo "import os" > {site}/zz-evil.pth; echo x >> {here}/agent/sandbox/execute.py; '
            'rm -f {here}/agent/sandbox/child.py; echo rc=$?')
""")
    assert res.exit_reason == "ok", (res.exit_reason, res.error, res.stderr)
    assert "Read-only file system" in res.result["err"]
    assert sorted(os.listdir(site)) == before
    assert {p: p.stat().st_mtime_ns for p in (here / "agent").rglob("*.py")} == agent_before


def test_secrets_of_the_parent_stay_invisible(secret_env):
    parent = os.getpid()
    res = attack(f"""
import os
RESULT = py('''
import os, glob
found = []
for path in glob.glob("/proc/*/environ") + ["/proc/{parent}/environ", "/proc/1/environ"]:
    try:
        found.append(open(path, "rb").read().decode("latin-1"))
    except OSError as exc:
        found.append(type(exc).__name__)
found.append(repr(dict(os.environ)))
for path in ["/proc/{parent}/cmdline", "/proc/{parent}/mem", "/etc/shadow", "/root/.bash_history"]:
    try:
        found.append(open(path, "rb").read(2000).decode("latin-1"))
    except OSError as exc:
        found.append(path + ":" + type(exc).__name__)
print(found)
''')
print(RESULT["out"])
""")
    blob = json.dumps([res.result, res.stdout, res.stderr, res.variables])
    assert secret_env not in blob
    assert "/etc/shadow:FileNotFoundError" in blob  # not even present in the jail


def _listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.3)
    return srv


def test_no_network_reaches_the_host():
    srv = _listener()
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = "hrm-escape-" + uuid.uuid4().hex
    abstract.bind("\0" + name)
    abstract.listen(1)
    abstract.settimeout(0.3)
    port = srv.getsockname()[1]
    try:
        res = attack(f"""
RESULT = py('''
import socket, os
out = {{}}
for host in ["127.0.0.1", "10.0.2.2", "8.8.8.8", "::1"]:
    try:
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(1); s.connect((host, {port})); out[host] = "connected"
    except OSError as exc:
        out[host] = type(exc).__name__
try:
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); u.connect(chr(0) + {name!r}); out["abstract"] = "connected"
except OSError as exc:
    out["abstract"] = type(exc).__name__
try:
    out["ifaces"] = sorted(os.listdir("/sys/class/net"))
except OSError as exc:
    out["ifaces"] = type(exc).__name__
try:
    socket.getaddrinfo("example.com", 80); out["dns"] = "resolved"
except OSError as exc:
    out["dns"] = type(exc).__name__
print(out)
''')
""")
        assert res.exit_reason == "ok", (res.exit_reason, res.error, res.stderr)
        assert "connected" not in res.result["out"] and "resolved" not in res.result["out"]
        for sock in (srv, abstract):
            with pytest.raises(socket.timeout):
                sock.accept()[0].close()
    finally:
        srv.close()
        abstract.close()


# System calls the seccomp filter refuses: made from the preamble (which runs before the hook, like code
# that switched it off), so the main process itself is killed and the verdict must be the kernel's.
SYSCALL_ATTACKS = {
    "setns-host-net": "import os\nfd = os.open('/proc/self/ns/net', os.O_RDONLY)\nlibc.setns(fd, 0)",
    "unshare-user": "libc.unshare(0x10000000)",
    "unshare-mount": "libc.unshare(0x00020000)",
    "clone-newns": "libc.syscall(NR['clone'], 0x00020000 | 17, 0, 0, 0, 0)",
    "mount-tmpfs": "libc.mount(b'none', b'/sandbox', b'tmpfs', 0, None)",
    "ptrace-traceme": "libc.ptrace(0, 0, 0, 0)",
    "keyctl": "libc.syscall(NR['keyctl'], 0, 0, 0, 0, 0)",
    "bpf": "libc.syscall(NR['bpf'], 0, 0, 0)",
    "io_uring": "libc.syscall(NR['io_uring_setup'], 8, ctypes.create_string_buffer(120))",
    "userfaultfd": "libc.syscall(NR['userfaultfd'], 0)",
    "perf_event_open": "libc.syscall(NR['perf_event_open'], 0, 0, -1, -1, 0)",
    "immutable-flag": ("import fcntl, os\nfd = os.open('/sandbox/f', os.O_CREAT | os.O_RDWR)\n"
                       "fcntl.ioctl(fd, 0x40086602, (0x10).to_bytes(8, 'little'))"),
    "tiocsti": "import fcntl\nfcntl.ioctl(0, 0x5412, b'x')",
    "process_vm_readv": "libc.syscall(NR['process_vm_readv'], 1, 0, 0, 0, 0, 0)",
    "chroot": "libc.chroot(b'/sandbox')",
    "pivot_root": "libc.syscall(NR['pivot_root'], b'/sandbox', b'/sandbox')",
    "open_by_handle_at": "libc.syscall(NR['open_by_handle_at'], 0, 0, 0)",
    "x32-abi": "libc.syscall(0x40000000 | 39)",
}
SYSCALL_PRELUDE = """
import ctypes, platform
from hrm_agent.sandbox.seccomp import ARCHES
libc = ctypes.CDLL(None, use_errno=True)
NR = ARCHES[platform.machine()][1]
"""


@pytest.mark.parametrize("name", sorted(SYSCALL_ATTACKS))
def test_refused_system_calls_kill_the_process_and_say_forbidden(name):
    import platform

    if name == "x32-abi" and platform.machine() != "x86_64":
        pytest.skip("x32 exists on x86_64 only")
    res = run_code("RESULT = 'survived'", preamble=SYSCALL_PRELUDE + SYSCALL_ATTACKS[name], limits=LIMITS)
    assert res.exit_reason == "forbidden", (res.exit_reason, res.error, res.stderr[-800:])
    assert "seccomp" in res.error
    assert res.result is None


def test_sandbox_folder_is_removed_even_after_an_immutable_flag_attempt():
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("hrm-sandbox-*"))
    attack("RESULT = py('import fcntl, os\\nfd = os.open(\"x\", os.O_CREAT)\\n"
           "fcntl.ioctl(fd, 0x40086602, (0x10).to_bytes(8, \"little\"))')")
    assert set(Path(tempfile.gettempdir()).glob("hrm-sandbox-*")) <= before


def test_disk_use_is_bounded_in_total_not_per_file():
    res = attack("""
RESULT = py('''
import os
total = 0
for i in range(200):
    try:
        with open(f"/sandbox/f{i}", "wb") as f:
            for _ in range(16):
                f.write(b"x" * (256 << 10)); total += 256 << 10
    except OSError as exc:
        break
print(total)
''')
""")
    assert res.exit_reason == "ok", (res.exit_reason, res.error, res.stderr)
    written = int(res.result["out"].strip())
    assert written <= (LIMITS.disk_mb + 1) << 20, written


@pytest.mark.skipif(not isolation().cgroup, reason="no writable cgroup here: only per-process rlimits bound memory")
def test_memory_is_bounded_across_processes():
    # each process stays under RLIMIT_AS, together they pass the cgroup's limit
    res = attack("""
import time
procs = [subprocess.Popen([sys.executable, "-I", "-c", "x = bytearray(120 << 20); import time; time.sleep(30)"])
         for _ in range(6)]
time.sleep(8)
RESULT = [p.poll() for p in procs]
""", limits=SandboxLimits(cpu_s=10, wall_s=20, memory_mb=256, disk_mb=16))
    assert res.exit_reason in ("memory", "ok"), (res.exit_reason, res.error, res.stderr[-500:])
    if res.exit_reason == "ok":  # the main process survived: then the kernel killed the hogs
        assert sum(code == -9 for code in res.result) >= 3, res.result


def test_fork_bomb_without_the_hook_is_bounded_and_leaves_nothing():
    res = attack("RESULT = sh(':(){ :|:& };:; sleep 2; echo done', timeout=10)",
                 limits=SandboxLimits(cpu_s=5, wall_s=6, memory_mb=256, max_processes=16))
    assert res.exit_reason in ("ok", "timeout", "cpu_limit", "error"), (res.exit_reason, res.error)
    time.sleep(0.5)
    assert _jail_processes() == []


def test_daemons_die_with_the_run():
    res = attack("RESULT = sh('setsid sh -c \"sleep 300\" >/dev/null 2>&1 & nohup sleep 300 >/dev/null 2>&1 & "
                 "echo started')")
    assert res.exit_reason == "ok", (res.exit_reason, res.error, res.stderr)
    deadline = time.monotonic() + 3
    while _jail_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _jail_processes() == []


def _jail_processes() -> list[int]:
    """Host pids still running as the jail's uid or running the sandbox child module."""
    from hrm_agent.sandbox.launch import SANDBOX_UID

    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            status = (entry / "status").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if "\nState:\tZ" in status:
            continue
        uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), "")
        if (os.geteuid() == 0 and uid == str(SANDBOX_UID)) or b"hrm_agent.sandbox.child" in cmd:
            out.append(int(entry.name))
    return out


def test_host_processes_cannot_be_signalled():
    res = attack(f"""
RESULT = py('''
import os, signal
out = {{}}
for pid in ({os.getpid()}, {os.getppid()}, 1):
    try:
        os.kill(pid, 0); out[pid] = "visible"
    except OSError as exc:
        out[pid] = type(exc).__name__
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
print(out)
''')
""")
    # we are alive to check; the pids of this test process are not visible inside
    assert res.exit_reason in ("ok", "killed"), (res.exit_reason, res.error)


def test_forged_report_cannot_turn_a_refusal_into_ok():
    """Write an 'ok' report to every descriptor, then do something the friendly layer refuses."""
    res = run_code("""
import os
fake = b'{"has_result": true, "result": "forged", "result_repr": "forged", "variables": {}, "error": ""}'
for fd in range(3, 64):
    try:
        os.write(fd, fake)
    except OSError:
        pass
open('/etc/hostname', 'w')
""", limits=LIMITS)
    assert res.exit_reason == "forbidden" and res.result is None, (res.exit_reason, res.error)


def test_garbage_on_the_report_pipe_is_not_a_result():
    res = run_code("import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'\\xff{not json')\n"
                   "    except OSError:\n        pass\nos._exit(0)", limits=LIMITS)
    assert res.exit_reason == "no_result" and res.result is None


def test_sysctls_and_host_identity_are_untouched():
    host = socket.gethostname()
    res = attack("RESULT = sh('echo pwned > /proc/sys/kernel/hostname; hostname pwned; cat /proc/sys/kernel/hostname')")
    assert res.exit_reason == "ok", (res.exit_reason, res.error)
    assert socket.gethostname() == host


def test_setuid_binaries_do_not_raise_privileges():
    res = attack("RESULT = sh('for b in /usr/bin/su /usr/bin/sudo /usr/bin/passwd /usr/bin/newgrp; do "
                 "[ -x $b ] && $b -h </dev/null >/dev/null 2>&1; done; id -u')")
    assert res.exit_reason == "ok", (res.exit_reason, res.error)
    assert res.result["out"].strip().splitlines()[-1] != "0"
