"""Losses: values against the textbook formulas, gradients against finite differences, and
finiteness at extreme logits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan import losses
from minigan.gradcheck import check_loss

SETTINGS = settings(max_examples=25, deadline=None)


def _naive_sigmoid(x):
    return 1 / (1 + np.exp(-x))


@SETTINGS
@given(n=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_bce_with_logits_matches_formula_and_gradient(n, seed):
    rng = np.random.default_rng(seed)
    x, t = rng.normal(0, 3, (n, 1)), rng.integers(0, 2, (n, 1)).astype(float)
    loss, _ = losses.bce_with_logits(x, t)
    p = _naive_sigmoid(x)
    np.testing.assert_allclose(loss, -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(), rtol=1e-12)
    assert check_loss(losses.bce_with_logits, x, t).passed


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_finite_at_extreme_logits(dtype):
    x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype)
    for target in (0.0, 1.0):
        loss, grad = losses.bce_with_logits(x, np.full_like(x, target))
        assert np.isfinite(loss) and np.isfinite(grad).all() and grad.dtype == dtype
    loss, grad = losses.bce_with_logits(np.array([1e4, -1e4], dtype), np.array([0.0, 1.0], dtype))
    assert loss == pytest.approx(1e4)  # each term is |x|: confidently wrong costs |logit|
    np.testing.assert_allclose(grad, [0.5, -0.5])
    loss, grad = losses.bce_with_logits(np.array([1e4, -1e4], dtype), np.array([1.0, 0.0], dtype))
    assert loss == 0.0 and not grad.any()


def test_bce_on_probabilities_clamps_and_matches_logit_version():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, (6, 1))
    t = rng.uniform(0, 1, (6, 1))
    loss_p, grad_p = losses.bce(_naive_sigmoid(x), t)
    loss_x, grad_x = losses.bce_with_logits(x, t)
    assert loss_p == pytest.approx(loss_x, rel=1e-9)
    p = _naive_sigmoid(x)
    np.testing.assert_allclose(grad_p * p * (1 - p), grad_x, rtol=1e-9)  # chain rule dp/dx
    assert check_loss(losses.bce, rng.uniform(0.05, 0.95, (5, 1)), t[:5]).passed
    loss, grad = losses.bce(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    assert np.isfinite(loss) and loss == pytest.approx(-np.log(1e-7), rel=1e-6)
    np.testing.assert_array_equal(grad, 0)  # clamped: the clamp's own gradient is zero


@SETTINGS
@given(n=st.integers(1, 6), k=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_softmax_cross_entropy(n, k, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(0, 3, (n, k)), rng.integers(0, k, n)
    loss, _ = losses.softmax_cross_entropy(x, y)
    p = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(n), y]).mean(), rtol=1e-10)
    assert check_loss(losses.softmax_cross_entropy, x, y).passed
    big, grad = losses.softmax_cross_entropy(x * 1e4, y)
    assert np.isfinite(big) and np.isfinite(grad).all()


@SETTINGS
@given(n=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_gan_objectives(n, seed):
    rng = np.random.default_rng(seed)
    real, fake = rng.normal(0, 2, (n, 1)), rng.normal(0, 2, (n, 1))
    loss, d_real, d_fake = losses.discriminator_loss(real, fake)
    expected = -(np.log(_naive_sigmoid(real)).mean() + np.log(1 - _naive_sigmoid(fake)).mean())
    assert loss == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(d_real, (_naive_sigmoid(real) - 1) / n, rtol=1e-10)
    np.testing.assert_allclose(d_fake, _naive_sigmoid(fake) / n, rtol=1e-10)
    minimax, _ = losses.generator_loss(fake, "minimax")
    assert minimax == pytest.approx(np.log(1 - _naive_sigmoid(fake)).mean(), rel=1e-10)
    nonsat, _ = losses.generator_loss(fake, "nonsaturating")
    assert nonsat == pytest.approx(-np.log(_naive_sigmoid(fake)).mean(), rel=1e-10)
    for kind in losses.GENERATOR_LOSSES:
        assert check_loss(losses.generator_loss, fake, kind).passed


def test_minimax_generator_gradient_saturates_and_nonsaturating_does_not():
    rejected = np.full((4, 1), -12.0)  # D is sure these are fake
    _, g_minimax = losses.generator_loss(rejected, "minimax")
    _, g_nonsat = losses.generator_loss(rejected, "nonsaturating")
    assert np.abs(g_minimax).max() < 1e-5 / 4
    np.testing.assert_allclose(g_nonsat, -1 / 4, rtol=1e-5)


def test_loss_input_errors():
    with pytest.raises(ValueError, match="shape"):
        losses.bce_with_logits(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="kind must be one of"):
        losses.generator_loss(np.zeros((2, 1)), "wasserstein")
    with pytest.raises(TypeError, match="integers"):
        losses.softmax_cross_entropy(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
