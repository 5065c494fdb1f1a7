"""The sandboxed child: runs `python -I -B -u -m hrm_agent.sandbox.child CONFIG RESULT_FD` inside the jail.

It imports nothing of hrm and only the standard library, so that the same file runs under bubblewrap,
under the weaker fallbacks and in tests. Order matters: every descriptor but stdio and the result pipe
is closed, the rlimits go on, the preamble runs, then the audit hook, then the model's code.

The audit hook is the friendly first line, not the boundary: it turns the naive attempts a small model
makes (open('/etc/passwd'), subprocess.run, socket.connect) into one clear message and ends the process
with EXIT_FORBIDDEN, so code cannot catch the refusal and carry on. Code that switches the hook off meets
the kernel's boundary instead (see execute.py). Nothing written here is trusted by the parent: the exit
status and signals it observes decide the verdict, and the JSON sent through RESULT_FD is only data.
"""

from __future__ import annotations

import builtins
import collections
import gc
import json
import linecache
import os
import resource
import signal
import sys
import traceback

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_MEMORY = 75
EXIT_FORBIDDEN = 77
EXIT_SETUP = 78

PROCESS_EVENTS = {"os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
                  "subprocess.Popen", "os.startfile", "pty.spawn", "os.kill", "os.killpg",
                  "signal.pthread_kill"}
NET_EVENTS = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
              "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr",
              "socket.getnameinfo", "socket.sethostname"}
OTHER_EVENTS = {"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.cdata",
                "ctypes.call_function", "ctypes.string_at", "ctypes.wstring_at", "resource.setrlimit",
                "resource.prlimit", "sqlite3.enable_load_extension", "sqlite3.load_extension",
                "gc.get_referrers", "gc.get_referents", "gc.get_objects", "sys.addaudithook"}
# event -> ((index of a path argument that gets changed, index of its dir_fd argument or None), ...)
WRITE_EVENTS = {"os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),), "os.chmod": ((0, 2),),
                "os.chown": ((0, 3),), "os.utime": ((0, 3),), "os.truncate": ((0, None),),
                "os.rename": ((0, 2), (1, 3)), "os.link": ((0, 2), (1, 3)), "os.setxattr": ((0, None),),
                "os.removexattr": ((0, None),), "os.chflags": ((0, None),), "os.lchflags": ((0, None),),
                "os.lchmod": ((0, None),), "os.mkfifo": ((0, 2),), "os.mknod": ((0, 3),),
                "shutil.rmtree": ((0, 1),), "tempfile.mkstemp": ((0, None),),
                "tempfile.mkdtemp": ((0, None),), "sqlite3.connect": ((0, None),)}
READ_EVENTS = {"os.listdir", "os.scandir"}
AF_UNIX = 1
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
KEEP_TRACEBACK = 40


def set_limits(cfg: dict) -> None:
    """rlimits: CPU (SIGXCPU, then SIGKILL a second later), address space, file size, no core files."""
    def lim(kind: int, soft: int, hard: int | None = None) -> None:
        try:
            resource.setrlimit(kind, (soft, soft if hard is None else hard))
        except (ValueError, OSError):
            pass  # e.g. RLIMIT_AS on macOS: the other limits still apply
    lim(resource.RLIMIT_CPU, cfg["cpu_s"], cfg["cpu_s"] + 1)
    lim(resource.RLIMIT_AS, cfg["memory_bytes"])
    lim(resource.RLIMIT_FSIZE, cfg["file_bytes"])
    lim(resource.RLIMIT_CORE, 0)
    if cfg.get("nproc"):
        lim(resource.RLIMIT_NPROC, cfg["nproc"])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise OSError instead of killing


def die_forbidden(what: str) -> None:
    """Say what was refused, with the code's own frames, and end the process (not catchable)."""
    stack = traceback.StackSummary.extract(traceback.walk_stack(None), lookup_lines=False)
    frames = [f for f in reversed(stack) if f.filename in ("<code>", "<preamble>")]
    text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames[-KEEP_TRACEBACK:]))
    text += "PermissionError: sandbox: %s is not allowed\n" % what
    try:
        os.write(2, text.encode("utf-8", "replace"))
    finally:
        os._exit(EXIT_FORBIDDEN)


