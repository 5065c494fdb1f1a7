"""Adam-atan2, sparse sign-SGD and the LR schedule against their formulas."""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np
import pytest

from hrm_engine.optim import AdamAtan2, lr_schedule, sparse_sign_sgd


def test_adam_atan2_three_steps_by_formula():
    lr, wd, b1, b2 = 0.01, 0.1, 0.9, 0.95
    opt = AdamAtan2(lr, betas=(b1, b2), weight_decay=wd)
    p = np.array([1.0, -2.0, 0.5])
    params = {"w": mx.array(p)}
    m = v = np.zeros(3)
    rng = np.random.default_rng(0)
    for t in range(1, 4):
        g = rng.normal(size=3)
        params = opt.apply_gradients({"w": mx.array(g, dtype=mx.float32)}, params)
        p = p * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1**t) * np.arctan2(m, np.sqrt(v) / math.sqrt(1 - b2**t))
        assert np.allclose(np.array(params["w"]), p, atol=1e-6)


def test_sparse_sign_sgd_sums_duplicates_and_touches_only_used_rows():
    table = mx.ones((4, 2))
    ids = mx.array([1, 3, 1])
    grads = mx.array([[1.0, -1.0], [2.0, -2.0], [-3.0, 0.5]])
    out = np.array(sparse_sign_sgd(table, ids, grads, mx.array(0.1), 0.5))
    decay = 1 - 0.1 * 0.5
    assert np.allclose(out[0], 1) and np.allclose(out[2], 1)  # untouched: no decay either
    assert np.allclose(out[1], [decay + 0.1, decay + 0.1])  # summed grad [-2, -0.5] -> sign -1
    assert np.allclose(out[3], [decay - 0.1, decay + 0.1])


def test_lr_schedule_warmup_then_cosine():
    f = lambda s: float(lr_schedule(1.0, 10, 110, 0.1)(mx.array(s)))  # noqa: E731
    assert np.isclose(f(0), 0.1)  # first update uses s = 1
    assert np.isclose(f(8), 0.9) and np.isclose(f(9), 1.0)
    assert np.isclose(f(59), 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert np.isclose(f(109), 0.1, atol=1e-6)
    constant = lr_schedule(2.0, 0, 100, 1.0)
    assert np.isclose(float(constant(mx.array(50))), 2.0)


@pytest.mark.parametrize("args", [(1e-4, 2000, 52083, 1.0), (1.0, 10, 110, 0.1), (7e-5, 0, 40, 0.0), (2e-3, 50, 30, 0.5)])
def test_lr_schedule_at_a_python_step_equals_the_mlx_one(args):
    """The host-side value the training loop logs is the rate the compiled optimizer applies."""
    schedule = lr_schedule(*args)
    steps = list(range(0, 120)) + [args[2] // 2, args[2] - 1, args[2], args[2] + 5]
    device = np.array(schedule(mx.array(steps)))
    host = np.array([schedule.at(s) for s in steps])
    np.testing.assert_allclose(host, device, rtol=2e-6, atol=1e-6 * args[0])  # float32 on the device
