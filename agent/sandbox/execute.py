"""Run model-written Python in a contained child process and bring back its `RESULT` as JSON.

The agent's solver asks a small LLM for code that sets `RESULT`; that code is hostile until proven
otherwise. The boundary is what the kernel enforces (launch.py): on Linux, bubblewrap's
namespaces, a read-only view of only what Python needs, a private size-limited tmpfs as the only
writable place, a seccomp filter (seccomp.py), and a cgroup bounding memory and processes where
one can be made (cgroup.py); where none can, the filter keeps the code to one process, so that
RLIMIT_AS still bounds all of it (modes.py names the modes by what they guarantee). Where that
boundary cannot be set up (no bubblewrap or user namespaces, macOS), `run_code` refuses unless the
caller accepts the weaker mode with `allow_weak=True`.

Inside, an audit hook (child.py) is only the friendly first line: it turns naive attempts into
one clear message and ends the child with a known status. The verdict is decided here, from what this
process observes: the wall clock, the bytes it read, the exit status and signal (SIGSYS: the seccomp
filter refused a call; SIGXCPU or a SIGKILL after the CPU budget: cpu_limit), the cgroup's OOM counter
and the CPU time in the child's rusage. The child's JSON report (through a pipe, never a file) is only
data: size-limited, type-checked, and never the source of "ok" after a refusal, because a refused call
ends the child before it could report.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from hrm_agent.sandbox import cgroup, launch, modes
from hrm_agent.errors import AgentError
from hrm_agent.sandbox.child import EXIT_ERROR, EXIT_FORBIDDEN, EXIT_MEMORY, EXIT_OK, EXIT_SETUP
from hrm_agent.untrusted import UntrustedJSON, load_json

EXIT_REASONS = ("ok", "error", "timeout", "cpu_limit", "memory", "output_limit", "forbidden", "no_result",
                "killed")
_DRAIN_S = 1.0          # how long to keep reading pipes after the child is gone
# What native code prints when an allocation fails under RLIMIT_AS and it exits instead of raising.
_MEMORY_SIGNS = ("MemoryError", "Memory allocation", "Cannot allocate memory", "std::bad_alloc",
                 "out of memory")
_POLL_S = 0.05          # fallback poll interval where pidfd_open is missing (macOS)
_READ = 65536


class SandboxUnavailable(AgentError):
    """The OS boundary cannot be set up here and the weaker mode was not accepted: exit 3, like a model
    server that cannot answer (the input was fine, this machine's setup is not)."""

    exit_code = 3


@dataclass
class SandboxLimits:
    """Limits for one run. `allow_weak` accepts running without the OS boundary where it is missing
    (macOS sandbox-exec, or a plain separate process on Linux); `isolation="process"` asks for that mode
    even where the boundary exists (tests of the friendly layer)."""

    cpu_s: float = 10
    wall_s: float = 20
    memory_mb: int = 512
    output_bytes: int = 64_000
    max_processes: int = 16
    result_bytes: int = 1_000_000
    disk_mb: int = 64
    allow_weak: bool = False
    isolation: str = "auto"

    def __post_init__(self) -> None:
        for name in ("cpu_s", "wall_s", "memory_mb", "output_bytes", "max_processes", "result_bytes",
                     "disk_mb"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0 \
                    or not math.isfinite(value):
                raise AgentError(f"sandbox limit {name} must be a positive number, got {value!r}")
        if self.isolation not in ("auto", "process"):
            raise AgentError(f"sandbox isolation must be auto or process, got {self.isolation!r}")


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
    pid: int = 0  # the launcher's process id on this machine (diagnostics and tests)
    isolation: str = ""
    mode: str = ""  # modes.py: what this run's bounds guarantee (a failed cgroup makes it one_process)
    bounds: dict[str, Any] = field(default_factory=dict)


def isolation() -> launch.Isolation:
    """The isolation this machine gives model code (probed once)."""
    return launch.detect()


def bounds_for(mode: str, limits: SandboxLimits, cgroup: str = "") -> dict[str, Any]:
    """The bounds a run in `mode` holds under `limits` (for doctor and the trace)."""
    return modes.bounds(mode, memory_mb=int(limits.memory_mb), max_processes=int(limits.max_processes),
                        cpu_s=limits.cpu_s, disk_mb=int(limits.disk_mb), wall_s=limits.wall_s, cgroup=cgroup)


def isolation_for(limits: SandboxLimits) -> launch.Isolation:
    """What a run with `limits` gets, with the bounds it holds, or SandboxUnavailable when only a weaker
    mode exists and it was not accepted."""
    iso = isolation()
    if limits.isolation == "process":
        if not limits.allow_weak:
            raise SandboxUnavailable("sandbox isolation=process needs allow_weak (the weaker mode, accepted "
                                     "explicitly)")
        iso = launch.Isolation("process", False, "separate process, rlimits and audit hook "
                                       "(requested)")
    elif not iso.strong and not limits.allow_weak:
        raise SandboxUnavailable(f"no OS sandbox for model code here ({iso.detail}); install bubblewrap, "
                                 "or accept the weaker isolation with --allow-weak-sandbox "
                                 "(sandbox.allow_weak=true)")
    return dataclasses.replace(iso, bounds=bounds_for(iso.mode, limits, iso.cgroup))


def require_isolation(limits: SandboxLimits) -> launch.Isolation:
    """Check before any work starts that code can run under `limits` (raises SandboxUnavailable)."""
    return isolation_for(limits)


def run_code(code: str, *, variables: dict | None = None, limits: SandboxLimits | None = None,
             preamble: str = "", allowed_read_paths: Iterable[str] = ()) -> ExecResult:
    """Run `code` in a fresh sandboxed interpreter and return what it set and printed.

    `variables` (JSON values) are defined before the code runs; the returned `variables` hold every
    JSON-serialisable top-level name afterwards (injected ones included, RESULT and _private names not),
    so they can be passed to the next run. `preamble` runs first, in the same namespace and jail, before
    the audit hook goes in. `allowed_read_paths` are bound read-only into the jail.
    """
    limits = limits or SandboxLimits()
    iso = isolation_for(limits)
    try:
        variables_json = json.dumps(dict(variables or {}))
    except (TypeError, ValueError) as exc:
        raise AgentError(f"sandbox variables must be JSON values: {exc}") from exc
    root = Path(tempfile.mkdtemp(prefix="hrm-sandbox-"))
    try:
        return _run_in(root, iso, code, variables_json, limits, preamble, [str(p) for p in allowed_read_paths])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _nproc_limit(iso: launch.Isolation, limits: SandboxLimits) -> int:
    """RLIMIT_NPROC for the child: in a user namespace it counts only the jail's tasks; as nobody on a
    root host it counts every task of that uid, so those already running are added."""
    if iso.kind != "bubblewrap":
        return 0
    if not iso.privileged_host:
        return int(limits.max_processes)
    tasks = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat("/proc/" + entry).st_uid == launch.SANDBOX_UID:
                    tasks += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return tasks + int(limits.max_processes)


def _run_in(root: Path, iso: launch.Isolation, code: str, variables_json: str,
            limits: SandboxLimits, preamble: str, allowed_read_paths: list[str]) -> ExecResult:
    host_work = root / "work"
    host_work.mkdir()
    work = launch.work_dir_for(iso, host_work)
    result_r, result_w = os.pipe()
    config = {
        "work": work, "code": code, "preamble": preamble, "variables": json.loads(variables_json),
        "allowed_read_paths": allowed_read_paths, "cpu_s": max(1, math.ceil(limits.cpu_s)),
        "memory_bytes": int(limits.memory_mb) << 20, "file_bytes": int(limits.disk_mb) << 20,
        "result_bytes": int(limits.result_bytes), "nproc": _nproc_limit(iso, limits),
        "require_unprivileged": iso.kind == "bubblewrap",
    }
    config_path = root / "config.json"
    config_path.write_text(json.dumps(config))
    config_path.chmod(0o644)
    group = None
    if iso.kind == "bubblewrap" and iso.cgroup:
        # memory + tmpfs pages of the whole tree; the pid limit leaves room for bwrap's own two processes
        group = cgroup.create(int(limits.memory_mb) << 20, int(limits.max_processes) + 2)
    if iso.kind == "bubblewrap" and group is None and iso.cgroup:
        iso = dataclasses.replace(iso, cgroup="")  # no cgroup for this run after all: one process only
        iso = dataclasses.replace(iso, bounds=bounds_for(iso.mode, limits))
    argv, fds, cwd = launch.command_for(iso, work=str(host_work), config_file=str(config_path),
                                                result_fd=result_w, extra_read=allowed_read_paths,
                                                disk_bytes=int(limits.disk_mb) << 20,
                                                one_process=iso.mode == modes.ONE_PROCESS)
    if group is not None:
        argv = ["/bin/sh", "-c", 'while [ "$1" != -- ]; do echo 0 > "$1" || exit 125; shift; done; '
                'shift; exec "$@"', "sh", *group.procs_files, "--", *argv]
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=launch.child_env(work), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                close_fds=True, pass_fds=(*fds, result_w))
    except OSError as exc:
        os.close(result_r)
        if group is not None:
            group.kill_and_remove()
        raise AgentError(f"sandbox could not start ({argv[0]}): {exc}") from exc
    finally:
        os.close(result_w)
        for fd in fds:
            os.close(fd)
    seen: _Seen | None = None
    try:
        seen = _supervise(proc, result_r, start, limits)
    finally:
        _kill_group(proc.pid)
        if proc.returncode is None:
            _reap(proc)
        if group is not None:
            if seen is not None:
                seen.oom = group.oom_killed()
                seen.cpu_used = max(seen.cpu_used, group.cpu_seconds())
            group.kill_and_remove()
        os.close(result_r)
    seen.duration = time.monotonic() - start
    return _classify(seen, limits, iso, proc.pid)


@dataclass
class _Seen:
    """What the parent observed of one run; the only input of the verdict."""

    stdout: bytes = b""
    stderr: bytes = b""
    report: bytes = b""
    killed_for: str = ""
    cpu_used: float = 0.0
    status: int | None = None
    oom: bool = False
    duration: float = 0.0


def _supervise(proc: subprocess.Popen, result_fd: int, start: float, limits: SandboxLimits) -> _Seen:
    """Pump stdout, stderr and the result pipe with caps until the child exits, the wall clock runs out
    or a cap is passed; then kill the group and reap."""
    sel = selectors.DefaultSelector()
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray(), result_fd: bytearray()}
    caps = {out_fd: limits.output_bytes, err_fd: limits.output_bytes,
            result_fd: 4 * int(limits.result_bytes) + 100_000}
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
    seen = _Seen()
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                seen.killed_for = "timeout"
                break
            exited = False
            for key, _ in sel.select(min(deadline - now, _POLL_S if pidfd is None else 1.0)):
                if key.fd == pidfd:
                    exited = True
                    continue
                chunk = os.read(key.fd, _READ)
                if chunk:
                    bufs[key.fd] += chunk
                else:
                    sel.unregister(key.fd)
            if any(len(bufs[fd]) > caps[fd] for fd in bufs):
                seen.killed_for = "output_limit"
                break
            if exited or (pidfd is None and _has_exited(proc.pid)):
                break
        _kill_group(proc.pid)
        drain_end = time.monotonic() + _DRAIN_S
        while any(k.fd != pidfd for k in sel.get_map().values()) and time.monotonic() < drain_end:
            for key, _ in sel.select(0.05):
                if key.fd == pidfd:
                    continue
                chunk = os.read(key.fd, _READ)
                if chunk and len(bufs[key.fd]) <= caps[key.fd]:
                    bufs[key.fd] += chunk
                elif not chunk:
                    sel.unregister(key.fd)
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
    seen.cpu_used, seen.status = _reap(proc)
    seen.stdout, seen.stderr, seen.report = bytes(bufs[out_fd]), bytes(bufs[err_fd]), bytes(bufs[result_fd])
    return seen


