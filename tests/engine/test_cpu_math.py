"""hrm's JIT-friendly SiLU, softmax, attention and atan2 against MLX's built-ins and libm, the malloc tuning, and
the kernels and shards the model builder passes to a model (same results, same parameters)."""

from __future__ import annotations

from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten

from hrm_engine.cpu import kernels
from hrm_engine.cpu.kernels import use_fused
from hrm_engine.cpu.streams import stream_count
from hrm_engine.errors import ConfigError
from hrm_engine.models.build import model_from_args
from hrm_engine.models.hrm import HRM, ModelConfig
from hrm_engine.models.layers import BUILTIN
from hrm_engine.models.trm import TRMConfig
from hrm_engine.optim import atan2_nonneg


def tiny_cfg():
    meta = SimpleNamespace(seq_len=16, vocab_size=6, num_puzzle_identifiers=3)
    arch = dict(hidden_size=32, num_heads=4, H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=3)
    return ModelConfig.from_config({"arch": arch}, meta, forward_dtype="float32")


def test_silu_and_its_gradient_match_mlx_and_stay_finite_far_out():
    x = mx.array([-200.0, -90.0, -88.0, -20.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 20.0, 90.0, 200.0])
    np.testing.assert_allclose(np.array(kernels.silu(x)), np.array(nn.silu(x)), rtol=1e-6, atol=1e-30)
    g = mx.grad(lambda v: kernels.silu(v).sum())(x)
    g_ref = mx.grad(lambda v: nn.silu(v).sum())(x)
    assert np.isfinite(np.array(g)).all()  # x / (1 + exp(-x)) differentiated by autodiff is NaN below -88
    np.testing.assert_allclose(np.array(g), np.array(g_ref), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_and_its_gradients_match_mlx_sdpa(causal):
    mx.random.seed(1)
    q, k, v, cot = (mx.random.normal((2, 3, 7, 8)) for _ in range(4))

    def ours(q, k, v):
        return kernels.attention(q, k, v, 0.35, causal=causal)

    def mlx_sdpa(q, k, v):
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=0.35, mask="causal" if causal else None)

    out, grads = mx.vjp(ours, [q, k, v], [cot])
    out_ref, grads_ref = mx.vjp(mlx_sdpa, [q, k, v], [cot])
    np.testing.assert_allclose(np.array(out[0]), np.array(out_ref[0]), rtol=1e-5, atol=1e-6)
    for a, b in zip(grads, grads_ref):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-5)


def test_softmax_rows_sum_to_one_without_overflow():
    s = mx.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]])
    p = np.array(kernels.softmax(s))
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p, np.array(mx.softmax(s, axis=-1)), rtol=1e-6, atol=1e-30)


def test_model_gives_the_same_outputs_and_gradients_with_either_kernel_set():
    B, S, D = 3, 16, tiny_cfg().hidden_size
    mx.random.seed(1)
    zH, zL = mx.random.normal((B, S + 1, D)), mx.random.normal((B, S + 1, D))
    inputs, rows = mx.random.randint(0, 6, (B, S)), mx.random.normal((B, D))

    results = {}
    for setting in ("builtin", "fused"):
        assert use_fused(setting) is (setting == "fused")
        mx.random.seed(0)  # the same weights for both
        model = model_from_args(tiny_cfg(), {"cpu_math": setting, "cpu_streams": 1})

        def loss(params):
            model.update(params)
            _, _, logits, qh, qc = model.segment(zH, zL, inputs, rows)
            return (logits ** 2).mean() + qh.sum() + qc.sum()

        results[setting] = mx.value_and_grad(loss)(model.trainable_parameters())
    (l_b, g_b), (l_f, g_f) = results["builtin"], results["fused"]
    assert abs(l_b.item() - l_f.item()) < 1e-5 * max(1.0, abs(l_b.item()))
    for (name, a), (_, b) in zip(tree_flatten(g_b), tree_flatten(g_f)):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-3, atol=1e-5, err_msg=name)
    assert use_fused("auto") is (mx.default_device() == mx.cpu)
    with pytest.raises(ConfigError, match="cpu_math must be auto, fused or builtin"):
        use_fused("fast")


def test_atan2_for_nonnegative_x_matches_libm():
    rng = np.random.default_rng(0)
    n = 200_000
    y = (rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 3, n)).astype(np.float32)
    x = (np.abs(rng.standard_normal(n)) * 10.0 ** rng.uniform(-8, 3, n)).astype(np.float32)
    y = np.concatenate([y, [0.0, -0.0, 1.0, -1.0, 5.0, -5.0, 1e-30, 3.0, 0.0]]).astype(np.float32)
    x = np.concatenate([x, [0.0, 0.0, 0.0, 0.0, 5.0, 5.0, 1e-30, 0.0, 2.0]]).astype(np.float32)
    got = np.array(atan2_nonneg(mx.array(y), mx.array(x)))
    want = np.arctan2(y.astype(np.float64), x.astype(np.float64))
    assert np.abs(got - want).max() < 2e-7
    assert got[-9] == 0.0 and got[-1] == 0.0  # atan2(0, 0) = 0, as libm: Adam's untouched weights stay put


