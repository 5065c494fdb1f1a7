"""The one exception family every layer raises for problems a user can fix.

`hrm_cli` turns any `HRMError` into a single line on stderr and its `exit_code`
(2 for usage and input errors), so no layer ever needs to know about the CLI.
"""

from __future__ import annotations


class HRMError(Exception):
    """A user-facing error: the message names the problem and what to do."""

    exit_code: int = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(HRMError):
    """A preset, YAML file or `key=value` override that cannot be used."""


class EngineError(HRMError):
    """Model, training, evaluation or solving cannot proceed (bad checkpoint, mismatched data, ...)."""
