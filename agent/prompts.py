"""Prompt sets: editable YAML files in configs/prompts/, checked once when loaded."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import yaml

from hrm_agent.errors import AgentError
from hrm_engine.config import available_presets, config_dir, yaml_error_where

# role -> placeholders its user prompt may use
ROLES: dict[str, set[str]] = {
    "planner": {"task", "context"},
    "solver": {"task", "subgoal", "variables", "feedback"},
    "critic": {"task", "results"},
    "replan": {"task", "results", "reason"},
    "synthesizer": {"task", "results", "final_format"},
    "flat": {"task", "context", "feedback"},
}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def load_prompts(name_or_path: str | Path) -> dict[str, Any]:
    """A prompt set by preset name (configs/prompts/NAME.yaml) or file path, validated."""
    path = Path(name_or_path)
    if not path.suffix:
        path = config_dir() / "prompts" / f"{name_or_path}.yaml"
        if not path.is_file():
            names = ", ".join(available_presets("prompts")) or "none"
            raise AgentError(f"no prompt set named {name_or_path!r} (available: {names}); or pass a YAML file path")
    if not path.is_file():
        raise AgentError(f"prompt file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        where, problem = yaml_error_where(path, exc)
        raise AgentError(f"{where}: not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise AgentError(f"{path}: expected a mapping of roles (planner, solver, ...)")
    for role, allowed in ROLES.items():
        entry = data.get(role)
        if not isinstance(entry, dict) or not isinstance(entry.get("system"), str) or not isinstance(
                entry.get("user"), str):
            raise AgentError(f"{path}: role {role!r} needs `system` and `user` strings")
        for part in ("system", "user"):
            try:
                unknown = _fields(entry[part]) - allowed
            except ValueError as exc:
                raise AgentError(f"{path}: {role}.{part}: {exc}; write literal braces as {{{{ and }}}}") from None
            if unknown:
                raise AgentError(f"{path}: {role}.{part} uses unknown placeholder(s) {sorted(unknown)}; "
                                 f"allowed: {sorted(allowed)}")
    if not isinstance(data.get("repair"), str):
        raise AgentError(f"{path}: needs a `repair` string")
    from hrm_agent.demos import parse_demos

    data["_demos"] = parse_demos(data.get("demos"), str(path), ROLES)
    data["_path"] = str(path)
    return data


def render(prompts: dict[str, Any], role: str, **values: Any) -> list[dict[str, str]]:
    """System and user messages for `role`, placeholders filled."""
    entry = prompts[role]
    return [{"role": "system", "content": entry["system"].format(**values).strip()},
            {"role": "user", "content": entry["user"].format(**values).strip()}]


# -- the placeholders the controllers fill (tune data renders the same) ------------------------------

def format_variables(variables: dict[str, Any], limit: int = 600) -> str:
    """The `variables` placeholder: each name = its JSON, cut to 160 characters, all within `limit`."""
    if not variables:
        return "none"
    parts = []
    for k, v in variables.items():
        text = json.dumps(v, default=repr)
        parts.append(f"{k} = {text[:160] + '...' if len(text) > 160 else text}")
    out = "; ".join(parts)
    return out[:limit]


def format_results(logs: list[dict[str, Any]]) -> str:
    """The `results` placeholder: one numbered line per subgoal, its RESULT or why it failed."""
    lines = []
    for i, log in enumerate(logs, 1):
        if log["ok"]:
            lines.append(f"{i}. {log['subgoal']} -> {log['result_repr'][:300]}")
        else:
            lines.append(f"{i}. {log['subgoal']} -> FAILED: {log['error'][:200]}")
    return "\n".join(lines) or "none"


def context_text(context: dict[str, Any], tool_help: str = "") -> str:
    """The `context` placeholder: the given variables and the functions the code may call."""
    text = f"Given variables: {format_variables(context)}" if context else ""
    return f"{text}\nFunctions you can call: {tool_help}".strip() if tool_help else text