def make_hook(work: str, read_roots: list[str]):
    work = os.path.realpath(work)
    roots = tuple(read_roots)
    state = {"busy": False}

    def inside(path: str, where: tuple) -> bool:
        return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in where)

    def resolve(path, dir_fd=None):
        if isinstance(path, int) or path is None:
            return None
        p = os.fsdecode(os.fspath(path))
        base = os.getcwd()
        if dir_fd not in (None, -1, -100) and not os.path.isabs(p):
            base = os.readlink("/proc/self/fd/%d" % dir_fd)
        return os.path.realpath(os.path.join(base, p))

    def check(event: str, args: tuple) -> None:
        if event in PROCESS_EVENTS:
            die_forbidden("starting or signalling processes (%s)" % event)
        if event in NET_EVENTS:
            die_forbidden("network access (%s)" % event)
        if event == "socket.__new__":
            family = args[1] if len(args) > 1 else None
            if family not in (AF_UNIX, -1, None):
                die_forbidden("network access (socket family %s)" % family)
            return
        if event in OTHER_EVENTS:
            die_forbidden(event)
        if event == "open":
            path, mode, flags = args
            target = resolve(path)
            if target is None or target == "/dev/null":
                return
            writing = bool((flags or 0) & WRITE_FLAGS)
            writing = writing or (isinstance(mode, str) and any(c in mode for c in "wax+"))
            if writing:
                if not inside(target, (work,)):
                    die_forbidden("writing %s outside the working directory" % target)
            elif not inside(target, (work,) + roots):
                die_forbidden("reading %s" % target)
            elif mode is None and not inside(target, (work,)) and os.path.isdir(target):
                die_forbidden("opening directory %s" % target)
            return
        if event in WRITE_EVENTS:
            for i, fd_index in WRITE_EVENTS[event]:
                if i >= len(args) or args[i] == ":memory:":
                    continue
                dir_fd = args[fd_index] if fd_index is not None and len(args) > fd_index else None
                target = resolve(args[i], dir_fd if isinstance(dir_fd, int) else None)
                if target is not None and not inside(target, (work,)):
                    die_forbidden("changing %s outside the working directory" % target)
            return
        if event == "os.symlink":
            link = resolve(args[1], args[2] if len(args) > 2 else None)
            dest = os.path.realpath(os.path.join(os.path.dirname(link), os.fsdecode(os.fspath(args[0]))))
            if not inside(link, (work,)) or not inside(dest, (work,)):
                die_forbidden("symlink to %s" % dest)
            return
        if event in READ_EVENTS:
            target = resolve(args[0] if args else None)
            if target is not None and not inside(target, (work,) + roots):
                die_forbidden("listing %s" % target)
            return
        if event == "os.chdir":
            if resolve(args[0]) != work:
                die_forbidden("changing directory")

    def hook(event: str, args: tuple) -> None:
        if state["busy"]:
            return
        state["busy"] = True
        try:
            check(event, args)
        except Exception as exc:  # a path we could not resolve: refuse rather than guess
            die_forbidden("%s (%s: %s)" % (event, type(exc).__name__, exc))
        finally:
            state["busy"] = False

    return hook


def read_roots(cfg: dict) -> list[str]:
    roots = list(cfg["allowed_read_paths"])
    roots += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    roots.append(os.path.dirname(sys.executable))
    roots.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # hrm_agent (this is its sandbox/)
    roots += [p for p in sys.path if os.path.isabs(p)]
    roots += ["/dev/urandom", "/dev/random", "/dev/zero", "/etc/localtime", "/usr/share/zoneinfo"]
    try:
        roots.append("/proc/" + os.readlink("/proc/self"))
    except OSError:
        pass
    return sorted({os.path.realpath(r) for r in roots if r})


_NO = object()


def to_json(value, strict: bool, depth: int = 0):
    """JSON-ready copy of value; with strict, the marker _NO when a repr() fallback would be needed."""
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


def describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1][:500]


def print_tb(exc: BaseException) -> None:
    """The traceback as the code's author should see it: no bootstrap frames, only the innermost ones."""
    frames: collections.deque = collections.deque(maxlen=KEEP_TRACEBACK)
    tb = exc.__traceback__
    while tb is not None:  # walked by hand: a deep RecursionError has a huge traceback
        name = tb.tb_frame.f_code.co_filename
        if name != __file__ and not name.startswith("<frozen"):
            frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    text = "Traceback (most recent call last):\n" if frames else ""
    text += "".join(traceback.StackSummary.extract(iter(frames)).format())
    text += "".join(traceback.format_exception_only(type(exc), exc))
    sys.stderr.write(text)