def test_malloc_tuning_applies_once_and_can_be_turned_off(monkeypatch):
    import sys

    from hrm_engine.cpu import alloc as cpu_alloc

    if sys.platform != "linux":
        pytest.skip("glibc malloc only")
    monkeypatch.setattr(cpu_alloc, "_state", {})
    assert cpu_alloc.tune() is True  # glibc accepted both settings
    assert cpu_alloc.tune() is True
    monkeypatch.setattr(cpu_alloc, "_state", {})
    monkeypatch.setenv("HRM_MALLOC", "default")
    assert cpu_alloc.tune() is False


def test_rope_heads_and_its_gradient_match_mlx_fast_rope():
    mx.random.seed(2)
    B, L, H, hd = 2, 5, 3, 8
    x, cot = mx.random.normal((B, L, H * hd)), mx.random.normal((B, H, L, hd))

    def ours(x):
        return kernels.rope_heads(x, H, hd, 10000.0)

    def mlx_rope(x):
        heads = x.reshape(B, L, H, hd).transpose(0, 2, 1, 3)
        return mx.fast.rope(heads, hd, traditional=False, base=10000.0, scale=1.0, offset=0)

    (out,), (grad,) = mx.vjp(ours, [x], [cot])
    (out_ref,), (grad_ref,) = mx.vjp(mlx_rope, [x], [cot])
    assert out.shape == (B, H, L, hd)
    np.testing.assert_allclose(np.array(out), np.array(out_ref), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(grad), np.array(grad_ref), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("setting, streams, causal", [("fused", 1, False), ("builtin", 1, False), ("fused", 2, False),
                                                      ("fused", 1, True), ("builtin", 1, True)])
def test_q_target_segment_reads_only_the_first_position_and_agrees_with_the_full_one(setting, streams, causal):
    mx.random.seed(3)
    cfg = tiny_cfg()
    cfg.causal = causal
    model = model_from_args(cfg, {"cpu_math": setting, "cpu_streams": streams})
    B, S, D = 3, 16, model.config.hidden_size
    zH, zL = mx.random.normal((B, S + 1, D)), mx.random.normal((B, S + 1, D))
    inputs, rows = mx.random.randint(0, 6, (B, S)), mx.random.normal((B, D))
    model.q_head.weight = mx.random.normal(model.q_head.weight.shape)  # the reference starts it at 0
    _, _, _, qh, qc = model.segment(zH, zL, inputs, rows)
    qh2, qc2 = model.segment_q(zH, zL, inputs, rows)
    np.testing.assert_allclose(np.array(qh2), np.array(qh), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.array(qc2), np.array(qc), rtol=1e-5, atol=1e-5)
    assert float(mx.abs(qh).max()) > 0.1  # a real signal, not two zero heads agreeing


def _kernels(model) -> set:
    return {m.kernels for _, m in model.named_modules() if hasattr(m, "kernels")}


def test_the_builder_chooses_kernels_and_shards_and_the_parameters_stay_the_same():
    """Built by hand a model runs MLX's kernels on one stream; the builder passes the fused kernels and the
    CPU streams the config asks for, with the same parameter tree and values (old checkpoints load)."""
    mx.random.seed(0)
    plain = HRM(tiny_cfg())
    assert _kernels(plain) == {BUILTIN} and plain.shards.streams == ()
    mx.random.seed(0)
    fast = model_from_args(tiny_cfg(), {"cpu_math": "fused", "cpu_streams": 2})
    (fused,) = _kernels(fast)
    assert (fused.silu, fused.rope_heads, fused.attention) == (kernels.silu, kernels.rope_heads, kernels.attention)
    assert len(fast.shards.streams) == (2 if mx.default_device() == mx.cpu else 0)
    for (k, a), (k2, b) in zip(tree_flatten(plain.parameters()), tree_flatten(fast.parameters()), strict=True):
        assert k == k2 and np.array_equal(np.array(a), np.array(b))
    assert "shards" not in fast and "kernels" not in fast  # nothing of it is a parameter
    assert _kernels(model_from_args(tiny_cfg(), {"cpu_math": "builtin"})) == {BUILTIN}
    assert _kernels(model_from_args(tiny_cfg())) == {BUILTIN}

    trm = model_from_args(TRMConfig(seq_len=8, vocab_size=5, num_puzzle_identifiers=2, hidden_size=32, num_heads=2,
                                    puzzle_emb_len=1, mlp_t=True, pos_encodings="none"), {"cpu_math": "fused"})
    assert max(len(trm.shards.streams), 1) == stream_count()  # TRM shards too
    assert trm.L_level.layers[0].mlp_t.kernels.silu is kernels.silu  # mlp_t's position mixer too
