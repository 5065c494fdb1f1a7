"""Checkpoints: everything needed to continue a run exactly, written atomically.

    checkpoints/step_<N>/model.safetensors      all model arrays (weights, puzzle-embedding table, H/L init)
    checkpoints/step_<N>/optimizer.safetensors  Adam-atan2 state (step, m, v)
    checkpoints/step_<N>/carry.safetensors      the ACT carry (hidden states, steps, halted, current data)
    checkpoints/step_<N>/state.json             step, sampler position, seeds, metrics at save time

A checkpoint is staged in `.step_<N>.tmp-<pid>` and renamed into place, so a crash never leaves a
half-written one (a failed write removes the staging; one left by `kill -9` is removed when the run starts
again); `best` is a small file naming the best checkpoint by eval exact accuracy.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten

from hrm_engine.errors import EngineError
from hrm_engine.run.run_files import read_best
from hrm_datasets.files import remove, write_text_atomic, writing

CHECKPOINT_FILES = ("model.safetensors", "state.json")


def _flat(tree: Any) -> dict[str, mx.array]:
    return {k: v for k, v in tree_flatten(tree) if isinstance(v, mx.array)}


def save_checkpoint(run_path: Path, step: int, model: Any, optimizer: Any | None, carry: dict | None,
                    state: dict[str, Any], extra_arrays: dict[str, dict[str, mx.array]] | None = None) -> Path:
    """Write checkpoints/step_<step> atomically and return its path; `extra_arrays` name more files (ema)."""
    root = Path(run_path) / "checkpoints"
    final = root / f"step_{step:07d}"
    tmp = root / f".step_{step:07d}.tmp-{os.getpid()}"
    try:
        with writing(f"checkpoint {final}", tmp):
            root.mkdir(parents=True, exist_ok=True)
            remove(tmp)
            tmp.mkdir()
            mx.save_safetensors(str(tmp / "model.safetensors"), _flat(model.parameters()))
            if optimizer is not None:
                mx.save_safetensors(str(tmp / "optimizer.safetensors"), _flat(optimizer.state))
            if carry is not None:
                mx.save_safetensors(str(tmp / "carry.safetensors"), dict(carry))
            for name, arrays in (extra_arrays or {}).items():
                mx.save_safetensors(str(tmp / f"{name}.safetensors"), dict(arrays))
            (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=2) + "\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
    except BaseException:  # a full disk, or Ctrl-C mid-save: no half checkpoint stays behind
        remove(tmp)
        raise
    return final


def update_checkpoint_state(checkpoint: Path, **fields: Any) -> None:
    """Merge fields into a checkpoint's state.json (atomically), e.g. the metrics of the evaluation that
    ran after it was saved."""
    path = checkpoint / "state.json"
    state = json.loads(path.read_text())
    state.update(fields)
    for key in [k for k, v in fields.items() if v is None]:
        state.pop(key)
    write_text_atomic(path, json.dumps(state, indent=2) + "\n")


def list_checkpoints(run_path: Path) -> list[Path]:
    root = Path(run_path) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step_*") if p.is_dir() and (p / "state.json").is_file())


def prune_checkpoints(run_path: Path, keep: int, best: Path | None) -> None:
    """Keep the last `keep` checkpoints and the best one."""
    ckpts = list_checkpoints(run_path)
    for path in ckpts[:-keep] if keep > 0 else ckpts:
        if best is None or path.resolve() != best.resolve():
            shutil.rmtree(path, ignore_errors=True)


def mark_best(run_path: Path, checkpoint: Path, metric: float) -> None:
    write_text_atomic(Path(run_path) / "checkpoints" / "best.json",
                      json.dumps({"checkpoint": checkpoint.name, "exact_accuracy": metric}) + "\n")


def best_checkpoint(run_path: Path) -> tuple[Path | None, float | None]:
    """(the checkpoint best.json names, its exact accuracy); the path is None when absent or gone."""
    data = read_best(Path(run_path))  # garbage or key-less best.json: one line naming it
    if data is None:
        return None, None
    ckpt = Path(run_path) / "checkpoints" / data["checkpoint"]
    return (ckpt if ckpt.is_dir() else None), data.get("exact_accuracy")


def find_checkpoint(path: str | Path, prefer_best: bool = True) -> Path:
    """A checkpoint directory from a run directory (best, else latest) or a checkpoint path."""
    return resolve_checkpoint(path, prefer_best)[0]


def resolve_checkpoint(path: str | Path, prefer_best: bool = True) -> tuple[Path, str | None]:
    """(checkpoint directory, note): as `find_checkpoint`, with one line announcing a fallback, else None.

    A best.json naming a checkpoint that is gone (deleted, pruned by hand) falls back to the latest
    checkpoint; the note says so, so the caller never evaluates another checkpoint silently.
    """
    path = Path(path)
    if not path.exists():
        raise EngineError(f"checkpoint {path} does not exist; pass a run directory (runs/NAME) or a checkpoint folder")
    if (path / "state.json").is_file() and (path / "model.safetensors").is_file():
        return path, None
    if (path / "checkpoints").is_dir():
        best, _ = best_checkpoint(path)
        if prefer_best and best is not None:
            return best, None
        named = read_best(path) if prefer_best else None
        ckpts = list_checkpoints(path)
        if ckpts:
            note = None
            if named is not None:
                note = (f"{path / 'checkpoints' / 'best.json'} names {named['checkpoint']}, which is missing; "
                        f"using the latest checkpoint {ckpts[-1].name} instead")
            return ckpts[-1], note
        raise EngineError(f"run {path} has no checkpoint yet; train longer or pass another run")
    raise EngineError(f"{path} is neither a run directory nor a checkpoint folder (no state.json/model.safetensors)")


def load_arrays(path: Path, name: str) -> dict[str, mx.array]:
    file = path / name
    try:
        return mx.load(str(file))
    except Exception as exc:  # mlx raises plain exceptions for corrupt files
        raise EngineError(f"cannot read {file}: {exc}; the checkpoint is damaged") from None


def load_model_weights(model: Any, ckpt: Path) -> None:
    """Load model.safetensors, reporting missing/unexpected/mis-shaped arrays by name."""
    weights = load_arrays(ckpt, "model.safetensors")
    expected = _flat(model.parameters())
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    shapes = sorted(k for k in set(expected) & set(weights) if tuple(expected[k].shape) != tuple(weights[k].shape))
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:5])}")
        if shapes:
            k = shapes[0]
            parts.append(f"{k} has shape {tuple(weights[k].shape)}, model expects {tuple(expected[k].shape)}")
        raise EngineError(f"checkpoint {ckpt} does not fit the configured model: {'; '.join(parts)}")
    model.update(tree_unflatten([(k, v.astype(expected[k].dtype)) for k, v in weights.items()]))


@dataclass
class Loaded:
    """A checkpoint ready for evaluation or solving."""

    model: Any
    config: dict[str, Any]
    metadata: Any
    build_info: dict[str, Any]
    step: int
    path: Path
    state: dict[str, Any] = field(default_factory=dict)
    note: str | None = None  # a fallback to announce (best.json naming a missing checkpoint)


def load_checkpoint(path: str | Path) -> Loaded:
    """Model (weights loaded), resolved config and training-data metadata from a run or checkpoint path."""
    from hrm_datasets.format import DatasetMetadata
    from hrm_engine.models.build import new_model
    from hrm_engine.run.run_files import read_build_info, read_run_config, read_state

    ckpt, note = resolve_checkpoint(path)
    run = ckpt.parent.parent
    for name in ("config.yaml", "dataset.json"):
        if not (run / name).is_file():
            raise EngineError(f"run {run} is incomplete: no {name}; it needs config.yaml, dataset.json and state.json")
    # each file checked for its shape: one line naming the file, never a traceback
    config = read_run_config(run)
    metadata = DatasetMetadata.from_json(run / "dataset.json")
    state = read_state(ckpt)
    build_info = read_build_info(run)
    model = new_model(config, metadata)  # HRM or TRM (arch.name), its CPU kernels and shards
    load_model_weights(model, ckpt)
    if (ckpt / "ema.safetensors").is_file():  # evaluate and solve on the averaged weights, as TRM saves them
        model.update(tree_unflatten(list(load_arrays(ckpt, "ema.safetensors").items())))
    return Loaded(model=model, config=config, metadata=metadata, build_info=build_info,
                  step=int(state.get("step", 0)), path=ckpt, state=state, note=note)
