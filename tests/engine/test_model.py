"""Model components against hand computation, and the reference parameter count."""

from __future__ import annotations

import math
from types import SimpleNamespace

import mlx.core as mx
import numpy as np
import pytest

from hrm_engine.cpu.streams import Shards
from hrm_engine.models.base import count_parameters
from hrm_engine.models.hrm import HRM, ModelConfig
from hrm_engine.models.layers import rms_norm, swiglu_intermediate, trunc_normal


def meta(seq_len=81, vocab=11, ids=1):
    return SimpleNamespace(seq_len=seq_len, vocab_size=vocab, num_puzzle_identifiers=ids)


def tiny_cfg(**kw):
    arch = dict(hidden_size=32, num_heads=4, H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=3)
    arch.update(kw)
    return ModelConfig.from_config({"arch": arch}, meta(seq_len=16, vocab=6, ids=3), forward_dtype="float32")


@pytest.mark.parametrize("vocab, expected", [(11, 27_275_266), (6, 27_270_146), (12, 27_276_290)])
def test_reference_parameter_count(vocab, expected):
    """Sudoku / Maze / ARC counts of the reference (REFERENCE.md §1)."""
    model = HRM(ModelConfig.from_config({"arch": {}}, meta(vocab=vocab, seq_len=81 if vocab == 11 else 900)))
    assert count_parameters(model) == expected


def test_swiglu_width_and_prefix_length():
    assert swiglu_intermediate(512, 4) == 1536
    assert tiny_cfg().puzzle_emb_len == 1
    assert tiny_cfg(puzzle_emb_ndim=80).puzzle_emb_len == 3  # ceil(80 / 32)


def test_rms_norm_by_hand():
    x = mx.array([[3.0, 4.0]])
    expected = np.array([[3.0, 4.0]]) / math.sqrt((9 + 16) / 2 + 1e-5)
    assert np.allclose(np.array(rms_norm(x, 1e-5)), expected, atol=1e-6)


def test_rope_rotate_half_by_hand():
    """mx.fast.rope (traditional=False) equals q*cos + rotate_half(q)*sin with inv_freq 10000^(-2i/d)."""
    d, L = 8, 5
    q = mx.random.normal((1, 1, L, d))
    out = np.array(mx.fast.rope(q, d, traditional=False, base=10000.0, scale=1.0, offset=0))
    qn = np.array(q)[0, 0]
    inv = 10000.0 ** (-np.arange(0, d, 2) / d)
    ang = np.arange(L)[:, None] * inv[None]
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))
    rot = np.concatenate([-qn[:, d // 2:], qn[:, : d // 2]], -1)
    assert np.allclose(out[0, 0], qn * cos + rot * sin, atol=1e-5)


def test_truncated_normal_std_and_bounds():
    x = np.array(trunc_normal((200_000,), std=0.5))
    assert abs(x.std() - 0.5) < 0.01
    assert np.abs(x).max() <= 2 * 1.1368472 * 0.5 + 1e-6


def test_initialisation_matches_reference():
    model = HRM(tiny_cfg())
    assert np.all(np.array(model.q_head.weight) == 0) and np.all(np.array(model.q_head.bias) == -5)
    assert np.all(np.array(model.puzzle_emb) == 0)
    trainable = {k for k, _ in __import__("mlx.utils").utils.tree_flatten(model.trainable_parameters())}
    assert not any(k.startswith(("H_init", "L_init", "puzzle_emb")) for k in trainable)


def test_segment_shapes_and_one_step_gradient():
    """Parameters reached only through early cycles get no gradient from them.

    With H_cycles=2 and L_cycles=2 the H level runs twice: its gradient must equal the gradient of a
    model that runs the no-grad part and then exactly one L and one H call (probe: zero the carry path).
    """
    mx.random.seed(0)
    model = HRM(tiny_cfg())
    B = 2
    inputs = mx.random.randint(0, 6, (B, 16))
    rows = mx.zeros((B, 32))
    zH = mx.broadcast_to(model.H_init, (B, 17, 32))
    zL = mx.broadcast_to(model.L_init, (B, 17, 32))

    def loss(params, zH, zL):
        model.update(params)
        _, _, logits, qh, qc = model.segment(zH, zL, inputs, rows)
        return logits.sum() + qh.sum()

    grads = mx.grad(loss)(model.trainable_parameters(), zH, zL)
    # the input carry never receives gradient (it is stopped at the segment's entry)
    g_carry = mx.grad(lambda zh: loss(model.trainable_parameters(), zh, zL))(zH)
    assert float(mx.abs(g_carry).max()) == 0.0
    # one-step: replacing the early no-grad cycles by their (stopped) values leaves grads unchanged
    assert float(mx.abs(grads["H_level"]["layers"][0]["mlp"]["down_proj"]["weight"]).max()) > 0
    out = model.segment(zH, zL, inputs, rows)
    assert out[2].shape == (B, 16, 6) and out[3].shape == (B,)


def test_cpu_stream_shards_give_the_unsplit_results_and_gradients():
    """Batch shards on several CPU streams: same outputs and same gradients as one stream."""
    from hrm_engine.models.build import model_from_args

    mx.random.seed(0)
    model = model_from_args(tiny_cfg(), {"cpu_streams": 1})
    B, S = 5, 16  # 5 rows over 2 and 3 streams: uneven shards
    D = model.config.hidden_size
    zH = mx.random.normal((B, S + 1, D))
    zL = mx.random.normal((B, S + 1, D))
    inputs = mx.random.randint(0, 6, (B, S))
    rows = mx.random.normal((B, D))

    def loss(params, n):
        model.update(params)
        model.shards = Shards.for_setting(n)
        _, _, logits, qh, qc = model.segment(zH, zL, inputs, rows)
        return (logits ** 2).mean() + qh.sum() + qc.sum(), (logits, qh)

    grad = mx.value_and_grad(loss)
    params = model.trainable_parameters()
    (l1, (lg1, q1)), g1 = grad(params, 1)
    for n in (2, 3):
        (ln, (lgn, qn)), gn = grad(params, n)
        np.testing.assert_allclose(np.array(lgn), np.array(lg1), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.array(qn), np.array(q1), rtol=1e-5, atol=1e-5)
        from mlx.utils import tree_flatten

        for (k, a), (_, b) in zip(tree_flatten(g1), tree_flatten(gn)):
            np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-3, atol=1e-5, err_msg=k)  # sum order
