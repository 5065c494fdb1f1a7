"""Configuration: YAML presets in `configs/`, a user YAML file, and `key=value` overrides.

One mechanism for the engine, the agent and the dataset builders. Resolution order:

    preset  <  user YAML file  <  key=value overrides (dotted keys: `arch.H_cycles=3`)

A preset may name a parent with `base: NAME`; the chain ends at a *root* file (no `base`)
whose keys are the schema: a key that is not in the root is an error listing the closest
valid keys. Inside a training config, `arch: NAME` (a string) pulls in `configs/arch/NAME.yaml`.
Override values are typed with YAML syntax (`3` is an int, `1e-4` a float, `[1,2]` a list,
`null` None), then coerced to the type of the root's default where that is lossless.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import importlib.util
from pathlib import Path
from typing import Any, Iterable

import yaml

from hrm_engine.errors import ConfigError

_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def config_dir() -> Path:
    """The folder holding the YAML presets (the repo's `configs/`, installed as `hrm_configs`)."""
    spec = importlib.util.find_spec("hrm_configs")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location, "base.yaml").is_file():
            return Path(location)
    return Path(__file__).resolve().parent.parent / "configs"  # a source tree without install


def available_presets(subdir: str = "") -> list[str]:
    """Preset names in `configs/<subdir>` (without `.yaml`)."""
    folder = config_dir() / subdir
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def yaml_error_where(path: str | Path, exc: yaml.YAMLError) -> tuple[str, str]:
    """(`FILE:LINE` or `FILE`, the parser's one-line problem) for a YAML error: every YAML reader's message."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}:{mark.line + 1}" if mark else str(path)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).splitlines()[0]
    return where, problem


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (a binary or damaged file); a config file is YAML") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where, problem = yaml_error_where(path, exc)
        raise ConfigError(f"{where}: invalid YAML ({problem}); fix the file and retry") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a YAML mapping, got {type(data).__name__}")
    return data


def find_preset(name: str | Path, subdir: str = "") -> Path:
    """A preset name (`hrm-sudoku`, `arch/hrm_v1`) or a path to a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist; give a preset name or a YAML path")
        return path
    folder = config_dir() / subdir
    candidate = folder / f"{name}.yaml"
    if candidate.is_file():
        return candidate  # a preset name wins over a same-named folder (`agent` from the repo root)
    names = available_presets(subdir)
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else f"available: {', '.join(names) or 'none'}"
    where = f"{subdir}/" if subdir else ""
    raise ConfigError(f"unknown config preset '{where}{name}'; {hint}")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, recursing into mappings present in both."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _flat_keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        full = f"{prefix}{key}"
        keys.append(full)
        if isinstance(value, dict):
            keys.extend(_flat_keys(value, full + "."))
    return keys


def _unknown_key(key: str, schema: dict[str, Any], origin: str) -> ConfigError:
    valid = _flat_keys(schema)
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    if not close:
        leaf = key.rsplit(".", 1)[-1]
        close = [k for k in valid if k.rsplit(".", 1)[-1].lower() == leaf.lower()][:3]
    hint = f"closest valid keys: {', '.join(close)}" if close else "see `hrm config show` for valid keys"
    return ConfigError(f"unknown config key '{key}' in {origin}; {hint}")


def coerce_value(key: str, value: Any, default: Any, origin: str) -> Any:
    """Type `value` like the schema's `default` where that is lossless; refuse a clear mismatch. Public:
    config_ranges types its nullable keys the same way."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}' in {origin} expects true or false, got {value!r}")
    if isinstance(default, (int, float)):
        if isinstance(value, str) and _FLOAT_RE.match(value.strip()):
            value = float(value)  # PyYAML reads `1e-4` as a string (YAML 1.1)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}' in {origin} expects a number, got {value!r}")
        if isinstance(default, int):
            if float(value).is_integer():
                return int(value)
            raise ConfigError(f"config key '{key}' in {origin} expects an integer, got {value!r}")
        return float(value)
    if isinstance(default, dict) and not isinstance(value, dict):
        raise ConfigError(f"config key '{key}' in {origin} is a section; set its keys, e.g. {key}.NAME=VALUE")
    return value


def _validate(tree: dict[str, Any], schema: dict[str, Any], origin: str, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if key not in schema:
            raise _unknown_key(full, schema if not prefix else _root_schema_hint(schema, prefix), origin)
        default = schema[key]
        if isinstance(default, dict) and isinstance(value, dict):
            out[key] = _validate(value, default, origin, full + ".")
        else:
            out[key] = coerce_value(full, value, default, origin)
    return out


def _root_schema_hint(schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Nest a sub-schema back under its prefix so suggestions show full dotted keys."""
    tree: dict[str, Any] = schema
    for part in reversed(prefix.rstrip(".").split(".")):
        tree = {part: tree}
    return tree


def parse_override(text: str) -> tuple[str, Any]:
    """`a.b=value` with the value typed from YAML syntax."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not key=value (for example arch.H_cycles=3)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _load_chain(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """(merged preset, root schema, root path) following `base:` links."""
    if path in seen:
        raise ConfigError(f"config {path} has a `base:` cycle")
    data = _read_yaml(path)
    base_name = data.pop("base", None)
    if base_name is None:
        return data, copy.deepcopy(data), path
    base_path = find_preset(base_name, _subdir_of(path))
    merged, schema, root = _load_chain(base_path, seen + (path,))
    data = _expand_arch(data, path)
    return deep_merge(merged, _validate(data, schema, str(path))), schema, root


def _subdir_of(path: Path) -> str:
    try:
        rel = path.resolve().parent.relative_to(config_dir().resolve())
        return "" if str(rel) == "." else str(rel)
    except ValueError:
        return ""


def _expand_arch(data: dict[str, Any], origin: Path | str) -> dict[str, Any]:
    """`arch: NAME` (a string) becomes the mapping in configs/arch/NAME.yaml."""
    arch = data.get("arch")
    if isinstance(arch, str):
        data = dict(data)
        data["arch"] = _read_yaml(find_preset(arch, "arch"))
    return data


def resolve_config(
    preset: str | Path,
    user_file: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> dict[str, Any]:
    """The resolved configuration dict: preset < user YAML file < key=value overrides."""
    merged, schema, _ = _load_chain(find_preset(preset))
    merged = _expand_arch(merged, preset)
    if user_file is not None:
        user_path = Path(user_file)
        if not user_path.is_file():
            raise ConfigError(f"config file {user_path} does not exist")
        user = _read_yaml(user_path)
        user.pop("base", None)
        user = _expand_arch(user, user_path)
        merged = deep_merge(merged, _validate(user, schema, str(user_path)))
    for text in overrides:
        key, value = parse_override(text)
        if key == "arch" and isinstance(value, str):
            merged["arch"] = deep_merge(merged.get("arch", {}), _read_yaml(find_preset(value, "arch")))
            continue
        tree: dict[str, Any] = {}
        _set_dotted(tree, key, value)
        merged = deep_merge(merged, _validate(tree, schema, f"override '{text}'"))
    return merged


def dump_yaml(config: dict[str, Any]) -> str:
    """YAML text in file order (the order presets are written in)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def dump_json(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2)
