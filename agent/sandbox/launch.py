"""How the sandboxed child is started: which isolation this machine gives, and the command line for it.

Linux, the boundary: bubblewrap (`bwrap`, Debian/Ubuntu package `bubblewrap`) puts the child in new
PID, network, IPC, UTS and cgroup namespaces, with a root that is an empty read-only tmpfs holding
read-only binds of the installation only (/usr, the interpreter and its standard library, the
virtualenv's site-packages, hrm's own packages, and the paths a caller allows: never the current
directory, PYTHONPATH folders or other sys.path entries; for an editable install only the package
folders, not the repository with its .env and .git), a fresh /proc of its own PID namespace, a minimal
/dev, and one writable place: a tmpfs of `disk_mb` at /sandbox, also the working directory, $HOME and
$TMPDIR (so total disk use is bounded, not per file). No $HOME, /root, host /tmp or /dev/shm is visible. A seccomp filter
(seccomp.py) refuses the calls that could undo this. As a normal user bwrap also makes a user
namespace (and forbids nested ones); as root it makes none and the child runs as an unprivileged uid
through `setpriv` with every capability dropped, because a uid 0 mapped from root would still own the
host's root-owned files and sysctls. Where no cgroup bounds the tree the filter keeps the code to one
process (modes.py names the modes by what they guarantee).

Elsewhere the options are weaker and must be accepted explicitly (`allow_weak`): on macOS
`sandbox-exec` with a deny-by-default profile; on Linux without bubblewrap or user namespaces, the old
arrangement (a separate interpreter, `unshare --net --pid` where it works, rlimits, the audit hook).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from hrm_agent.sandbox import cgroup, modes, seccomp

WORK = "/sandbox"            # the child's working directory, $HOME and $TMPDIR under bubblewrap
CONFIG_IN_JAIL = "/.hrm/config.json"
SANDBOX_UID = 65534          # nobody: the uid the child gets when hrm runs as root
CHILD_MODULE = "hrm_agent.sandbox.child"
_HRM_PACKAGES = ("hrm_agent", "hrm_engine", "hrm_datasets", "hrm_configs")
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime")
_UNSHARE_ARGS = ("--net", "--pid", "--fork", "--kill-child")
_SANDBOX_EXEC = "/usr/bin/sandbox-exec"


@dataclass(frozen=True)
class Isolation:
    """What a run gets here. `strong` is true only for the kernel-enforced boundary."""

    kind: str        # "bubblewrap" | "sandbox-exec" | "process"
    strong: bool
    detail: str      # one line for doctor and traces
    seccomp: bool = False
    cgroup: str = ""
    privileged_host: bool = False  # hrm runs as root: bubblewrap without a user namespace, setpriv to nobody
    bounds: dict = field(default_factory=dict)  # modes.bounds for a run's limits, once known

    @property
    def mode(self) -> str:
        """The mode, named by what it guarantees (modes.py)."""
        return modes.mode_for(self.kind, self.cgroup)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "mode": self.mode, "guarantee": modes.GUARANTEES[self.mode],
                "strong": self.strong, "detail": self.detail, "seccomp": self.seccomp, "cgroup": self.cgroup,
                "bounds": self.bounds}


def _bwrap() -> str | None:
    """bubblewrap: $HRM_BWRAP where set (a build elsewhere; a missing path means none), else on PATH."""
    chosen = os.environ.get("HRM_BWRAP")
    if chosen is not None:
        return chosen if os.access(chosen, os.X_OK) else None
    return shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin:" + os.environ.get("PATH", ""))


def _setpriv() -> str | None:
    return shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")


def _bwrap_flags(bwrap: str) -> str:
    try:
        return subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


@functools.lru_cache(maxsize=1)
def detect() -> Isolation:
    """The strongest isolation that really starts here (probed once per process with a real child)."""
    if sys.platform.startswith("linux"):
        iso, why = _probe_bwrap()
        if iso is not None:
            return iso
        weak = "separate process, rlimits and audit hook"
        if unshare_prefix():
            weak += ", unshare --net --pid"
        return Isolation("process", False, f"{weak}; no OS boundary: {why}")
    if sys.platform == "darwin" and os.access(_SANDBOX_EXEC, os.X_OK):
        return Isolation("sandbox-exec", False, "macOS sandbox-exec, deny-by-default profile (no PID or "
                         "memory isolation; not the Linux boundary)")
    return Isolation("process", False, "separate process, rlimits and audit hook; no OS boundary on "
                     f"{sys.platform}")


def _probe_bwrap() -> tuple[Isolation | None, str]:
    bwrap = _bwrap()
    if bwrap is None:
        return None, "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    flags = _bwrap_flags(bwrap)
    if "--size" not in flags or "--seccomp" not in flags:
        return None, f"{bwrap} is too old (needs --size and --seccomp: bubblewrap >= 0.7)"
    root = os.geteuid() == 0
    if root and _setpriv() is None:
        return None, "running as root needs setpriv (util-linux) to drop to an unprivileged uid"
    try:
        program = seccomp.build_filter()
    except seccomp.SeccompUnsupported as exc:
        return None, str(exc)
    argv, fds = bwrap_argv(bwrap, [], 1 << 20, root, program, ["/bin/true"] if os.path.exists("/bin/true")
                           else ["true"], config_file=None)
    try:
        probe = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20,
                               pass_fds=fds, env=child_env())
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"bubblewrap could not start: {exc}"
    finally:
        for fd in fds:
            os.close(fd)
    if probe.returncode != 0:
        msg = probe.stderr.decode("utf-8", "replace").strip().splitlines()
        hint = msg[-1] if msg else f"exit status {probe.returncode}"
        return None, f"bubblewrap cannot make namespaces here ({hint})"
    cg = cgroup.describe()
    if not cgroup.available():
        cg += ": one process only (seccomp refuses fork), RLIMIT_AS bounds it"
    who = f"uid {SANDBOX_UID} via setpriv, no capabilities" if root else "user namespace, no capabilities"
    detail = (f"bubblewrap: PID/net/IPC/UTS namespaces, read-only root, private tmpfs, {who}, seccomp filter, "
              f"{cg}")
    return Isolation("bubblewrap", True, detail, seccomp=True, cgroup=cgroup.available(),
                     privileged_host=root), ""


@functools.lru_cache(maxsize=1)
def unshare_prefix() -> tuple[str, ...] | None:
    """`unshare --net --pid ...` when it works here (the weak mode's only namespaces), else None."""
    if not sys.platform.startswith("linux"):
        return None
    exe = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if exe is None:
        return None
    try:
        probe = subprocess.run([exe, *_UNSHARE_ARGS, "true"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (exe, *_UNSHARE_ARGS) if probe.returncode == 0 else None


def child_env(home: str = WORK) -> dict[str, str]:
    """The child's whole environment: nothing inherited, so keys in the parent's stay invisible."""
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1"}


def _link_chain(path: str) -> list[str]:
    """`path` and every symlink hop after it (.venv/bin/python -> python3 -> /usr/bin/python3.11)."""
    chain, seen = [os.path.abspath(path)], set()
    while os.path.islink(chain[-1]) and chain[-1] not in seen and len(chain) < 40:
        seen.add(chain[-1])
        chain.append(os.path.normpath(os.path.join(os.path.dirname(chain[-1]), os.readlink(chain[-1]))))
    return chain


def _package_dirs(name: str) -> list[str]:
    """The folders an installed package `name` imports from (for an editable install, the package folder
    in the checkout, not the checkout itself)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [p for p in spec.submodule_search_locations if os.path.isdir(p)]
    return [spec.origin] if spec.origin and os.path.isfile(spec.origin) else []


def interpreter_links() -> list[tuple[str, str]]:
    """(link, target) for each symlink hop from sys.executable to the real interpreter: made as symlinks in
    the jail (cheaper than a bind mount each, and the interpreter sees the same paths as on the host)."""
    chain = _link_chain(sys.executable)
    return [(hop, os.readlink(hop)) for hop in chain[:-1]]


def python_paths() -> list[str]:
    """Host paths of the installation, bound read-only: the interpreter (the file its symlinks end at),
    the venv's pyvenv.cfg, the standard library with lib-dynload and the interpreter's shared libraries,
    the venv's site-packages, and hrm's own packages. Never sys.path as such: it holds the current
    directory under `python -m` and every PYTHONPATH folder, which are not the installation."""
    paths = {_link_chain(sys.executable)[-1]}
    paths.update(os.path.join(p, "pyvenv.cfg") for p in (sys.prefix, sys.exec_prefix))
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix, "installed_base": sys.base_prefix,
            "installed_platbase": sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib"):
        paths.add(sysconfig.get_path(key, vars=base))
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and os.path.realpath(libdir).startswith(os.path.realpath(sys.base_prefix) + os.sep):
        paths.add(libdir)  # libpython and what lib-dynload links to (pyenv, conda); never a foreign folder
    for key in ("purelib", "platlib"):
        paths.add(sysconfig.get_path(key))
    for name in _HRM_PACKAGES:
        paths.update(_package_dirs(name))
    return sorted(p for p in paths if p and os.path.exists(p))


def _covered(path: str, under: list[str]) -> bool:
    return any(path == u or path.startswith(u.rstrip("/") + "/") for u in under)


def _ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]


def ro_binds(extra: list[str]) -> list[str]:
    """Minimal host paths to bind read-only (each as real path and as given, parents first)."""
    wanted: list[str] = []
    for p in [*python_paths(), *extra]:
        for q in (os.path.abspath(p), os.path.realpath(p)):
            if os.path.exists(q) and q not in wanted:
                wanted.append(q)
    wanted.sort(key=lambda p: (p.count("/"), p))
    out: list[str] = []
    for p in wanted:
        if p == "/" or _covered(p, ["/usr", *out]) or _covered(p, ["/proc", "/dev", "/sys"]):
            continue
        out.append(p)
    return out


def _mirror(host: str) -> list[str]:
    """The same path in the jail: a symlink as a symlink (merged-/usr layouts), anything else bound read-only."""
    if os.path.islink(host):
        return ["--symlink", os.readlink(host), host]
    return ["--ro-bind", host, host] if os.path.exists(host) else []


def bwrap_argv(bwrap: str, extra_read: list[str], disk_bytes: int, root: bool, program: bytes,
               command: list[str], config_file: str | None) -> tuple[list[str], list[int]]:
    """The bubblewrap command line and the descriptors it must inherit (the seccomp program's pipe)."""
    r, w = os.pipe()
    os.write(w, program)
    os.close(w)
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if not root:
        argv += ["--unshare-user", "--disable-userns"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in _ROOT_LINKS:
        argv += _mirror("/" + name)
    argv += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC_FILES:
        argv += _mirror("/etc/" + name)
    binds = ro_binds(extra_read)
    links = [(link, target) for link, target in interpreter_links()
             if not _covered(link, ["/usr", *binds]) and link not in binds]
    made: set[str] = {"/", "/usr", "/etc"}
    for p in [*binds, *(link for link, _ in links)]:
        # bubblewrap would make missing parents 0700, which the unprivileged child could not traverse
        for parent in _ancestors(p):
            if parent not in made and not _covered(parent, binds):
                made.add(parent)
                argv += ["--perms", "0755", "--dir", parent]
        if p in binds:
            argv += ["--ro-bind", p, p]
    for link, target in links:
        argv += ["--symlink", target, link]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(max(int(disk_bytes), 1 << 20)), "--tmpfs", WORK]
    if not any(_covered(p, ["/tmp"]) for p in binds):
        argv += ["--symlink", WORK, "/tmp"]
    if config_file is not None:
        argv += ["--perms", "0755", "--dir", os.path.dirname(CONFIG_IN_JAIL), "--ro-bind", config_file,
                 CONFIG_IN_JAIL]
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORK, "--seccomp", str(r), "--"]
    if root:
        argv += [_setpriv() or "setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return argv + command, [r]


def sandbox_exec_profile(work: str, extra_read: list[str]) -> str:
    """A deny-by-default Seatbelt profile: read the interpreter and allowed paths, write only `work`."""
    reads = " ".join(f'(subpath "{p}")' for p in [*ro_binds(extra_read), *(ln for ln, _ in interpreter_links()),
                                                   "/usr", "/System", "/Library",
                                                   "/private/var/db/timezone", "/dev"])
    return ("(version 1)\n(deny default)\n(allow process-fork)\n"
            f'(allow process-exec (literal "{os.path.realpath(sys.executable)}"))\n'
            f"(allow file-read* {reads} (subpath \"{work}\"))\n"
            f'(allow file-write* (subpath "{work}") (literal "/dev/null"))\n'
            "(allow sysctl-read)\n(allow mach-lookup (global-name \"com.apple.system.opendirectoryd.libinfo\"))\n"
            "(deny network*)\n")


def command_for(iso: Isolation, *, work: str, config_file: str, result_fd: int, extra_read: list[str],
                disk_bytes: int, one_process: bool = False) -> tuple[list[str], list[int], str]:
    """(argv, descriptors to pass, the child's working directory on the host or None-equivalent '').
    `one_process`: no cgroup bounds this run's tree, so the filter refuses new processes."""
    if iso.kind == "bubblewrap":
        bwrap = _bwrap()
        assert bwrap is not None
        child = [sys.executable, "-I", "-B", "-u", "-m", CHILD_MODULE, CONFIG_IN_JAIL, str(result_fd)]
        argv, fds = bwrap_argv(bwrap, extra_read, disk_bytes, iso.privileged_host,
                               seccomp.build_filter(one_process=one_process), child, config_file)
        return argv, fds, "/"
    child = [sys.executable, "-I", "-B", "-u", "-m", CHILD_MODULE, config_file, str(result_fd)]
    if iso.kind == "sandbox-exec":
        return [_SANDBOX_EXEC, "-p", sandbox_exec_profile(work, extra_read), *child], [], work
    return [*(unshare_prefix() or ()), *child], [], work


def work_dir_for(iso: Isolation, host_work: Path) -> str:
    """The working directory as the child sees it."""
    return WORK if iso.kind == "bubblewrap" else str(host_work)
