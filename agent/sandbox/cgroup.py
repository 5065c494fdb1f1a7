"""Memory and process-count limits for one sandboxed run, from the kernel's cgroups where we may make one.

RLIMIT_AS bounds one process and RLIMIT_NPROC counts per user, so a program that forks can hold many
times its memory limit; a cgroup bounds the whole tree, tmpfs pages included, and tells afterwards
whether its OOM killer fired. We try, in order: a child of our own cgroup v2 when its memory and pids
controllers are delegated to us (systemd user scopes with Delegate=yes, containers with a private
cgroup namespace), then cgroup v1's memory and pids hierarchies when they are writable (root on a
hybrid or legacy host). Where neither works, `create` returns None and the rlimits remain the only bound;
`describe` says so for `hrm doctor` and the trace.
"""

from __future__ import annotations

import functools
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

_PREFIX = "hrm-sandbox-"


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, super options) of every cgroup mount of this process."""
    out = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) < 5 or len(rparts) < 3 or rparts[0] not in ("cgroup", "cgroup2"):
            continue
        out.append((parts[4].replace("\\040", " "), rparts[0], set(rparts[2].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """controller name (or '' for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for name in parts[1].split(",") if parts[1] else [""]:
            out[name] = parts[2]
    return out


def _v2_parent() -> Path | None:
    own = _own_paths().get("")
    if own is None:
        return None
    for mount, fstype, _ in _mounts():
        if fstype != "cgroup2":
            continue
        base = Path(mount) / own.lstrip("/")
        try:
            enabled = (base / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if {"memory", "pids"} <= set(enabled) and os.access(base, os.W_OK):
            return base
    return None


def _v1_parents() -> dict[str, Path] | None:
    own = _own_paths()
    found: dict[str, Path] = {}
    for mount, fstype, opts in _mounts():
        if fstype != "cgroup":
            continue
        for ctl in ("memory", "pids"):
            if ctl in opts and ctl in own:
                base = Path(mount) / own[ctl].lstrip("/")
                if base.is_dir() and os.access(base, os.W_OK):
                    found[ctl] = base
    return found if set(found) == {"memory", "pids"} else None


def _v1_parent_for(ctl: str) -> Path | None:
    own = _own_paths()
    for mount, fstype, opts in _mounts():
        if fstype == "cgroup" and ctl in opts and ctl in own:
            base = Path(mount) / own[ctl].lstrip("/")
            if base.is_dir() and os.access(base, os.W_OK):
                return base
    return None


@dataclass
class RunCgroup:
    """The cgroup folders of one run; `procs_files` are what the launcher writes its own pid into."""

    version: int
    dirs: list[Path] = field(default_factory=list)

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer (or the memory limit) stopped something in this run."""
        mem = self.dirs[0]
        if self.version == 2:
            return _counter(mem / "memory.events", "oom_kill") > 0 or _counter(mem / "memory.events", "oom") > 0
        return (_counter(mem / "memory.oom_control", "oom_kill") > 0
                or _read_int(mem / "memory.failcnt") > 0 and _counter(mem / "memory.oom_control", "under_oom") > 0)

    def cpu_seconds(self) -> float:
        """CPU time used by every task of the run (0.0 where this cgroup does not account it)."""
        if self.version == 2:
            return _counter(self.dirs[0] / "cpu.stat", "usage_usec") / 1e6
        acct = [d for d in self.dirs if (d / "cpuacct.usage").exists()]
        return _read_int(acct[0] / "cpuacct.usage") / 1e9 if acct else 0.0

    def peak_bytes(self) -> int:
        mem = self.dirs[0]
        return _read_int(mem / ("memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"))

    def kill_and_remove(self) -> None:
        """SIGKILL whatever is still inside, then remove the folders (a cgroup with tasks cannot go)."""
        if self.version == 2:
            try:
                (self.dirs[0] / "cgroup.kill").write_text("1")
            except OSError:
                pass
        for d in self.dirs:
            for _ in range(50):
                pids = _pids(d)
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    d.rmdir()
                    break
                except OSError:
                    time.sleep(0.01)


def _pids(d: Path) -> list[int]:
    try:
        return [int(x) for x in (d / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


@functools.lru_cache(maxsize=1)
def available() -> str:
    """'v2', 'v1' or '' (none usable here), checked once per process."""
    if _v2_parent() is not None:
        return "v2"
    if _v1_parents() is not None:
        return "v1"
    return ""


def describe() -> str:
    kind = available()
    if kind:
        return f"cgroup {kind} (memory, pids)"
    return "rlimits only (no writable cgroup with memory and pids controllers)"


def create(memory_bytes: int, max_processes: int) -> RunCgroup | None:
    """A fresh cgroup with the limits set, or None where none can be made (the caller keeps its rlimits)."""
    name = _PREFIX + uuid.uuid4().hex[:12]
    kind = available()
    group: RunCgroup | None = None
    try:
        if kind == "v2":
            parent = _v2_parent()
            assert parent is not None
            d = parent / name
            d.mkdir()
            group = RunCgroup(2, [d])
            (d / "memory.max").write_text(str(memory_bytes))
            if (d / "memory.swap.max").exists():
                (d / "memory.swap.max").write_text("0")
            (d / "pids.max").write_text(str(max_processes))
            return group
        if kind == "v1":
            parents = _v1_parents()
            assert parents is not None
            group = RunCgroup(1, [])
            mem = parents["memory"] / name
            mem.mkdir()
            group.dirs.append(mem)
            pids = parents["pids"] / name
            pids.mkdir()
            group.dirs.append(pids)
            (mem / "memory.limit_in_bytes").write_text(str(memory_bytes))
            memsw = mem / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                try:
                    memsw.write_text(str(memory_bytes))
                except OSError:
                    pass
            (pids / "pids.max").write_text(str(max_processes))
            acct_parent = _v1_parent_for("cpuacct")
            if acct_parent is not None:  # optional: CPU time of the whole tree, which bwrap's rusage loses
                acct = acct_parent / name
                try:
                    acct.mkdir()
                    group.dirs.append(acct)
                except OSError:
                    pass
            return group
    except OSError:
        if group is not None:
            group.kill_and_remove()
        return None
    return None
