"""Reading the small files runs and datasets keep (JSON and YAML), each checked for its shape.

These files are often handed to us (a reference run, an edited trace) or cut short by a crash
(a `state.json` half written when the disk filled). Each reader here turns every way such a file
can be wrong into one `HRMError` line naming the file, the problem and what to do (exit 2),
instead of a KeyError or AttributeError from deep inside the caller.

    checkpoints/best.json           {"checkpoint": "step_N", "exact_accuracy": number}
    checkpoints/step_N/state.json   {"step": int, "sampler": {"pass": int, "batches_in_pass": int, ...}, ...}
                                    (curriculum: "sampler": {"curriculum_batches": int, ...})
    config.yaml                     the resolved training configuration (a mapping with an `arch` mapping)
    build.json                      how a dataset was built (an object; `kind` a string)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hrm_datasets.files import json_kind, read_json
from hrm_engine.errors import EngineError, HRMError

def require(data: dict[str, Any], key: str, kind: str, path: str | Path, *, error: type[HRMError] = EngineError,
            fix: str = "", optional: bool = False, minimum: float | None = None) -> Any:
    """`data[key]` checked to be of `kind` (int, number, str, object, array); None when optional and absent.

    Booleans are not numbers here (JSON `true` is not a step count), and numbers must be finite.
    """
    tail = f"; {fix}" if fix else ""
    if key not in data or (optional and data[key] is None):
        if optional:
            return None
        raise error(f"{path}: missing field '{key}'{tail}")
    value = data[key]
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
          "str": isinstance(value, str), "object": isinstance(value, dict), "array": isinstance(value, list)}[kind]
    if not ok:
        want = {"int": "an integer", "number": "a finite number", "str": "a string", "object": "an object",
                "array": "an array"}[kind]
        raise error(f"{path}: field '{key}' must be {want}, got {json.dumps(value)[:40]}{tail}")
    if minimum is not None and value < minimum:
        raise error(f"{path}: field '{key}' must be at least {minimum:g}, got {value}{tail}")
    return value


def read_best(run_path: Path) -> dict[str, Any] | None:
    """checkpoints/best.json (None when absent): the best checkpoint's folder name and its exact accuracy."""
    path = Path(run_path) / "checkpoints" / "best.json"
    if not path.is_file():
        return None
    fix = "delete it to use the latest checkpoint, or pass a checkpoint folder"
    data = read_json(path, error=EngineError, fix=fix)
    name = require(data, "checkpoint", "str", path, fix=fix)
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise EngineError(f"{path}: field 'checkpoint' must name a folder in checkpoints/, got {name!r}; {fix}")
    require(data, "exact_accuracy", "number", path, fix=fix, optional=True)
    return data


def read_state(ckpt: Path) -> dict[str, Any]:
    """A checkpoint's state.json, with the fields resuming relies on checked."""
    path = Path(ckpt) / "state.json"
    fix = f"the checkpoint {Path(ckpt).name} is damaged; delete that folder to resume from an earlier one"
    data = read_json(path, error=EngineError, fix=fix)
    require(data, "step", "int", path, fix=fix, minimum=0)
    sampler = require(data, "sampler", "object", path, fix=fix, optional=True)
    if sampler is not None:  # the reference sampler's position, or the curriculum sampler's batch count
        for key in ("curriculum_batches",) if "curriculum_batches" in sampler else ("pass", "batches_in_pass"):
            require(sampler, key, "int", f"{path} (sampler)", fix=fix, minimum=0)
        for key in ("seed", "epochs_per_iter", "global_batch_size"):
            require(sampler, key, "int", f"{path} (sampler)", fix=fix, optional=True)
    return data


def read_run_config(run: Path) -> dict[str, Any]:
    """A run's config.yaml: a YAML mapping whose `arch` is a mapping, model keys in their ranges."""
    import yaml

    from hrm_engine.config import yaml_error_where
    from hrm_engine.config_ranges import check_train_config

    path = Path(run) / "config.yaml"
    fix = "it is written by `hrm train`; restore it or train a new run"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise EngineError(f"{path}: not UTF-8 text; {fix}") from None
    except OSError as exc:
        raise EngineError(f"cannot read {path}: {exc.strerror or exc}; {fix}") from None
    except yaml.YAMLError as exc:
        where, problem = yaml_error_where(path, exc)
        raise EngineError(f"{where}: invalid YAML ({problem}); {fix}") from None
    if not isinstance(data, dict):
        raise EngineError(f"{path}: expected a YAML mapping of config keys, got {json_kind(data)}; {fix}")
    if not isinstance(data.get("arch"), dict):
        raise EngineError(f"{path}: 'arch' must be a mapping of architecture keys; {fix}")
    check_train_config(data, origin=str(path), model_only=True)
    return data


def read_build_info(root: Path, error: type[HRMError] = EngineError) -> dict[str, Any]:
    """build.json of a dataset or run folder ({} when absent): an object whose `kind` is a string."""
    path = Path(root) / "build.json"
    if not path.is_file():
        return {}
    fix = "it is written by `hrm data build`; rebuild the dataset or delete the file"
    data = read_json(path, error=error, fix=fix)
    require(data, "kind", "str", path, error=error, fix=fix, optional=True)
    for key in ("params", "stats"):
        require(data, key, "object", path, error=error, fix=fix, optional=True)
    box = require(data, "box", "array", path, error=error, fix=fix, optional=True)
    if box is not None and (len(box) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                      for v in box)):
        raise error(f"{path}: field 'box' must be two positive integers (rows, columns), got {json.dumps(box)[:40]}; "
                    f"{fix}")
    return data
