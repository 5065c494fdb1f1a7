"""Where hrm keeps what it builds once per machine (converted models, the CPU JIT wrapper)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$HRM_CACHE_DIR, else $XDG_CACHE_HOME/hrm, else ~/.cache/hrm."""
    if env := os.environ.get("HRM_CACHE_DIR"):
        return Path(env).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "hrm"
    return Path.home() / ".cache" / "hrm"
