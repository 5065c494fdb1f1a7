"""The engine's errors, in the one exception family every layer raises for problems a user can fix.

`HRMError`, the family's base, lives in the lowest layer (hrm_datasets.errors) and is imported here, so
`from hrm_engine.errors import HRMError` keeps working. `hrm_cli` turns any `HRMError` into a single line
on stderr and its `exit_code` (2 for usage and input errors), so no layer ever needs to know about the CLI.
"""

from __future__ import annotations

from hrm_datasets.errors import HRMError

__all__ = ["HRMError", "ConfigError", "EngineError"]


class ConfigError(HRMError):
    """A preset, YAML file or `key=value` override that cannot be used."""


class EngineError(HRMError):
    """Model, training, evaluation or solving cannot proceed (bad checkpoint, mismatched data, ...)."""
