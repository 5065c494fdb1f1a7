"""Reference (sapientinc/HRM) checkpoints in our engine: tensor names, configs, and `hrm import reference`.

The reference saves `ACTLossHead.state_dict()` with `torch.save` (keys `model.inner.*`, prefixed
`_orig_mod.` when the model was compiled). Its tensors map one to one onto ours:

    model.inner.embed_tokens.embedding_weight   embed_tokens.weight
    model.inner.embed_pos.embedding_weight      embed_pos             (learned positions only)
    model.inner.puzzle_emb.weights              puzzle_emb
    model.inner.<everything else>               <the same name>       (H_init, L_init, lm_head, q_head, H/L_level...)

Non-persistent buffers (RoPE tables, the puzzle embedding's local_weights/local_ids) are not part of a
saved state dict and are ignored if present. `import_reference` turns a checkpoint plus the reference's
config into a run directory that `hrm eval`, `hrm solve` and `hrm train --resume` accept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrm_engine.errors import EngineError
from hrm_datasets.files import WriteError, clean_stale, remove, replace_dir, writing

COMPILE_PREFIX = "_orig_mod."
MODEL_PREFIXES = ("model.inner.", "inner.")
RENAMES = {
    "embed_tokens.embedding_weight": "embed_tokens.weight",
    "embed_pos.embedding_weight": "embed_pos",
    "puzzle_emb.weights": "puzzle_emb",
}
NON_PERSISTENT = ("rotary_emb.cos_cached", "rotary_emb.sin_cached", "puzzle_emb.local_weights", "puzzle_emb.local_ids")
ARCH_KEYS = ("hidden_size", "num_heads", "expansion", "H_layers", "L_layers", "H_cycles", "L_cycles", "halt_max_steps",
             "halt_exploration_prob", "puzzle_emb_ndim", "pos_encodings", "rope_theta", "rms_norm_eps")
# `causal` is not mapped: the reference's blocks always build bidirectional attention, whatever the config says.
TRM_ARCH_KEYS = tuple(k for k in ARCH_KEYS if k != "H_layers") + ("mlp_t", "puzzle_emb_len", "no_ACT_continue")
TRM_CLASS = "trm@TinyRecursiveReasoningModel_ACTV1"  # TinyRecursiveModels' arch.name for its TRM
TRAIN_KEYS = ("global_batch_size", "epochs", "eval_interval", "lr", "lr_min_ratio", "lr_warmup_steps", "beta1", "beta2",
              "weight_decay", "puzzle_emb_lr", "puzzle_emb_weight_decay", "seed")
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bfloat16", "I64": "<i8", "I32": "<i4",
                      "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


# -- names ---------------------------------------------------------------------------------------
def strip_compile_prefix(state: dict[str, Any]) -> dict[str, Any]:
    """Drop torch.compile's `_orig_mod.` from every key that has it."""
    return {k.removeprefix(COMPILE_PREFIX): v for k, v in state.items()}


def our_name(reference_name: str) -> str | None:
    """Our parameter name for a reference key (`model.inner.x` or `inner.x`), None if it is not the model's."""
    for prefix in MODEL_PREFIXES:
        if reference_name.startswith(prefix):
            rest = reference_name[len(prefix):]
            return RENAMES.get(rest, rest)
    return None


def reference_name(name: str) -> str:
    """The reference's `ACTLossHead` key for one of our parameter names."""
    inverse = {v: k for k, v in RENAMES.items()}
    return MODEL_PREFIXES[0] + inverse.get(name, name)


# -- reading checkpoints ---------------------------------------------------------------------------
def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """A safetensors file as numpy arrays (bfloat16 widened to float32 exactly), without torch."""
    path = Path(path)
    try:
        data = path.read_bytes()
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + n])
    except (OSError, ValueError) as exc:
        raise EngineError(f"cannot read {path} as safetensors ({exc})") from None
    body = memoryview(data)[8 + n:]
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise EngineError(f"{path}: tensor {name} has unsupported dtype {info.get('dtype')}")
        start, end = info["data_offsets"]
        raw = body[start:end]
        if dtype == "bfloat16":
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype).astype(np.dtype(dtype).newbyteorder("="))
        try:
            out[name] = arr.reshape(info["shape"]).copy()
        except ValueError:
            raise EngineError(f"{path} is damaged: tensor {name} does not have shape {info['shape']}") from None
    return out


