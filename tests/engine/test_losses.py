"""Stablemax cross-entropy, BCE and the ACT loss head's metrics against hand computation."""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np

from hrm_engine.losses import act_loss, bce_with_logits, log_stablemax, stablemax_cross_entropy


def s(x):
    return x + 1 if x >= 0 else 1 / (1 - x)


def test_log_stablemax_by_hand():
    x = [2.0, -1.0, 0.0]
    total = sum(s(v) for v in x)
    expected = [math.log(s(v) / total) for v in x]
    assert np.allclose(np.array(log_stablemax(mx.array(x))), expected, atol=1e-6)


def test_stablemax_ce_ignores_and_has_finite_gradient_at_one():
    logits = mx.array([[[1.0, 0.0, -2.0], [0.5, 0.5, 0.5]]])
    labels = mx.array([[0, -100]])
    ce = np.array(stablemax_cross_entropy(logits, labels))
    assert ce[0, 1] == 0.0
    assert np.isclose(ce[0, 0], -math.log(2 / (2 + 1 + 1 / 3)), atol=1e-6)
    g = mx.grad(lambda z: stablemax_cross_entropy(z, labels).sum())(logits)
    assert np.all(np.isfinite(np.array(g)))


def test_bce_with_logits_by_hand():
    z, t = mx.array([0.3, -2.0]), mx.array([1.0, 0.0])
    expected = -math.log(1 / (1 + math.exp(-0.3))) - math.log(1 - 1 / (1 + math.exp(2.0)))
    assert np.isclose(float(bce_with_logits(z, t)), expected, atol=1e-6)


def test_act_loss_metrics():
    # row 0: both tokens right; row 1: one wrong; row 2: no labels at all
    logits = mx.array([[[5.0, 0.0], [0.0, 5.0]], [[5.0, 0.0], [5.0, 0.0]], [[5.0, 0.0], [5.0, 0.0]]])
    labels = mx.array([[0, 1], [0, 1], [-100, -100]])
    outputs = {"logits": logits, "q_halt_logits": mx.array([1.0, 1.0, 1.0]),
               "q_continue_logits": mx.array([0.0, 0.0, 0.0]), "target_q_continue": mx.array([0.5, 0.5, 0.5])}
    halted = mx.array([True, True, True])
    steps = mx.array([2, 3, 4])
    loss, m = act_loss(outputs, labels, halted, steps)
    assert float(m["count"]) == 2  # row 2 has no labels
    assert float(m["exact_accuracy"]) == 1 and np.isclose(float(m["accuracy"]), 1.5)
    assert float(m["q_halt_accuracy"]) == 1  # q_halt >= 0 predicts "correct": right for row 0 only
    assert float(m["steps"]) == 5
    lm = float(m["lm_loss"])
    expected = lm + 0.5 * (float(m["q_halt_loss"]) + float(m["q_continue_loss"]))
    assert np.isclose(float(loss), expected, rtol=1e-6)
