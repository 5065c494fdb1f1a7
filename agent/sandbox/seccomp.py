"""The seccomp filter of the sandbox: a classic-BPF program that bubblewrap loads before the child runs.

Namespaces and read-only mounts are the boundary; this filter closes the doors a process could use to
undo them or to reach past them: joining or making namespaces (setns, unshare, clone with CLONE_NEW*),
mounting, ptrace and cross-process memory access, the kernel keyring, eBPF, perf, userfaultfd,
io_uring (whose operations bypass seccomp), module and kexec loading, handle-based opens, and two
ioctls: FS_IOC_SETFLAGS / FS_IOC_FSSETXATTR (the immutable flag that makes a folder impossible to
remove) and TIOCSTI (typing into the parent's terminal).

`socket` and `socketpair` are allowed only for the families plain code needs: AF_UNIX, and AF_INET /
AF_INET6 (inside an empty network namespace whose only interface is its own loopback). Every other family
(AF_VSOCK, which a network namespace does not cover, AF_PACKET, AF_NETLINK, ...) is answered
EAFNOSUPPORT rather than killed, because glibc itself opens a netlink socket in getaddrinfo(AI_ADDRCONFIG)
and if_nameindex and copes with the refusal.

With `one_process` (no cgroup bounds the tree, so RLIMIT_AS of one process must be the memory bound)
every way to make another process answers EPERM: fork, vfork, and clone without CLONE_THREAD (threads
share the one address space and stay allowed), and so do the stores of memory that outlive a mapping and
escape RLIMIT_AS: SysV shared memory and message queues, and memfd_create.

A refused call kills the whole process with SIGSYS (SECCOMP_RET_KILL_PROCESS), which the parent sees
as the child's exit signal: the verdict "forbidden" comes from the kernel, not from anything the code
could write. Two calls are answered instead of killed: clone3 gets ENOSYS (its flags live in memory a
filter cannot read, so glibc is made to fall back to clone, whose flags we can check) and syscalls of a
foreign ABI (i386 `int 0x80`, x32) kill, since their numbers differ from the table below.

The program is built here rather than with libseccomp because it is about a hundred instructions, the
layout of `struct seccomp_data` is a stable kernel ABI, and it spares a C library and its bindings.
"""

from __future__ import annotations

import platform
import struct

# struct sock_filter: u16 code, u8 jt, u8 jf, u32 k
_LD_W_ABS = 0x20   # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15      # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35      # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45     # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06      # BPF_RET | BPF_K

RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
ENOSYS = 38
EPERM = 1
EAFNOSUPPORT = 97
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCKET_FAMILIES = (AF_UNIX, AF_INET, AF_INET6)   # socket(); socketpair() gets AF_UNIX only
CLONE_THREAD = 0x00010000

# offsets in struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
_OFF_NR, _OFF_ARCH = 0, 4


def _arg_low(i: int) -> int:
    """Offset of the low 32 bits of syscall argument i (little-endian machines only, as both arches are)."""
    return 16 + 8 * i


CLONE_NEW_FLAGS = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
DENIED_IOCTLS = {
    0x40086602: "FS_IOC_SETFLAGS",
    0x40046602: "FS_IOC32_SETFLAGS",
    0x401C6620: "FS_IOC_FSSETXATTR",
    0x5412: "TIOCSTI",
    0x541C: "TIOCLINUX",
}

DENIED_SYSCALLS = (
    "setns", "unshare", "mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_readv",
    "process_vm_writev", "process_madvise", "pidfd_getfd", "keyctl", "add_key", "request_key", "bpf",
    "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "open_by_handle_at", "name_to_handle_at", "fsopen", "fsmount", "fsconfig", "fspick",
    "move_mount", "open_tree", "mount_setattr", "swapon", "swapoff", "reboot", "syslog", "acct", "quotactl",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "lookup_dcookie", "vhangup", "iopl", "ioperm",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
)

# Numbers from the kernel's tables (x86_64: arch/x86/entry/syscalls/syscall_64.tbl; aarch64: the generic
# table, include/uapi/asm-generic/unistd.h). Names missing from an arch do not exist there.
_X86_64 = {
    "setns": 308, "unshare": 272, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "process_madvise": 440,
    "pidfd_getfd": 438, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
    "perf_event_open": 298, "userfaultfd": 323, "kexec_load": 246, "kexec_file_load": 320,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "open_by_handle_at": 304,
    "name_to_handle_at": 303, "fsopen": 430, "fsmount": 432, "fsconfig": 431, "fspick": 433,
    "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "swapon": 167, "swapoff": 168,
    "reboot": 169, "syslog": 103, "acct": 163, "quotactl": 179, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "lookup_dcookie": 212, "vhangup": 153, "iopl": 172,
    "ioperm": 173, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
    "sethostname": 170, "setdomainname": 171,
    "clone": 56, "clone3": 435, "ioctl": 16, "socket": 41, "socketpair": 53,
    "fork": 57, "vfork": 58, "shmget": 29, "msgget": 68, "memfd_create": 319,
}
_AARCH64 = {
    "setns": 268, "unshare": 97, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "process_madvise": 440,
    "pidfd_getfd": 438, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
    "perf_event_open": 241, "userfaultfd": 282, "kexec_load": 104, "kexec_file_load": 294,
    "init_module": 105, "finit_module": 273, "delete_module": 106, "open_by_handle_at": 265,
    "name_to_handle_at": 264, "fsopen": 430, "fsmount": 432, "fsconfig": 431, "fspick": 433,
    "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "swapon": 224, "swapoff": 225,
    "reboot": 142, "syslog": 116, "acct": 89, "quotactl": 60, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "lookup_dcookie": 18, "vhangup": 58,
    "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
    "sethostname": 161, "setdomainname": 162,
    "clone": 220, "clone3": 435, "ioctl": 29, "socket": 198, "socketpair": 199,
    "shmget": 194, "msgget": 186, "memfd_create": 279,
}
# Refused with EPERM when the run has no tree bound (`one_process`); fork and vfork exist on x86_64 only.
ONE_PROCESS_REFUSED = ("fork", "vfork", "shmget", "msgget", "memfd_create")
# machine -> (AUDIT_ARCH value, syscall table, first number of a foreign ABI sharing the arch value or None)
ARCHES = {
    "x86_64": (0xC000003E, _X86_64, 0x40000000),  # x32 syscalls carry bit 30 under the x86_64 arch value
    "aarch64": (0xC00000B7, _AARCH64, None),
}


