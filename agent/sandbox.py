"""Run model-written Python in a contained child process and bring back its `RESULT` as JSON.

The agent's solver asks a small LLM for code that sets `RESULT`; that code must not reach the user's
machine. Containment, from strongest to weakest:

- a separate interpreter (`python -I -B -u -c BOOTSTRAP`) in a new session, with a minimal environment
  (no inherited variable: API keys in the parent stay invisible) and a fresh temporary working directory
  that is removed afterwards;
- on Linux, when `unshare --net --pid --fork --kill-child` works (it does as root), a private network
  namespace (no interface but a down loopback) and a private PID namespace (every process the code may
  start dies with it, even one that called setsid);
- resource limits set by the child on itself: RLIMIT_CPU (soft -> SIGXCPU, reported as "cpu_limit"; hard
  one second later -> SIGKILL), RLIMIT_AS for memory, RLIMIT_FSIZE for files, no core files. RLIMIT_AS is
  used rather than RLIMIT_DATA because it counts every mapping (malloc arenas, mmap, thread stacks), so a
  `bytearray(10**10)`, a growing list or a huge numpy array all end in MemoryError (native code that
  exits on a failed allocation, like OpenBLAS, is recognised from stderr). numpy with one BLAS thread needs
  about 192 MiB of address space for a matrix product, so keep memory_mb >= 256. RLIMIT_NPROC does not
  bind root, so process creation is refused by the audit hook instead;
- the parent enforces wall time and output size, and kills the whole process group (os.killpg) on timeout,
  on output overflow and after every run, so nothing the code started survives;
- an audit hook installed after the preamble refuses network use (socket creation other than AF_UNIX,
  connect, bind, DNS), process creation (fork, exec, spawn, os.system, subprocess, kill), writes outside
  the working directory (open for writing, remove, rename, mkdir, chmod, link...), reads outside the
  working directory, the Python installation and `allowed_read_paths`, ctypes and rlimit changes. Any
  refused attempt makes the run "forbidden", even when the code caught the exception.

Audit hooks are not a security boundary against deliberately hostile code (CPython documents this); they
stop the accidents and naive escapes an LLM produces, and the namespaces and the process-group kill back
them up. The result travels through a report file the child opened before the hook, never through stdout.
"""

from __future__ import annotations

import functools
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from hrm_agent.errors import AgentError

EXIT_REASONS = ("ok", "error", "timeout", "cpu_limit", "memory", "output_limit", "forbidden", "no_result",
                "killed")
UNSHARE_ARGS = ("--net", "--pid", "--fork", "--kill-child")
_UNSHARE_PATHS = ("/usr/bin/unshare", "/bin/unshare", "/usr/sbin/unshare", "/sbin/unshare")
_DRAIN_S = 1.0          # how long to keep reading pipes after the child is gone
# What native code prints when an allocation fails under RLIMIT_AS and it exits instead of raising.
_MEMORY_SIGNS = ("MemoryError", "Memory allocation", "Cannot allocate memory", "std::bad_alloc",
                 "out of memory")
_POLL_S = 0.05          # fallback poll interval where pidfd_open is missing (macOS)


