"""Run a command as a real unprivileged user with no cgroup of its own, from tests that run as root.

`as_normal_user(argv)` returns a command line that drops to uid/gid NORMAL_UID with no supplementary
groups (setpriv), so the kernel treats it like any other user: bubblewrap makes a user namespace for
it and it can write no cgroup. Where the interpreter lives under a folder that other users cannot
enter (pyenv under a 0700 /root, as on this project's machines), the command first gets a private
mount namespace (unshare -m) in which only that folder's needed entries are shown through an 0755
folder; nothing changes on the host. When the tests already run as a normal user, the command is
returned as it is: that user is the real case.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import sys
import tempfile

NORMAL_UID = 54321  # no passwd entry needed; no other process runs as it


def available() -> str:
    """'' when a normal user can be had here, else why not (for pytest.skip)."""
    if os.geteuid() != 0:
        return ""
    for tool in ("setpriv", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is missing"
    return ""


def _blocked(paths: list[str]) -> dict[str, set[str]]:
    """Folders on the way to `paths` that other users cannot enter -> the entries needed inside them."""
    out: dict[str, set[str]] = {}
    for path in paths:
        parts = os.path.abspath(path).strip("/").split("/")
        for i in range(len(parts) - 1):
            folder = "/" + "/".join(parts[:i + 1])
            try:
                mode = os.stat(folder).st_mode
            except OSError:
                break
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
                out.setdefault(folder, set()).add(parts[i + 1])
    return out


def as_normal_user(argv: list[str], scratch: str, reach: list[str] = ()) -> list[str]:
    """`argv` run as NORMAL_UID, with the interpreter and `reach` paths reachable by that user (the
    empty folders the mount namespace needs are made in `scratch`)."""
    if os.geteuid() != 0:
        return list(argv)
    need = [os.path.realpath(sys.executable), sys.prefix, *reach]
    script = []
    for folder, entries in sorted(_blocked(need).items(), key=lambda kv: kv[0].count("/")):
        view = tempfile.mkdtemp(prefix="view-", dir=scratch)
        os.chmod(view, 0o755)
        for entry in sorted(entries):
            src, dst = os.path.join(folder, entry), os.path.join(view, entry)
            if os.path.isdir(src):
                os.mkdir(dst)
            else:
                open(dst, "w").close()
            script.append(f"mount --bind {shlex.quote(src)} {shlex.quote(dst)}")
        script.append(f"mount --rbind {shlex.quote(view)} {shlex.quote(folder)}")
    drop = ["setpriv", f"--reuid={NORMAL_UID}", f"--regid={NORMAL_UID}", "--clear-groups", "--inh-caps=-all",
            "--"]
    if not script:
        return [*drop, *argv]
    script.append('exec "$@"')
    return ["unshare", "-m", "--propagation", "private", "sh", "-ec", "; ".join(script), "sh", *drop, *argv]


def rss_of_user_mib(uid: int, exclude: set[int]) -> float:
    """Resident memory of every process of `uid` (but `exclude`), from /proc: the kernel's figure."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)] and "VmRSS" in fields:
            total += int(fields["VmRSS"].split()[0])
    return total / 1024
