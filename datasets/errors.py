"""The one exception family every layer raises for problems a user can fix, and the datasets' own.

`hrm_cli` turns any `HRMError` into a single line on stderr and its `exit_code`
(2 for usage and input errors), so no layer ever needs to know about the CLI. `HRMError` lives here, in the
lowest layer, so that datasets needs nothing above it; the engine's errors subclass it.
Dataset errors: bad input files, bad grids, an output that exists. One line each, exit code 2.
"""

from __future__ import annotations


class HRMError(Exception):
    """A user-facing error: the message names the problem and what to do."""

    exit_code: int = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class DatasetError(HRMError):
    """A dataset cannot be built or read; the message names the file (and line) and the fix."""
