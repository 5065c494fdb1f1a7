"""Agent errors: one line for the user, with an exit code a Makefile can rely on."""

from __future__ import annotations

from hrm_engine.errors import HRMError


class AgentError(HRMError):
    """Bad agent input (task, budget, prompt file, trace path): exit 2."""


class BackendError(HRMError):
    """The model server or local model cannot answer (down, unknown model, timeout after retries): exit 3.

    The message names the backend, the URL or model path, and what to do; it never contains an API key.
    """

    exit_code = 3
