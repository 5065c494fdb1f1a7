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


class CallCut(BackendError):
    """A model call stopped by a limit of the run, not by the model; what had arrived is still counted.

    `received_bytes` is how much of the reply arrived, `text` the readable part of it (empty when the
    reply could not be read) and `completion_tokens` an exact count where the backend knows one.
    """

    def __init__(self, message: str, *, received_bytes: int = 0, text: str = "",
                 completion_tokens: int | None = None) -> None:
        super().__init__(message)
        self.received_bytes, self.text, self.completion_tokens = received_bytes, text, completion_tokens


class DeadlineExceeded(CallCut):
    """The run's wall-clock budget ran out while the call was waiting: the run ends with reason timeout."""


class ReplyTooLarge(CallCut):
    """The reply outgrew `max_reply_bytes`: it was cut off there and the call recorded as a failure."""
