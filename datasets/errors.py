"""Dataset errors: bad input files, bad grids, an output that exists. One line each, exit code 2."""

from __future__ import annotations

from hrm_engine.errors import HRMError


class DatasetError(HRMError):
    """A dataset cannot be built or read; the message names the file (and line) and the fix."""
