"""Small real file systems for write-failure tests: a tmpfs of a given size (a full disk) and read-only remounts.

Mounting needs root (or CAP_SYS_ADMIN); where it is not allowed the test is skipped with the reason.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """small_disk("1m") -> a fresh tmpfs of that size under tmp_path, unmounted after the test."""
    mounted: list[Path] = []

    def make(size: str, name: str = "disk") -> Path:
        path = tmp_path / f"{name}{len(mounted)}"
        path.mkdir()
        try:
            out = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"cannot mount a tmpfs here ({exc}); full-disk tests need root or CAP_SYS_ADMIN")
        if out.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({out.stderr.strip()}); full-disk tests need root or "
                        f"CAP_SYS_ADMIN")
        mounted.append(path)
        return path

    yield make
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def read_only(path: Path) -> None:
    """Remount a tmpfs from `small_disk` read-only (chmod does not stop root; a read-only mount does)."""
    out = _mount("-o", "remount,ro", str(path))
    if out.returncode != 0:
        pytest.skip(f"cannot remount {path} read-only ({out.stderr.strip()})")


def leftovers(root: Path) -> list[str]:
    """Staging names (`.x.tmp-PID...`, `.x.old-PID`) anywhere under root."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*") if ".tmp" in p.name or ".old-" in p.name)