def collect(ns: dict, budget: int) -> dict:
    """Every JSON-serialisable top-level name (not RESULT, not _private), within `budget` bytes."""
    out = {}
    for name, value in list(ns.items()):
        if name.startswith("_") or name == "RESULT" or name == "__builtins__":
            continue
        try:
            converted = to_json(value, True)
            if converted is _NO:
                continue
            size = len(json.dumps(converted))
        except Exception:
            continue
        if size <= budget:
            out[name] = converted
            budget -= size
    return out


def report(fd: int, data: dict) -> None:
    payload = json.dumps(data).encode("utf-8")
    view = memoryview(payload)
    while view:
        try:
            n = os.write(fd, view)
        except OSError:
            return  # the parent stopped reading (limit hit): nothing more to say
        view = view[n:]


def run(cfg: dict, fd: int) -> int:
    """Preamble, hook, code; returns the exit status and writes the result JSON to `fd`."""
    spare = [bytearray(1 << 20)]  # freed on MemoryError so the report can still be written
    ns = {"__name__": "__main__", "__builtins__": builtins}
    ns.update(cfg["variables"])
    for name in ("code", "preamble"):  # so tracebacks show the lines
        src = cfg[name]
        linecache.cache["<%s>" % name] = (len(src), None, src.splitlines(True), "<%s>" % name)
    out = {"error": "", "has_result": False, "result": None, "result_repr": "", "variables": {}}
    status = EXIT_OK
    stage = "preamble"
    try:
        if cfg["preamble"]:
            exec(compile(cfg["preamble"], "<preamble>", "exec"), ns)
        import _posixsubprocess
        import ctypes  # noqa: F401  (imported now: its import calls dlopen, which the hook refuses)

        def no_fork_exec(*args, **kwargs):  # raises no audit event of its own
            die_forbidden("starting processes (_posixsubprocess.fork_exec)")
        _posixsubprocess.fork_exec = no_fork_exec
        sys.addaudithook(make_hook(cfg["work"], read_roots(cfg)))  # no name left in any frame
        stage = "code"
        exec(compile(cfg["code"], "<code>", "exec"), ns)
    except MemoryError as exc:
        spare.clear()
        ns.clear()
        gc.collect()
        print_tb(exc)
        out["error"] = "MemoryError: memory limit of %d MiB exceeded" % (cfg["memory_bytes"] >> 20)
        report(fd, out)
        return EXIT_MEMORY
    except BaseException as exc:
        if not (isinstance(exc, SystemExit) and exc.code in (None, 0)):
            out["error"] = ("preamble: " if stage == "preamble" else "") + describe(exc)
            print_tb(exc)
            status = EXIT_ERROR
    try:
        if status == EXIT_OK and "RESULT" in ns:
            value = ns["RESULT"]
            out["has_result"] = True
            try:
                out["result_repr"] = repr(value)[:10000]
            except Exception as exc:
                out["result_repr"] = "<repr failed: %s>" % describe(exc)
            try:
                out["result"] = to_json(value, False)
                json.dumps(out["result"])
            except Exception:
                out["result"] = out["result_repr"]
        out["variables"] = collect(ns, cfg["result_bytes"])
    except MemoryError:
        spare.clear()
        ns.clear()
        out = {"error": "MemoryError: memory limit of %d MiB exceeded" % (cfg["memory_bytes"] >> 20)}
        report(fd, out)
        return EXIT_MEMORY
    report(fd, out)
    return status


def close_other_fds(keep: int) -> None:
    """Only stdio and the result pipe survive: nothing the launcher held is reachable by the code."""
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd > 2 and fd != keep:
            try:
                os.close(fd)
            except OSError:
                pass


def main(argv: list[str]) -> None:
    try:
        with open(argv[1], encoding="utf-8") as f:
            cfg = json.load(f)
        fd = int(argv[2])
    except (OSError, ValueError, IndexError) as exc:
        sys.stderr.write("sandbox: could not read the run's configuration: %s\n" % exc)
        os._exit(EXIT_SETUP)
    close_other_fds(fd)
    if cfg.get("require_unprivileged") and (os.geteuid() == 0 or os.getegid() == 0):
        sys.stderr.write("sandbox: refusing to run code as root inside the sandbox\n")
        os._exit(EXIT_SETUP)
    try:
        os.chdir(cfg["work"])
    except OSError as exc:
        sys.stderr.write("sandbox: no working directory: %s\n" % exc)
        os._exit(EXIT_SETUP)
    set_limits(cfg)
    status = run(cfg, fd)
    try:
        sys.stdout.flush()
    except Exception:
        pass
    os._exit(status)


if __name__ == "__main__":
    main(sys.argv)
