"""What every `hrm agent` command reads the same way: the agent config and the task with its context."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional


def read_task(task: str) -> str:
    """The TASK argument, or stdin for '-'."""
    if task == "-":
        return sys.stdin.read().strip()
    return task


def read_context(context: Optional[str]) -> dict[str, Any]:
    """--context: a JSON object given inline or as a file; one line naming the problem otherwise."""
    from hrm_agent.errors import AgentError

    if not context:
        return {}
    text = context
    if not context.lstrip().startswith("{"):
        path = Path(context)
        if not path.is_file():
            raise AgentError(f"--context {context}: not a JSON object and not a file")
        text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AgentError(f"--context is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(value, dict):
        raise AgentError("--context must be a JSON object of variables, e.g. '{\"TRAIN\": [...], \"TEST\": [...]}'")
    return value


def agent_config(file: Optional[Path], overrides: list[str], **options: Any) -> dict[str, Any]:
    """configs/agent.yaml < --file < CLI options < key=value overrides."""
    from hrm_engine.config import resolve_config

    flags = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in options.items() if v is not None]
    return resolve_config("agent", file, [*flags, *overrides])