def read_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """A reference state dict from a torch zip (restricted unpickler) or a safetensors file, prefix stripped."""
    from hrm_engine.reference.torch_pickle import load_torch_state_dict

    path = Path(path)
    if not path.is_file():
        raise EngineError(f"checkpoint {path} does not exist (or is a folder); pass the step_<N> file")
    with open(path, "rb") as fh:
        head = fh.read(9)
    if head[:2] == b"PK":
        state = load_torch_state_dict(path)
    elif len(head) == 9 and head[8:9] == b"{":
        state = read_safetensors(path)
    else:
        raise EngineError(f"{path} is neither a torch zip checkpoint nor safetensors")
    return strip_compile_prefix(state)


# -- configs -----------------------------------------------------------------------------------------
def read_reference_config(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(architecture dict, training dict) from `all_config.yaml` or a JSON/YAML model config."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise EngineError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise EngineError(f"{path} is not YAML or JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise EngineError(f"{path} must hold a mapping (all_config.yaml or a model config)")
    if isinstance(data.get("arch"), dict):
        return dict(data["arch"]), data
    return dict(data), {}


def loss_type(arch: dict[str, Any]) -> str:
    loss = arch.get("loss")
    if isinstance(loss, dict):
        return str(loss.get("loss_type", "stablemax_cross_entropy"))
    return str(arch.get("loss_type", "stablemax_cross_entropy"))


def _number(value: Any) -> Any:
    """PyYAML reads `1e-5` (no dot) as a string: turn numeric strings back into numbers."""
    if isinstance(value, str):
        try:
            return int(value) if value.strip().lstrip("+-").isdigit() else float(value)
        except ValueError:
            return value
    return value


def is_trm(arch: dict[str, Any]) -> bool:
    """Whether a reference architecture dict is TinyRecursiveModels' TRM (its class name, or TRM-only keys)."""
    return str(arch.get("name", "")).endswith(TRM_CLASS) or "mlp_t" in arch or "no_ACT_continue" in arch


def model_config(arch: dict[str, Any], *, seq_len: int, vocab_size: int, num_puzzle_identifiers: int,
                 forward_dtype: str | None = None):
    """Our ModelConfig (or TRMConfig) for a reference architecture dict (its own forward_dtype unless one is given)."""
    from hrm_engine.models.base import resolve_dtype
    from hrm_engine.models.hrm import ModelConfig

    if is_trm(arch):
        from hrm_engine.models.trm import TRMConfig as ModelConfig  # noqa: N814

    kwargs = {k: _number(arch[k]) for k in (TRM_ARCH_KEYS if is_trm(arch) else ARCH_KEYS) if k in arch}
    dtype = forward_dtype or str(arch.get("forward_dtype", "bfloat16"))
    return ModelConfig(seq_len=int(seq_len), vocab_size=int(vocab_size),
                       num_puzzle_identifiers=int(num_puzzle_identifiers), loss=loss_type(arch),
                       forward_dtype=resolve_dtype(dtype), **kwargs)


# -- loading into our model ----------------------------------------------------------------------------
def _names(items: list[str], limit: int = 6) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def load_reference_weights(model: Any, state: dict[str, np.ndarray], source: str = "checkpoint") -> list[str]:
    """Load a reference state dict into our HRM; returns the ignored non-persistent keys.

    Missing, unexpected and mis-shaped tensors are all reported, by reference name, in one EngineError.
    """
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    expected = {k: v for k, v in tree_flatten(model.parameters()) if isinstance(v, mx.array)}
    state = strip_compile_prefix(state)
    ignored, unexpected, shapes, found, seen = [], [], [], {}, set()
    for key, value in state.items():
        ours = our_name(key)
        if ours is None or ours not in expected:
            (ignored if key.endswith(NON_PERSISTENT) else unexpected).append(key)
            continue
        seen.add(ours)
        if tuple(value.shape) != tuple(expected[ours].shape):
            shapes.append(f"{key} has shape {tuple(value.shape)}, the config gives {tuple(expected[ours].shape)}")
            continue
        found[ours] = value
    missing = [reference_name(k) for k in expected if k not in seen]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if unexpected:
            parts.append(f"unexpected {_names(unexpected)}")
        if shapes:
            parts.append(f"mis-shaped {_names(shapes, 3)}")
        raise EngineError(f"{source} does not fit the reference architecture: {'; '.join(parts)}")
    model.update(tree_unflatten([(k, mx.array(v).astype(expected[k].dtype)) for k, v in found.items()]))
    return ignored


# -- import ------------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    """What `import_reference` wrote."""

    output: Path
    checkpoint: Path
    step: int
    tensors: int
    parameters: int
    metadata_from: str
    ignored: list[str] = field(default_factory=list)


def _find_dataset(train_cfg: dict[str, Any], checkpoint: Path) -> Path | None:
    """The reference's `data_path`, relative to the cwd or to a folder above the checkpoint (its repo root)."""
    data_path = train_cfg.get("data_path")
    if not data_path and isinstance(train_cfg.get("data_paths"), list) and train_cfg["data_paths"]:
        data_path = train_cfg["data_paths"][0]  # TinyRecursiveModels: a list of training sets
    if not data_path:
        return None
    candidates = [Path(data_path)] + [parent / data_path for parent in checkpoint.resolve().parents]
    return next((c for c in candidates if (c / "train" / "dataset.json").is_file()), None)


def _metadata(arch: dict[str, Any], train_cfg: dict[str, Any], checkpoint: Path, data: Path | None,
              state: dict[str, np.ndarray]):
    """(DatasetMetadata, where it came from): --data, the config's data_path, or the model config's sizes."""
    from hrm_datasets.format import DatasetMetadata, load_metadata

    root = Path(data) if data is not None else _find_dataset(train_cfg, checkpoint)
    if root is not None:
        return load_metadata(root, "train"), str(root)
    if all(k in arch for k in ("seq_len", "vocab_size")):
        ids = arch.get("num_puzzle_identifiers")
        if ids is None and "model.inner.puzzle_emb.weights" in state:
            ids = state["model.inner.puzzle_emb.weights"].shape[0]
        meta = DatasetMetadata(pad_id=0, ignore_label_id=None, blank_identifier_id=0,
                               vocab_size=int(arch["vocab_size"]), seq_len=int(arch["seq_len"]),
                               num_puzzle_identifiers=int(ids or 1), total_groups=0, mean_puzzle_examples=1.0)
        return meta, "the model config"
    raise EngineError("the training data's seq_len is unknown: pass --data DATASET (the dataset the checkpoint was "
                      "trained on), or an --arch JSON that has seq_len and vocab_size")


def _overrides(arch: dict[str, Any], train_cfg: dict[str, Any], output: Path, data: Path | None) -> list[str]:
    keys = TRM_ARCH_KEYS if is_trm(arch) else ARCH_KEYS
    out = [f"arch.{k}={json.dumps(_number(arch[k]))}" for k in keys if arch.get(k) is not None]
    if is_trm(arch):
        out.append("arch.name=trm")
    out += [f"arch.loss={loss_type(arch)}", "arch.forward_dtype=auto", "name=imported-reference",
            f"runs_dir={json.dumps(str(output.parent))}", f"run_name={json.dumps(output.name)}"]
    out += [f"{k}={json.dumps(train_cfg[k])}" for k in TRAIN_KEYS if train_cfg.get(k) is not None]
    if data is not None:
        out.append(f"data_path={json.dumps(str(data))}")
    return out


def checkpoint_step(path: Path) -> int:
    match = re.fullmatch(r"step_(\d+)(\..*)?", path.name)
    return int(match.group(1)) if match else 0


def import_reference(checkpoint: str | Path, output: str | Path, arch_config: str | Path | None = None,
                     data: str | Path | None = None, step: int | None = None, force: bool = False) -> ImportResult:
    """Write an `hrm` run directory (config.yaml, dataset.json, checkpoints/step_N) from a reference checkpoint."""
    from hrm_engine.run.checkpoint import save_checkpoint
    from hrm_engine.config import dump_yaml, resolve_config
    from hrm_engine.models.base import count_parameters
    from hrm_engine.models.build import new_model
    from hrm_engine.optim import AdamAtan2

    checkpoint, output = Path(checkpoint), Path(output)
    if arch_config is None:
        arch_config = checkpoint.parent / "all_config.yaml"
        if not arch_config.is_file():
            raise EngineError(f"no --arch given and no all_config.yaml beside {checkpoint}; pass --arch CONFIG")
    if output.exists() and not output.is_dir():
        raise EngineError(f"output {output} exists and is not a folder")
    if output.exists() and any(output.iterdir()) and not force:
        raise EngineError(f"output {output} exists and is not empty; choose another --output or pass --force")
    state = read_checkpoint(checkpoint)
    arch, train_cfg = read_reference_config(arch_config)
    data = Path(data) if data is not None else None
    if data is not None and not (data / "train" / "dataset.json").is_file():
        raise EngineError(f"--data {data} is not a dataset folder (no train/dataset.json)")
    meta, meta_from = _metadata(arch, train_cfg, checkpoint, data, state)
    config = resolve_config("base", overrides=_overrides(arch, train_cfg, output, data))
    model = new_model(config, meta, cpu=False)  # HRM, or TRM for a TinyRecursiveModels checkpoint
    ignored = load_reference_weights(model, state, source=str(checkpoint))

    step = checkpoint_step(checkpoint) if step is None else int(step)
    optimizer = AdamAtan2(float(config["lr"]), betas=(config["beta1"], config["beta2"]),
                          weight_decay=config["weight_decay"])
    optimizer.init(model.trainable_parameters())  # fresh moments: the reference saves no optimizer state
    record = {"checkpoint": str(checkpoint), "arch": str(arch_config), "metadata": meta_from, "step": step,
              "ignored": ignored}
    # staged beside the output and renamed into place: a failed write leaves no half-imported run
    staging = output.absolute().with_name(f".{output.absolute().name}.tmp-{os.getpid()}")
    try:
        with writing(f"run directory {output}", staging):
            staging.parent.mkdir(parents=True, exist_ok=True)
            clean_stale(staging.parent, only=f".{output.absolute().name}.")  # what a killed import left
            staging.mkdir()
            (staging / "config.yaml").write_text(dump_yaml(config))
            (staging / "dataset.json").write_text(json.dumps(asdict(meta), indent=2) + "\n")
            root = Path(meta_from) if meta_from != "the model config" else None
            for name in ("build.json", "identifiers.json", "arc_transforms.json"):
                if root is not None and (root / name).is_file():
                    shutil.copyfile(root / name, staging / name)
        try:
            save_checkpoint(staging, step, model, optimizer, None,
                            {"sampler": {"pass": 0, "batches_in_pass": 0}, "seed": int(config["seed"]),
                             "epoch": 0.0, "imported_from": str(checkpoint)})
        except WriteError as exc:
            raise WriteError(f"run directory {output}", exc.reason) from None
        with writing(f"run directory {output}", staging):
            (staging / "import.json").write_text(json.dumps(record, indent=2) + "\n")
            replace_dir(staging, output)
    except BaseException:
        remove(staging)
        raise
    return ImportResult(output=output, checkpoint=checkpoint, step=step, tensors=len(state) - len(ignored),
                        parameters=count_parameters(model), metadata_from=meta_from, ignored=ignored)