_early_waits: dict[int, tuple[int, Any]] = {}  # pid -> (status, rusage) where the poll had to reap


def _has_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it where os.waitid exists (so its pid and process group
    stay reserved for the kill that follows); elsewhere (macOS) it reaps and remembers."""
    try:
        if hasattr(os, "waitid"):
            return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        done, status, usage = os.wait4(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    if done:
        _early_waits[pid] = (status, usage)
    return bool(done)


def _kill_group(pgid: int) -> None:
    """SIGKILL the launcher's group: bubblewrap's --die-with-parent then takes the whole PID namespace."""
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


def _exit_and_signal(status: int | None, iso: launch.Isolation) -> tuple[int | None, int | None]:
    """(exit code, signal) of the child. bubblewrap and unshare report a child's death by signal N as
    exit code 128 + N; code could fake such a code, but only to make its own verdict worse."""
    if status is None:
        return None, signal.SIGKILL
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    code = os.waitstatus_to_exitcode(status)
    if code > 128 and code - 128 < 65 and (iso.kind == "bubblewrap" or launch.unshare_prefix()):
        return code, code - 128
    return code, None


def _parse_report(raw: bytes, limits: SandboxLimits) -> dict:
    """The child's JSON, checked field by field; anything malformed (too large, nested too deeply, not
    UTF-8, not JSON) counts as no report. Code can write to the pipe itself: nothing in it is trusted."""
    if not raw:
        return {}
    try:
        data = load_json(raw, max_bytes=4 * int(limits.result_bytes) + 100_000)
    except UntrustedJSON:
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, Any] = {"error": str(data.get("error", ""))[:2000] if isinstance(data.get("error"), str) else "",
                           "has_result": data.get("has_result") is True, "result": data.get("result"),
                           "result_repr": data.get("result_repr") if isinstance(data.get("result_repr"), str)
                           else ""}
    variables = data.get("variables")
    out["variables"] = {k: v for k, v in variables.items() if isinstance(k, str)} \
        if isinstance(variables, dict) else {}
    return out


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _classify(seen: _Seen, limits: SandboxLimits, iso: launch.Isolation, pid: int) -> ExecResult:
    stdout = seen.stdout[:limits.output_bytes].decode("utf-8", "replace")
    stderr = _clean_stderr(seen.stderr[:limits.output_bytes].decode("utf-8", "replace"))
    data = _parse_report(seen.report, limits)
    code, sig = _exit_and_signal(seen.status, iso)
    cpu_soft = max(1, math.ceil(limits.cpu_s))
    last = (stderr.strip().splitlines() or [""])[-1][:500]
    if seen.killed_for == "timeout":
        reason, error = "timeout", f"wall-time limit of {limits.wall_s:g} s exceeded"
    elif seen.killed_for == "output_limit":
        reason, error = "output_limit", f"output exceeded {limits.output_bytes} bytes (truncated)"
    elif seen.oom:
        reason, error = "memory", f"memory limit of {limits.memory_mb} MiB exceeded (the kernel stopped it)"
    elif sig == signal.SIGSYS:
        reason, error = "forbidden", "a forbidden system call was refused by the kernel (seccomp)"
    elif code == EXIT_FORBIDDEN:
        reason = "forbidden"
        error = last if "sandbox:" in last else "a forbidden operation was refused"
    elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and seen.cpu_used >= cpu_soft - 0.05) or (
            # bubblewrap's rusage does not include the jail: without cgroup accounting, a SIGKILL we did
            # not send after the CPU budget's worth of time is the hard RLIMIT_CPU
            sig == signal.SIGKILL and iso.kind == "bubblewrap" and seen.cpu_used < 0.05
            and seen.duration >= cpu_soft):
        reason, error = "cpu_limit", f"CPU-time limit of {cpu_soft} s exceeded"
    elif code == EXIT_MEMORY or (code != EXIT_OK and any(s in stderr for s in _MEMORY_SIGNS)):
        reason, error = "memory", f"MemoryError: memory limit of {limits.memory_mb} MiB exceeded"
    elif code == EXIT_SETUP or (code == 1 and not data and "bwrap:" in stderr) or code == 125:
        reason, error = "error", f"the sandbox could not start the code: {last or 'setup failed'}"
    elif code == EXIT_ERROR and data:
        reason, error = "error", data["error"] or last or "the code raised an exception"
    elif code == EXIT_OK and data:
        if not data["has_result"]:
            reason, error = "no_result", "the code did not set RESULT"
        else:
            size = len(json.dumps(data["result"]))
            reason, error = "ok", ""
            if size > limits.result_bytes:
                reason = "output_limit"
                error = f"RESULT is {size} bytes of JSON, over the {limits.result_bytes}-byte limit"
    elif sig is not None:
        reason, error = "killed", f"process killed by {_signal_name(sig)} before reporting a result"
    elif code == EXIT_OK:
        reason, error = "no_result", "the process exited before reporting a result"
    else:
        reason, error = "killed", f"process ended (exit status {code}) before reporting a result"
    ok = reason == "ok"
    return ExecResult(ok=ok, result=data.get("result") if ok else None,
                      result_repr=str(data.get("result_repr", "")) if ok else "",
                      stdout=stdout, stderr=stderr, exit_reason=reason, error=error[:2000],
                      duration_s=seen.duration, variables=data.get("variables", {}), pid=pid,
                      isolation=iso.kind, mode=iso.mode, bounds=iso.bounds)


def _clean_stderr(text: str) -> str:
    """Drop unshare's own complaint about a child that died of a signal (the weak mode's launcher)."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("unshare: "))