@dataclass
class SandboxLimits:
    """Limits for one run. `namespaces` uses unshare where available (turn it off if a preamble must
    reach the parent over TCP on 127.0.0.1: a private network namespace has no route to it; a Unix socket
    path or a socket connected in the preamble both work either way)."""

    cpu_s: float = 10
    wall_s: float = 20
    memory_mb: int = 512
    output_bytes: int = 64_000
    max_processes: int = 16
    result_bytes: int = 1_000_000
    disk_mb: int = 64
    namespaces: bool = True

    def __post_init__(self) -> None:
        for name in ("cpu_s", "wall_s", "memory_mb", "output_bytes", "max_processes", "result_bytes",
                     "disk_mb"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise AgentError(f"sandbox limit {name} must be a positive number, got {value!r}")


@dataclass
class ExecResult:
    """What one run produced. `ok` is true only for exit_reason "ok" (code finished and set RESULT)."""

    ok: bool
    result: Any
    result_repr: str
    stdout: str
    stderr: str
    exit_reason: str
    error: str
    duration_s: float
    variables: dict[str, Any] = field(default_factory=dict)
    pid: int = 0  # the child's process-group id on this machine (diagnostics and tests)


@functools.lru_cache(maxsize=1)
def unshare_command() -> tuple[str, ...] | None:
    """The unshare prefix when network+PID namespaces can be created here, else None (checked once)."""
    if not sys.platform.startswith("linux"):
        return None
    exe = next((p for p in _UNSHARE_PATHS if os.access(p, os.X_OK)), None)
    if exe is None:
        return None
    try:
        probe = subprocess.run([exe, *UNSHARE_ARGS, "true"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (exe, *UNSHARE_ARGS) if probe.returncode == 0 else None


def namespaces_available() -> bool:
    """True when runs with `namespaces=True` really get private network and PID namespaces."""
    return unshare_command() is not None


def run_code(code: str, *, variables: dict | None = None, limits: SandboxLimits | None = None,
             preamble: str = "", allowed_read_paths: Iterable[str] = ()) -> ExecResult:
    """Run `code` in a fresh sandboxed interpreter and return what it set and printed.

    `variables` (JSON values) are defined before the code runs; the returned `variables` hold every
    JSON-serialisable top-level name afterwards (injected ones included, RESULT and _private names not),
    so they can be passed to the next run. `preamble` runs first, in the same namespace, before the audit
    hook is installed (still under the rlimits, in the same process).
    """
    limits = limits or SandboxLimits()
    try:
        variables_json = json.dumps(dict(variables or {}))
    except (TypeError, ValueError) as exc:
        raise AgentError(f"sandbox variables must be JSON values: {exc}") from exc
    root = Path(tempfile.mkdtemp(prefix="hrm-sandbox-"))
    try:
        return _run_in(root, code, variables_json, limits, preamble, list(allowed_read_paths))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_in(root: Path, code: str, variables_json: str, limits: SandboxLimits, preamble: str,
            allowed_read_paths: list[str]) -> ExecResult:
    work = root / "work"
    work.mkdir()
    report = root / "report.json"
    config = {
        "work": str(work), "report": str(report), "code": code, "preamble": preamble,
        "variables": json.loads(variables_json), "allowed_read_paths": allowed_read_paths,
        "cpu_s": max(1, math.ceil(limits.cpu_s)), "memory_bytes": int(limits.memory_mb) << 20,
        "file_bytes": max(int(limits.disk_mb) << 20, int(limits.result_bytes) * 2 + (1 << 20)),
        "max_processes": int(limits.max_processes), "result_bytes": int(limits.result_bytes),
    }
    config_path = root / "config.json"
    config_path.write_text(json.dumps(config))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}
    prefix = unshare_command() if limits.namespaces else None
    argv = [*(prefix or ()), sys.executable, "-I", "-B", "-u", "-c", _BOOTSTRAP, str(config_path)]
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
    try:
        out, err, killed_for, cpu_used, status = _supervise(proc, start, limits, prefix is not None)
    finally:
        _kill_group(proc.pid)
        if proc.returncode is None:
            _reap(proc)
    duration = time.monotonic() - start
    stdout = out[:limits.output_bytes].decode("utf-8", "replace")
    stderr = _clean_stderr(err[:limits.output_bytes].decode("utf-8", "replace"), prefix is not None)
    data = _read_report(report, limits.result_bytes)
    return _classify(data, killed_for, cpu_used, status, stdout, stderr, duration, limits, proc.pid)


def _supervise(proc: subprocess.Popen, start: float, limits: SandboxLimits, namespaced: bool
               ) -> tuple[bytes, bytes, str, float, int | None]:
    """Pump stdout/stderr with a cap until the child exits, the wall clock runs out or output overflows.

    Returns (stdout, stderr, killed_for, cpu seconds used, wait status); killed_for is "timeout",
    "output_limit" or "".
    """
    sel = selectors.DefaultSelector()
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    for fd in bufs:
        sel.register(fd, selectors.EVENT_READ)
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(proc.pid)
            sel.register(pidfd, selectors.EVENT_READ)
        except OSError:
            pidfd = None
    deadline = start + limits.wall_s
    cap = limits.output_bytes
    killed_for = ""
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                killed_for = "timeout"
                break
            exited = False
            for key, _ in sel.select(min(deadline - now, _POLL_S if pidfd is None else 1.0)):
                if key.fd == pidfd:
                    exited = True
                    continue
                chunk = os.read(key.fd, 65536)
                if chunk:
                    bufs[key.fd] += chunk
                else:
                    sel.unregister(key.fd)
            if any(len(b) > cap for b in bufs.values()):
                killed_for = "output_limit"
                break
            if exited or (pidfd is None and _has_exited(proc.pid)):
                break
        if killed_for and namespaced:
            _kill_namespace_init(proc.pid)
        # Leader finished or must die: kill the whole group (it stays reserved while the leader is a
        # zombie), then collect what is still in the pipes for a short while.
        _kill_group(proc.pid)
        drain_end = time.monotonic() + _DRAIN_S
        while any(k.fd != pidfd for k in sel.get_map().values()) and time.monotonic() < drain_end:
            for key, _ in sel.select(0.05):
                if key.fd == pidfd:
                    continue
                chunk = os.read(key.fd, 65536)
                if chunk and len(bufs[key.fd]) <= cap:
                    bufs[key.fd] += chunk
                elif not chunk:
                    sel.unregister(key.fd)
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
    cpu_used, status = _reap(proc)
    return bytes(bufs[out_fd]), bytes(bufs[err_fd]), killed_for, cpu_used, status


_early_waits: dict[int, tuple[int, Any]] = {}  # pid -> (status, rusage) where the poll had to reap


def _has_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it where os.waitid exists (so its pid and process group
    stay reserved for the kill that follows); elsewhere (macOS, Python < 3.13) it reaps and remembers."""
    try:
        if hasattr(os, "waitid"):
            return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        done, status, usage = os.wait4(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    if done:
        _early_waits[pid] = (status, usage)
    return bool(done)


def _kill_namespace_init(unshare_pid: int) -> None:
    """Kill the interpreter (PID 1 of the namespace, so everything in it dies) and let unshare reap it.

    Killing unshare at the same time would orphan the interpreter as a zombie for the system's init.
    """
    try:
        children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
        for child in children:
            os.kill(int(child), signal.SIGKILL)
    except (OSError, ValueError):
        return
    end = time.monotonic() + 1.0
    while not _has_exited(unshare_pid) and time.monotonic() < end:
        time.sleep(0.01)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(proc: subprocess.Popen) -> tuple[float, int | None]:
    """Wait for the child and return (user+system CPU seconds incl. its reaped children, wait status)."""
    try:
        status, usage = _early_waits.pop(proc.pid, None) or os.wait4(proc.pid, 0)[1:]
    except ChildProcessError:
        proc.returncode = proc.returncode if proc.returncode is not None else -signal.SIGKILL
        return 0.0, None
    proc.returncode = os.waitstatus_to_exitcode(status)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return usage.ru_utime + usage.ru_stime, status


def _clean_stderr(text: str, namespaced: bool) -> str:
    """Drop unshare's own complaint when the child died of a signal it cannot re-raise in a PID namespace."""
    if not namespaced:
        return text
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("unshare: "))


def _read_report(path: Path, result_bytes: int) -> dict | None:
    try:
        if path.stat().st_size > 4 * result_bytes + 100_000:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("status") in EXIT_REASONS else None


def _classify(data: dict | None, killed_for: str, cpu_used: float, status: int | None, stdout: str,
              stderr: str, duration: float, limits: SandboxLimits, pid: int) -> ExecResult:
    cpu_soft = max(1, math.ceil(limits.cpu_s))
    variables = data.get("variables", {}) if data else {}
    result, result_repr = (data.get("result"), data.get("result_repr", "")) if data else (None, "")
    if killed_for == "timeout":
        reason, error = "timeout", f"wall-time limit of {limits.wall_s:g} s exceeded"
    elif killed_for == "output_limit":
        reason, error = "output_limit", f"output exceeded {limits.output_bytes} bytes (truncated)"
    elif data is not None:
        reason, error = data["status"], str(data.get("error", ""))
    elif cpu_used >= cpu_soft - 0.05:
        reason, error = "cpu_limit", f"CPU-time limit of {cpu_soft} s exceeded"
    elif any(sign in stderr for sign in _MEMORY_SIGNS):
        reason, error = "memory", f"memory limit of {limits.memory_mb} MiB exceeded"
    else:
        reason = "killed"
        namespaced = limits.namespaces and namespaces_available()
        if status is None or (os.WIFSIGNALED(status) and namespaced):
            error = "process died before reporting a result"  # unshare cannot pass the signal on
        elif os.WIFSIGNALED(status):
            error = f"process killed by {signal.Signals(os.WTERMSIG(status)).name} before reporting a result"
        else:
            code = os.waitstatus_to_exitcode(status)
            error = f"process ended (exit status {code}) before reporting a result"
    if reason != "ok":
        result = None
    if not isinstance(variables, dict):
        variables = {}
    return ExecResult(ok=reason == "ok", result=result, result_repr=str(result_repr), stdout=stdout,
                      stderr=stderr, exit_reason=reason, error=error[:2000], duration_s=duration,
                      variables=variables, pid=pid)


# The child. Runs as `python -I -B -u -c _BOOTSTRAP config.json` in the work directory. Everything it needs
# is read and opened before the audit hook goes in; the hook then stays for the life of the process.
_BOOTSTRAP = r'''
import builtins, collections, gc, json, linecache, os, resource, signal, sys, traceback


class CpuLimitExceeded(BaseException):
    pass


class SandboxViolation(PermissionError):
    pass


def set_limits(cfg):
    def lim(kind, soft, hard=None):
        try:
            resource.setrlimit(kind, (soft, soft if hard is None else hard))
        except (ValueError, OSError):
            pass  # e.g. RLIMIT_AS on macOS: the other limits still apply
    lim(resource.RLIMIT_CPU, cfg["cpu_s"], cfg["cpu_s"] + 1)
    lim(resource.RLIMIT_AS, cfg["memory_bytes"])
    lim(resource.RLIMIT_FSIZE, cfg["file_bytes"])
    lim(resource.RLIMIT_CORE, 0)
    if os.geteuid() != 0 and os.path.isdir("/proc/self/task"):
        # RLIMIT_NPROC counts every task of this user and never binds root: only worth setting here.
        uid, tasks = os.getuid(), 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat("/proc/" + entry).st_uid == uid:
                        tasks += len(os.listdir("/proc/" + entry + "/task"))
                except OSError:
                    pass
        lim(resource.RLIMIT_NPROC, tasks + cfg["max_processes"])
    signal.signal(signal.SIGXCPU, on_xcpu)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise OSError instead of killing


def on_xcpu(signum, frame):
    raise CpuLimitExceeded("CPU-time limit exceeded")


PROCESS_EVENTS = {"os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
                  "subprocess.Popen", "os.startfile", "pty.spawn", "os.kill", "os.killpg",
                  "signal.pthread_kill"}
NET_EVENTS = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
              "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr",
              "socket.getnameinfo", "socket.sethostname"}
OTHER_EVENTS = {"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.cdata",
                "ctypes.call_function", "ctypes.string_at", "ctypes.wstring_at", "resource.setrlimit",
                "resource.prlimit", "sqlite3.enable_load_extension", "sqlite3.load_extension",
                "gc.get_referrers", "gc.get_referents", "gc.get_objects"}
# event -> ((index of a path argument that gets changed, index of its dir_fd argument or None), ...)
WRITE_EVENTS = {"os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),), "os.chmod": ((0, 2),),
                "os.chown": ((0, 3),), "os.utime": ((0, 3),), "os.truncate": ((0, None),),
                "os.rename": ((0, 2), (1, 3)), "os.link": ((0, 2), (1, 3)), "os.setxattr": ((0, None),),
                "os.removexattr": ((0, None),), "os.chflags": ((0, None),), "os.lchflags": ((0, None),),
                "os.lchmod": ((0, None),), "os.mkfifo": ((0, 2),), "os.mknod": ((0, 3),),
                "shutil.rmtree": ((0, 1),), "tempfile.mkstemp": ((0, None),),
                "tempfile.mkdtemp": ((0, None),), "sqlite3.connect": ((0, None),)}
READ_EVENTS = {"os.listdir", "os.scandir"}
AF_UNIX = 1  # on every POSIX system; socketpair() and Unix sockets stay usable
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def make_hook(work, read_roots, violations):
    work = os.path.realpath(work)
    roots = tuple(read_roots)
    state = {"busy": False}

    def inside(path, where):
        return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in where)

    def resolve(path, dir_fd=None):
        if isinstance(path, int) or path is None:
            return None
        p = os.fsdecode(os.fspath(path))
        base = os.getcwd()
        if dir_fd not in (None, -1, -100) and not os.path.isabs(p):
            base = os.readlink("/proc/self/fd/%d" % dir_fd)  # fails (-> refused) where /proc is missing
        return os.path.realpath(os.path.join(base, p))

    def refuse(what):
        violations.append(what)
        raise SandboxViolation("sandbox: " + what + " is not allowed")

    def check(event, args):
        if event in PROCESS_EVENTS:
            refuse("starting or signalling processes (%s)" % event)
        if event in NET_EVENTS:
            refuse("network access (%s)" % event)
        if event == "socket.__new__":
            family = args[1] if len(args) > 1 else None
            if family not in (AF_UNIX, -1, None):
                refuse("network access (socket family %s)" % family)
            return
        if event in OTHER_EVENTS:
            refuse(event)
        if event == "open":
            path, mode, flags = args
            target = resolve(path)
            if target is None or target == "/dev/null":
                return
            writing = bool((flags or 0) & WRITE_FLAGS)
            writing = writing or (isinstance(mode, str) and any(c in mode for c in "wax+"))
            if writing:
                if not inside(target, (work,)):
                    refuse("writing %s outside the working directory" % target)
            elif not inside(target, (work,) + roots):
                refuse("reading %s" % target)
            elif mode is None and not inside(target, (work,)) and os.path.isdir(target):
                refuse("opening directory %s" % target)  # a dir fd outside would defeat the checks
            return
        if event in WRITE_EVENTS:
            for i, fd_index in WRITE_EVENTS[event]:
                if i >= len(args) or args[i] == ":memory:":
                    continue
                dir_fd = args[fd_index] if fd_index is not None and len(args) > fd_index else None
                target = resolve(args[i], dir_fd if isinstance(dir_fd, int) else None)
                if target is not None and not inside(target, (work,)):
                    refuse("changing %s outside the working directory" % target)
            return
        if event == "os.symlink":
            link = resolve(args[1], args[2] if len(args) > 2 else None)
            dest = os.path.realpath(os.path.join(os.path.dirname(link), os.fsdecode(os.fspath(args[0]))))
            if not inside(link, (work,)) or not inside(dest, (work,)):
                refuse("symlink to %s" % dest)
            return
        if event in READ_EVENTS:
            target = resolve(args[0] if args else None)
            if target is not None and not inside(target, (work,) + roots):
                refuse("listing %s" % target)
            return
        if event == "os.chdir":
            target = resolve(args[0])
            if target != work:
                refuse("changing directory")

    def hook(event, args):
        if state["busy"]:
            return
        state["busy"] = True
        try:
            check(event, args)
        except SandboxViolation:
            raise
        except Exception as exc:  # a path we could not resolve: refuse rather than guess
            violations.append("%s (%s: %s)" % (event, type(exc).__name__, exc))
            raise SandboxViolation("sandbox: %s refused" % event)
        finally:
            state["busy"] = False

    return hook


def read_roots(cfg):
    roots = [p for p in cfg["allowed_read_paths"]]
    roots += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    roots.append(os.path.dirname(sys.executable))
    roots += [p for p in sys.path if os.path.isabs(p)]
    roots += ["/dev/urandom", "/dev/random", "/dev/zero", "/etc/localtime", "/usr/share/zoneinfo"]
    try:
        roots.append("/proc/" + os.readlink("/proc/self"))
    except OSError:
        pass
    return sorted({os.path.realpath(r) for r in roots if r})


def to_json(value, strict, depth=0):
    """JSON-ready copy of value; with strict, None-marker _NO when a repr() fallback would be needed."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 50:
        return _NO if strict else repr(value)
    mod = type(value).__module__ or ""
    if mod.split(".")[0] == "numpy" and hasattr(value, "tolist"):
        return to_json(value.tolist(), strict, depth + 1)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                if strict:
                    return _NO
                k = repr(k)
            v = to_json(v, strict, depth + 1)
            if v is _NO:
                return _NO
            out[k] = v
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if isinstance(value, (set, frozenset)):
            try:
                items = sorted(items)
            except TypeError:
                items = sorted(items, key=repr)
        out = [to_json(v, strict, depth + 1) for v in items]
        return _NO if strict and any(v is _NO for v in out) else out
    return _NO if strict else repr(value)


_NO = object()


def main(cfg_path):
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    report = open(cfg["report"], "w", encoding="utf-8")
    spare = [bytearray(1 << 20)]  # freed on MemoryError so the report can still be written
    ns = {"__name__": "__main__", "__builtins__": builtins}
    ns.update(cfg["variables"])
    violations = []
    out = {"status": "ok", "error": "", "result": None, "result_repr": "", "variables": {}}
    for name in ("code", "preamble"):  # so tracebacks show the lines
        src = cfg[name]
        linecache.cache["<%s>" % name] = (len(src), None, src.splitlines(True), "<%s>" % name)
    set_limits(cfg)
    import _posixsubprocess, ctypes  # imported now: later imports would trip the hook (ctypes.dlopen)

    def no_fork_exec(*args, **kwargs):
        violations.append("starting processes (_posixsubprocess.fork_exec)")
        raise SandboxViolation("sandbox: starting processes is not allowed")

    try:
        execute(cfg, ns, out, violations, spare, no_fork_exec, _posixsubprocess)
        finish(out, ns, violations, cfg)
    except MemoryError:  # while reporting: give up on the namespace, keep the verdict
        spare.clear()
        ns.clear()
        out.update(status="memory", error=memory_error(cfg), result=None, variables={})
    except CpuLimitExceeded:
        out.update(status="cpu_limit", error="CPU-time limit exceeded", result=None)
    report.write(json.dumps(out))
    report.close()
    sys.stdout.flush()
    os._exit(0)


def execute(cfg, ns, out, violations, spare, no_fork_exec, _posixsubprocess):
    """Preamble, then the hook, then the code; the outcome goes into `out`."""
    stage = "preamble"
    try:
        if cfg["preamble"]:
            exec(compile(cfg["preamble"], "<preamble>", "exec"), ns)
        _posixsubprocess.fork_exec = no_fork_exec
        roots = read_roots(cfg)
        sys.addaudithook(make_hook(cfg["work"], roots, violations))
        stage = "code"
        exec(compile(cfg["code"], "<code>", "exec"), ns)
    except MemoryError as exc:
        spare.clear()
        ns.clear()
        gc.collect()
        out.update(status="memory", error=memory_error(cfg))
        print_tb(exc)
    except CpuLimitExceeded:
        out.update(status="cpu_limit", error="CPU-time limit exceeded")
    except BaseException as exc:
        if not (isinstance(exc, SystemExit) and exc.code in (None, 0)):
            out.update(status="error", error=("preamble: " if stage == "preamble" else "") + describe(exc))
            print_tb(exc)


def memory_error(cfg):
    return "MemoryError: memory limit of %d MiB exceeded" % (cfg["memory_bytes"] >> 20)


def describe(exc):
    if isinstance(exc, SandboxViolation):
        return "PermissionError: %s" % exc
    return "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1][:500]


def print_tb(exc, keep=40):
    """The traceback as the code's author should see it: no bootstrap frames, only the innermost `keep`."""
    frames = collections.deque(maxlen=keep)
    tb = exc.__traceback__
    while tb is not None:  # walked by hand: a deep RecursionError has a huge traceback
        if tb.tb_frame.f_code.co_filename != "<string>":
            frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    text = "Traceback (most recent call last):\n" if frames else ""
    text += "".join(traceback.StackSummary.extract(iter(frames)).format())
    if isinstance(exc, SandboxViolation):
        text += "PermissionError: %s\n" % exc
    else:
        text += "".join(traceback.format_exception_only(type(exc), exc))
    sys.stderr.write(text)


def finish(out, ns, violations, cfg):
    if violations:
        out.update(status="forbidden", error="PermissionError: sandbox: " + violations[0] + " is not allowed")
    if out["status"] != "ok":
        pass
    elif "RESULT" not in ns:
        out.update(status="no_result", error="the code did not set RESULT")
    else:
        value = ns["RESULT"]
        try:
            out["result_repr"] = repr(value)[:10000]
        except Exception as exc:
            out["result_repr"] = "<repr failed: %s>" % describe(exc)
        try:
            out["result"] = to_json(value, False)
            size = len(json.dumps(out["result"]))
        except Exception as exc:
            out["result"], size = out["result_repr"], 0
        if size > cfg["result_bytes"]:
            out.update(status="output_limit", result=None,
                       error="RESULT is %d bytes of JSON, over the %d-byte limit"
                       % (size, cfg["result_bytes"]))
    budget = cfg["result_bytes"]
    for name, value in list(ns.items()):
        if name.startswith("_") or name == "RESULT":
            continue
        try:
            converted = to_json(value, True)
            if converted is _NO:
                continue
            size = len(json.dumps(converted))
        except Exception:
            continue
        if size <= budget:
            out["variables"][name] = converted
            budget -= size


main(sys.argv[1])
'''