class SeccompUnsupported(RuntimeError):
    """This machine's architecture has no table here: the sandbox must not claim the filter."""


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def _only(nr: int, arg: int, allowed: tuple[int, ...], refuse: int) -> list[bytes]:
    """If the call is `nr`: allow it when argument `arg` is one of `allowed`, else return `refuse`.
    The block ends in a return, so the accumulator still holds the syscall number for the next block."""
    body = [_ins(_LD_W_ABS, _arg_low(arg))]
    for i, value in enumerate(allowed):
        body.append(_ins(_JEQ_K, value, len(allowed) - i, 0))
    body += [_ins(_RET_K, refuse), _ins(_RET_K, RET_ALLOW)]
    return [_ins(_JEQ_K, nr, 0, len(body))] + body


def build_filter(machine: str | None = None, *, one_process: bool = False) -> bytes:
    """The BPF program for `machine` (default: this one), as bubblewrap's --seccomp reads it.
    `one_process`: no new processes or off-mapping memory stores (see the module's docstring)."""
    machine = machine or platform.machine()
    if machine in ("amd64", "AMD64"):
        machine = "x86_64"
    if machine == "arm64":
        machine = "aarch64"
    if machine not in ARCHES:
        raise SeccompUnsupported(f"no seccomp syscall table for {machine}")
    arch, table, foreign_from = ARCHES[machine]
    prog = [_ins(_LD_W_ABS, _OFF_ARCH), _ins(_JEQ_K, arch, 1, 0), _ins(_RET_K, RET_KILL_PROCESS),
            _ins(_LD_W_ABS, _OFF_NR)]
    if foreign_from is not None:
        prog += [_ins(_JGE_K, foreign_from, 0, 1), _ins(_RET_K, RET_KILL_PROCESS)]
    for name in DENIED_SYSCALLS:
        if name in table:
            prog += [_ins(_JEQ_K, table[name], 0, 1), _ins(_RET_K, RET_KILL_PROCESS)]
    prog += [_ins(_JEQ_K, table["clone3"], 0, 1), _ins(_RET_K, RET_ERRNO | ENOSYS)]
    if one_process:
        for name in ONE_PROCESS_REFUSED:
            if name in table:
                prog += [_ins(_JEQ_K, table[name], 0, 1), _ins(_RET_K, RET_ERRNO | EPERM)]
    # clone: refuse namespace flags (argument 0 on both arches); with one_process, anything but a thread.
    clone = [_ins(_LD_W_ABS, _arg_low(0)), _ins(_JSET_K, CLONE_NEW_FLAGS, 0, 1), _ins(_RET_K, RET_KILL_PROCESS)]
    if one_process:
        clone += [_ins(_JSET_K, CLONE_THREAD, 1, 0), _ins(_RET_K, RET_ERRNO | EPERM)]
    clone.append(_ins(_RET_K, RET_ALLOW))
    prog += [_ins(_JEQ_K, table["clone"], 0, len(clone))] + clone
    prog += _only(table["socket"], 0, SOCKET_FAMILIES, RET_ERRNO | EAFNOSUPPORT)
    prog += _only(table["socketpair"], 0, (AF_UNIX,), RET_ERRNO | EAFNOSUPPORT)
    # ioctl: refuse the listed requests (argument 1; the kernel reads it as a 32-bit unsigned int).
    ioctl_block = [_ins(_LD_W_ABS, _arg_low(1))]
    for request in DENIED_IOCTLS:
        ioctl_block += [_ins(_JEQ_K, request, 0, 1), _ins(_RET_K, RET_KILL_PROCESS)]
    prog += [_ins(_JEQ_K, table["ioctl"], 0, len(ioctl_block))] + ioctl_block
    prog.append(_ins(_RET_K, RET_ALLOW))
    return b"".join(prog)


def supported(machine: str | None = None) -> bool:
    try:
        build_filter(machine)
    except SeccompUnsupported:
        return False
    return True
