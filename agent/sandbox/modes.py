"""The sandbox's modes, named by what they guarantee, and the bounds each one holds for a run's limits.

A memory limit means something only if it covers every process the code can make. A cgroup bounds the
whole tree (tmpfs pages included); RLIMIT_AS bounds one process, so where no cgroup can be made the
seccomp filter keeps the code to one process (seccomp.py, `one_process`) and RLIMIT_AS is then the
whole bound. The weak modes (no OS boundary) bound each process only, and say so. `hrm doctor` and every
trace's `run_start.isolation` and `exec` event report these, so nobody reads a weaker mode as the
strong one.
"""

from __future__ import annotations

CGROUP = "bubblewrap+cgroup"
ONE_PROCESS = "bubblewrap+rlimits"
SEATBELT = "sandbox-exec"
PROCESS = "process"

GUARANTEES = {
    CGROUP: "kernel boundary; memory and tasks of the whole process tree bounded by a cgroup",
    ONE_PROCESS: "kernel boundary; no usable cgroup, so one process only (seccomp refuses fork) whose "
                 "address space RLIMIT_AS bounds",
    SEATBELT: "macOS Seatbelt profile; rlimits per process, the process tree is not bounded",
    PROCESS: "no OS boundary; rlimits per process and the audit hook, the process tree is not bounded",
}


def mode_for(kind: str, cgroup: str) -> str:
    """The mode of an isolation kind ("bubblewrap", "sandbox-exec", "process") with or without a cgroup."""
    if kind == "bubblewrap":
        return CGROUP if cgroup else ONE_PROCESS
    return SEATBELT if kind == "sandbox-exec" else PROCESS


def bounds(mode: str, *, memory_mb: int, max_processes: int, cpu_s: float, disk_mb: int, wall_s: float,
           cgroup: str = "") -> dict[str, object]:
    """Each bound in force for a run in `mode`: the number, what it covers and what enforces it."""
    cpu = f"{max(1, int(-(-cpu_s // 1)))} s of CPU per process (RLIMIT_CPU)"
    wall = f"{wall_s:g} s wall clock for the run, then every process of it is killed"
    if mode == CGROUP:
        return {"tree_bounded": True,
                "memory": f"{memory_mb} MiB for the whole process tree, tmpfs files included (cgroup {cgroup})",
                "processes": f"{max_processes} tasks, threads included (cgroup pids, plus bubblewrap's own 2)",
                "cpu": cpu, "disk": f"{disk_mb} MiB in all (tmpfs at /sandbox)", "wall": wall}
    if mode == ONE_PROCESS:
        return {"tree_bounded": True,
                "memory": f"{memory_mb} MiB address space of the one process (RLIMIT_AS); fork, vfork, "
                          "non-thread clone, SysV shared memory and message queues, memfd_create refused "
                          "(seccomp, EPERM)",
                "processes": f"1 process (seccomp); {max_processes} threads (RLIMIT_NPROC)",
                "cpu": cpu, "disk": f"{disk_mb} MiB in all (tmpfs at /sandbox)", "wall": wall}
    return {"tree_bounded": False,
            "memory": f"{memory_mb} MiB address space per process (RLIMIT_AS); not bounded across processes",
            "processes": "not bounded (the audit hook refuses only naive process starts)",
            "cpu": cpu, "disk": f"{disk_mb} MiB per file (RLIMIT_FSIZE); not bounded in all", "wall": wall}
