"""The small-file I/O every layer shares: writes that fail leave nothing half-done, JSON read in one line.

Writes that fail leave nothing half-done: one clear error (exit code 4) and no staging left behind.

Every writer of outputs (datasets, checkpoints, run directories, imports, agent runs) stages its work
under a name carrying its PID (`.NAME.tmp-PID...`) and renames it into place. When a write fails (a
full or read-only disk, no permission), the staging is removed and a `WriteError` names what could not
be written and why; `hrm` prints it as one line and exits with `WRITE_EXIT_CODE`. Staging left by a
process that died (`kill -9`, a power cut) is removed the next time something writes there.

`read_json` turns every way a JSON file can be wrong (unreadable, not UTF-8, malformed, the wrong type)
into one error line naming the file, the problem and the fix (exit code 2).

This module is the lowest layer's (datasets); engine, agent and hrm_cli import it from here.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from hrm_datasets.errors import DatasetError, HRMError

WRITE_EXIT_CODE = 4

_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "file too large for the file system",
}
_HINTS = {
    "no space left on device": "free some space or write elsewhere",
    "disk quota exceeded": "free some space or write elsewhere",
    "read-only file system": "write to a writable folder",
    "permission denied": "check the folder's permissions or write elsewhere",
}
# OSError numbers that only a write produces: main() reports these as WriteError even when unwrapped
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
# `.NAME.tmp-PID`, `.NAME.tmp-PID-random`, `.NAME.old-PID`: staging named by the process that made it
_STAGING = re.compile(r"^\..+\.(?:tmp|old)-(\d+)(?:-.*)?$")
_MIN_FREE = 1 << 20  # below this, a failed write is put down to a full disk


class WriteError(HRMError):
    """An output could not be written (disk full, read-only, no permission); what was staged is gone."""

    exit_code = WRITE_EXIT_CODE

    def __init__(self, what: str | Path, reason: str, note: str = "") -> None:
        self.what, self.reason, self.note = str(what), reason, note
        hint = _HINTS.get(reason, "")
        tail = "; ".join(x for x in (hint, note) if x)
        super().__init__(f"cannot write {what}: {reason}" + (f" ({tail})" if tail else ""))

    def noted(self, note: str) -> "WriteError":
        """The same error with a note on what was done about it (e.g. the run marked failed)."""
        return WriteError(self.what, self.reason, "; ".join(x for x in (self.note, note) if x))


def is_write_failure(exc: BaseException) -> bool:
    """OSError from a write, or MLX's RuntimeError from a save (`[write] Unable to write ...`)."""
    if isinstance(exc, OSError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("write" in text or "file" in text)


def reason(exc: BaseException, path: str | Path | None = None) -> str:
    """Why a write failed, in a few words: from errno, else from the file system holding `path`."""
    if isinstance(exc, OSError) and exc.errno in _REASONS:
        return _REASONS[exc.errno]
    found = _filesystem_reason(Path(path)) if path is not None else None
    if found:
        return found
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc)


def _filesystem_reason(path: Path) -> str | None:
    """MLX says only "Unable to write": ask the file system whether it is read-only or full."""
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return "read-only file system"
    if st.f_bavail * st.f_frsize < _MIN_FREE:
        return "no space left on device"
    if not os.access(folder if folder.is_dir() else folder.parent, os.W_OK):
        return "permission denied"
    return None


@contextmanager
def writing(what: str | Path, path: str | Path | None = None) -> Iterator[None]:
    """Turn a failed write inside the block into a WriteError naming `what` (the reason is read at once,
    before any cleanup frees the space)."""
    try:
        yield
    except WriteError:
        raise
    except (OSError, RuntimeError) as exc:
        if not is_write_failure(exc):
            raise
        raise WriteError(what, reason(exc, path if path is not None else what)) from None


def write_text_atomic(path: Path, text: str) -> None:
    """Write to `.NAME.tmp-PID` beside `path`, then rename: a reader never sees half a file, and a
    failed write leaves neither half a file nor its staging."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with writing(path, tmp):
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def append_all(fh: Any, data: bytes) -> None:
    """Append all of `data` to a file opened unbuffered ("ab", buffering=0), or none of it: a write cut
    short by a full disk is cut back off, so the next append does not run into half a line."""
    end = fh.seek(0, os.SEEK_END)
    view = memoryview(data)
    try:
        while view:
            view = view[fh.write(view):]
    except OSError:
        fh.truncate(end)
        raise


def replace_dir(staging: Path, output: Path) -> None:
    """Move a fully written staging folder to `output`, replacing what is there (moved aside, then removed)."""
    old = None
    if output.exists():
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        os.replace(output, old)
    os.replace(staging, output)
    if old is not None:
        remove(old)


def remove(path: Path) -> None:
    """Remove a staged file or folder, whatever is left of it."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def staging_pid(name: str) -> int | None:
    """The PID in a staging name (`.step_0000010.tmp-4242` -> 4242), None if it is not one."""
    match = _STAGING.match(name)
    return int(match.group(1)) if match else None


def pid_alive(pid: Any) -> bool | None:
    """True/False for a local process id, None when it cannot be told."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return None
    return True


def clean_stale(folder: Path, *, only: str | None = None) -> list[Path]:
    """Remove staging in `folder` left by processes no longer running (or by an earlier life of this PID).

    `only`: a prefix the names must have (a dataset build cleans only its own output's staging).
    """
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid = staging_pid(entry.name)
        if pid is None or (only is not None and not entry.name.startswith(only)):
            continue
        if pid == os.getpid() or pid_alive(pid) is False:
            remove(entry)
            removed.append(entry)
    return removed


_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "true/false", int: "a number",
               float: "a number", type(None): "null"}


def json_kind(value: Any) -> str:
    """The JSON name of a value's type ("an object", "a number", ...), for messages."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


def read_json(path: str | Path, *, expect: type | None = dict, error: type[HRMError] = DatasetError,
              fix: str = "") -> Any:
    """A JSON file's value, refusing unreadable, non-UTF-8, malformed or wrongly typed content in one line."""
    path = Path(path)
    tail = f"; {fix}" if fix else ""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text (a binary or damaged file){tail}") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}{tail}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = "empty file" if not text.strip() else f"malformed JSON ({exc.msg})"
        raise error(f"{path}:{exc.lineno}: {problem}{tail}") from None
    except RecursionError:
        raise error(f"{path}: JSON nested too deeply{tail}") from None
    if expect is not None and not isinstance(data, expect):
        raise error(f"{path}: expected {_JSON_NAMES.get(expect, expect.__name__)}, got {json_kind(data)}{tail}")
    return data
