"""LoRA adapters on disk: where `hrm agent tune` writes them and how a run finds one for the mlx backend.

An adapter is a folder `mlx_lm.load(..., adapter_path=...)` reads (adapter_config.json +
adapters.safetensors), by name under `cache_dir()/adapters/` or by path, with `hrm-adapter.json` (the
tune's manifest) beside it and, with `--snapshot-every`, loadable `snapshots/step-STEP/` folders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hrm_agent.errors import AgentError
from hrm_engine.run.cache import cache_dir

MANIFEST = "hrm-adapter.json"
DEFAULT_NAME = "smollm2-agent"


class AdapterError(AgentError):
    """No such adapter, or one the chosen backend cannot apply."""


def adapters_dir() -> Path:
    return cache_dir() / "adapters"


def resolve_adapter(spec: str | os.PathLike[str]) -> Path:
    """An adapter by name (in the cache) or folder path; one line naming the fix when there is none."""
    text = str(spec).strip()
    path = Path(text).expanduser()
    if not ("/" in text or text.startswith(".") or path.is_dir()):
        path = adapters_dir() / text
    if not (path / "adapter_config.json").is_file() or not (path / "adapters.safetensors").is_file():
        names = ", ".join(a["name"] for a in list_adapters()) or "none"
        raise AdapterError(f"no adapter {text!r} (no adapter_config.json and adapters.safetensors in {path}); "
                        f"installed: {names}; train one with: hrm agent tune --name {path.name or DEFAULT_NAME}")
    return path.resolve()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def list_adapters() -> list[dict[str, Any]]:
    """The installed adapters (for `hrm doctor`): name, path, steps done of total, schedule, complete."""
    root = adapters_dir()
    out = []
    if not root.is_dir():
        return out
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        man = read_manifest(folder)
        if man is None and not (folder / "adapter_config.json").is_file():
            continue
        man = man or {}
        opts = man.get("options") or {}
        out.append({"name": folder.name, "path": str(folder), "complete": bool(man.get("complete")),
                    "steps_done": man.get("steps_done"), "steps": opts.get("steps"),
                    "schedule": opts.get("schedule"), "examples": opts.get("examples"),
                    "base_model": man.get("base_model"), "created": man.get("created")})
    return out


def list_snapshots(folder: Path) -> list[tuple[int, Path]]:
    """(step, folder) of an adapter's kept snapshots, by step."""
    out = []
    for path in (Path(folder) / "snapshots").glob("step-*"):
        meta = path / "snapshot.json"
        if path.is_dir() and meta.is_file() and (path / "adapters.safetensors").is_file():
            out.append((int(json.loads(meta.read_text(encoding="utf-8"))["step"]), path))
    return sorted(out)


def adapter_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """Backend keywords for the config's `adapter` (a name in the cache or a folder): {} when unset.

    Only the in-process mlx backend can apply a LoRA adapter; a server serves its own weights.
    """
    spec = cfg.get("adapter")
    if not spec:
        return {}
    if str(cfg.get("backend") or "mlx").lower() != "mlx":
        raise AdapterError(f"--adapter applies to the local mlx backend, not {cfg.get('backend')}; a server "
                        f"needs the adapter loaded on its side (mlx_lm.server --adapter-path ...)")
    return {"adapter": str(resolve_adapter(spec))}


def adapters_summary() -> str:
    """One line for `hrm doctor`: each installed adapter with its steps and schedule, or `none`."""
    items = []
    for a in list_adapters():
        state = "" if a["complete"] else "partial, "
        items.append(f"{a['name']} ({state}{a['steps_done']}/{a['steps']} steps, {a['schedule']})")
    return "; ".join(items) + f" in {adapters_dir()}" if items else f"none (hrm agent tune makes one in {adapters_dir()})"
