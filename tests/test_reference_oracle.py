"""The NumPy reference ops of :mod:`minigan.functional` against the naive loops of
``tests/reference.py``, an implementation that shares no technique with them (no im2col, no
col2im, no einsum), in float64 at a tight tolerance.

Worked examples with hand-computed numbers check the oracle itself first. Shapes are tiny: the
oracle is plain Python loops.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref  # tests/reference.py: pytest puts tests/ (no __init__.py) on sys.path
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minigan import functional as F

SETTINGS = settings(max_examples=25, deadline=None)
RTOL = 1e-10
ATOL = 1e-12  # for entries that cancel to about zero; the values themselves are O(1)


def _close(actual, expected, rtol=RTOL, atol=ATOL):
    assert actual.dtype == np.float64
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def _uniform(rng, shape):
    return rng.uniform(-1.0, 1.0, size=shape)


# ---- the oracle itself, by hand ------------------------------------------------------------------
def test_oracle_conv2d_by_hand():
    # 3x3 input 1..9, 2x2 kernel of ones: each output is the sum of a 2x2 window
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    W = np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(ref.conv2d(x, W, None, 1, 0)[0, 0], [[12, 16], [24, 28]])
    # bias 0.5, stride 2, padding 1: 2x2 windows at rows/columns (-1, 0) and (1, 2) of x, the
    # row and column -1 being zeros: x[0,0] | x[0,1]+x[0,2] over x[1,0]+x[2,0] | x[1:,1:].sum()
    y = ref.conv2d(x, W, np.array([0.5]), 2, 1)
    np.testing.assert_array_equal(y[0, 0], [[1.5, 5.5], [11.5, 28.5]])
    # two output channels, kernel [[1, 0], [0, -1]] and its negative: x[h, w] - x[h+1, w+1] = -4
    W2 = np.array([[[[1.0, 0.0], [0.0, -1.0]]], [[[-1.0, 0.0], [0.0, 1.0]]]])
    y = ref.conv2d(x, W2, None, 1, 0)
    np.testing.assert_array_equal(y[0], [[[-4, -4], [-4, -4]], [[4, 4], [4, 4]]])
    # backward of the sum of the stride-1 output: dx counts the windows covering each pixel
    dx, dW, db = ref.conv2d_backward(np.ones((1, 1, 2, 2)), x, W, 1, 0)
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # dW[i, j] sums the 2x2 block of x starting at (i, j): the same window sums as the forward
    np.testing.assert_array_equal(dW[0, 0], [[12, 16], [24, 28]])
    np.testing.assert_array_equal(db, [4])


def test_oracle_conv_transpose2d_by_hand():
    # each input value stamps a 2x2 block of ones, stride 1: overlapping stamps add up
    x = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)  # [[1, 2], [3, 4]]
    W = np.ones((1, 1, 2, 2))
    y = ref.conv_transpose2d(x, W, None, 1, 0)
    np.testing.assert_array_equal(y[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    # stride 2: disjoint stamps; output_padding 1 adds a row and a column that get only the bias
    y = ref.conv_transpose2d(x, W, np.array([0.5]), 2, 0, 1)
    expected = np.array(
        [[1, 1, 2, 2, 0], [1, 1, 2, 2, 0], [3, 3, 4, 4, 0], [3, 3, 4, 4, 0], [0, 0, 0, 0, 0]]
    )
    np.testing.assert_array_equal(y[0, 0], expected + 0.5)
    # padding 1 crops one pixel off every side of the stride-1 result
    np.testing.assert_array_equal(ref.conv_transpose2d(x, W, None, 1, 1)[0, 0], [[10]])
    # C_in 1 -> C_out 2 with W[0, 1] = 2 W[0, 0]: the second channel doubles the first
    W2 = np.stack([W[0, 0], 2 * W[0, 0]])[None]  # (1, 2, 2, 2)
    y = ref.conv_transpose2d(x, W2, None, 1, 0)
    np.testing.assert_array_equal(y[0, 1], 2 * y[0, 0])
    # backward: dx[h, w] sums dy over the 2x2 block that x[h, w] stamped
    dy = np.arange(9.0).reshape(1, 1, 3, 3)
    dx, dW, db = ref.conv_transpose2d_backward(dy, x, W, 1, 0)
    np.testing.assert_array_equal(dx[0, 0], [[8, 12], [20, 24]])
    # dW[i, j] = sum_{h, w} x[h, w] dy[h + i, w + j]
    np.testing.assert_array_equal(dW[0, 0], [[27, 37], [57, 67]])
    np.testing.assert_array_equal(db, [36])


def test_oracle_batchnorm_by_hand():
    # one channel, values 1 and 3: mean 2, var 1, x_hat = -1, 1 (eps 0)
    x = np.array([[1.0], [3.0]])
    y, mean, var = ref.batchnorm_train(x, np.array([2.0]), np.array([0.5]), 0.0)
    np.testing.assert_array_equal(y.ravel(), [-1.5, 2.5])
    np.testing.assert_array_equal(mean, [2.0])
    np.testing.assert_array_equal(var, [1.0])
    # dy = x_hat: dgamma = sum(dy * x_hat) = 2, dbeta = 0; dx = gamma (dy - mean(dy) - x_hat) = 0
    # with two values per channel x_hat is +-1 whatever x is, so nothing flows back to x
    dx, dgamma, dbeta = ref.batchnorm_backward(np.array([[-1.0], [1.0]]), x, np.array([2.0]), 0.0)
    np.testing.assert_array_equal(dx.ravel(), [0.0, 0.0])
    np.testing.assert_array_equal(dgamma, [2.0])
    np.testing.assert_array_equal(dbeta, [0.0])
    # three values 0, 1, 5: mean 2, var 14/3; dy = (1, 0, 0), gamma 1, eps 0:
    # dx = inv (dy - 1/3 - x_hat x_hat[0] / 3), inv = sqrt(3/14), x_hat = (x - 2) inv
    x = np.array([[0.0], [1.0], [5.0]])
    dx, _, _ = ref.batchnorm_backward(np.array([[1.0], [0.0], [0.0]]), x, np.array([1.0]), 0.0)
    inv = np.sqrt(3 / 14)
    x_hat = (x.ravel() - 2) * inv
    np.testing.assert_allclose(
        dx.ravel(), inv * (np.array([1, 0, 0]) - 1 / 3 - x_hat * x_hat[0] / 3)
    )
    np.testing.assert_allclose(dx.sum(), 0.0, atol=1e-15)


def test_oracle_running_stats_by_hand():
    # batch 1, 3 (mean 2, biased var 1, unbiased 2), momentum 0.1, from mean 0 and var 1
    rm, rv = ref.batchnorm_running_stats(np.zeros(1), np.ones(1), [2.0], [1.0], 2, 0.1)
    np.testing.assert_allclose(rm, [0.2])
    np.testing.assert_allclose(rv, [0.9 + 0.1 * 2.0])


# ---- the library's worked examples, against the oracle --------------------------------------------
def test_conv2d_worked_example():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    W = np.ones((1, 1, 2, 2))
    y, cache = F.conv2d_forward(x, W, None, 1, 0)
    np.testing.assert_array_equal(y[0, 0], [[12, 16], [24, 28]])
    dx, dW, db = F.conv2d_backward(np.ones((1, 1, 2, 2)), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(dW[0, 0], [[12, 16], [24, 28]])
    assert db is None


def test_conv_transpose2d_worked_example():
    x = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    W = np.ones((1, 1, 2, 2))
    y, cache = F.conv_transpose2d_forward(x, W, np.array([0.0]), 1, 0)
    np.testing.assert_array_equal(y[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    dx, dW, db = F.conv_transpose2d_backward(np.arange(9.0).reshape(1, 1, 3, 3), cache)
    np.testing.assert_array_equal(dx[0, 0], [[8, 12], [20, 24]])
    np.testing.assert_array_equal(dW[0, 0], [[27, 37], [57, 67]])
    np.testing.assert_array_equal(db, [36])


# ---- convolution -----------------------------------------------------------------------------------
@st.composite
def conv2d_case(draw):
    """A valid Conv2d, built directly: the input size first, then padding, then a kernel no
    larger than the padded input (so at least one output pixel) and any stride, stride > kernel
    included. Padding may exceed the kernel (PyTorch allows it: the border outputs see zeros)."""
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    p = draw(st.integers(0, 2))
    kh = draw(st.integers(1, min(4, h + 2 * p)))
    kw = draw(st.integers(1, min(4, w + 2 * p)))
    s = draw(st.integers(1, 4))
    return n, c, o, h, w, kh, kw, s, p


@st.composite
def conv_transpose2d_case(draw, output_padding_beyond_stride=False):
    """A valid ConvTranspose2d, built directly: input size, kernel, stride, output_padding
    (< stride, PyTorch's rule, unless ``output_padding_beyond_stride``), then the padding, at most
    what leaves an output of at least one pixel: ``(H - 1) s + k + op - 2p >= 1``."""
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    if output_padding_beyond_stride:
        op = draw(st.integers(s, s + 1))
    else:
        op = draw(st.integers(0, s - 1))
    p_max = min((h - 1) * s + kh + op - 1, (w - 1) * s + kw + op - 1) // 2
    p = draw(st.integers(0, min(2, p_max)))
    return n, c, o, h, w, kh, kw, s, p, op


# the edge cases below run on every run, whatever hypothesis draws besides:
# (n, c, o, h, w, kh, kw, stride, padding)
@SETTINGS
@given(case=conv2d_case(), bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
@example(case=(2, 2, 3, 5, 6, 2, 1, 3, 1), bias=False, seed=1)  # stride > kernel, padding
@example(case=(1, 3, 2, 4, 5, 1, 1, 2, 0), bias=True, seed=2)  # 1x1 kernel, stride 2
@example(case=(1, 1, 2, 3, 2, 1, 1, 1, 2), bias=True, seed=3)  # padding > kernel
@example(case=(2, 2, 2, 2, 3, 4, 4, 1, 1), bias=False, seed=4)  # kernel = padded input: Ho = 1
@example(case=(2, 3, 2, 6, 6, 4, 4, 2, 1), bias=True, seed=5)  # DCGAN's k4 s2 p1
def test_conv2d_matches_oracle(case, bias, seed):
    n, c, o, h, w, kh, kw, s, p = case
    rng = np.random.default_rng(seed)
    x, W = _uniform(rng, (n, c, h, w)), _uniform(rng, (o, c, kh, kw))
    b = _uniform(rng, (o,)) if bias else None
    x0, W0 = x.copy(), W.copy()

    y, cache = F.conv2d_forward(x, W, b, s, p)
    assert y.shape == (n, o, F.conv_output_size(h, kh, s, p), F.conv_output_size(w, kw, s, p))
    _close(y, ref.conv2d(x, W, b, s, p))

    dy = _uniform(rng, y.shape)
    dy0 = dy.copy()
    dx, dW, db = F.conv2d_backward(dy, cache)
    dx_ref, dW_ref, db_ref = ref.conv2d_backward(dy, x, W, s, p)
    _close(dx, dx_ref)
    _close(dW, dW_ref)
    if bias:
        _close(db, db_ref)
    else:
        assert db is None
    for before, after in ((x0, x), (W0, W), (dy0, dy)):
        np.testing.assert_array_equal(after, before)  # nothing was written into the inputs


def _check_conv_transpose2d(case, bias, seed):
    n, c, o, h, w, kh, kw, s, p, op = case
    rng = np.random.default_rng(seed)
    x, W = _uniform(rng, (n, c, h, w)), _uniform(rng, (c, o, kh, kw))
    b = _uniform(rng, (o,)) if bias else None
    x0, W0 = x.copy(), W.copy()

    y, cache = F.conv_transpose2d_forward(x, W, b, s, p, op)
    expected_shape = (
        n,
        o,
        F.conv_transpose_output_size(h, kh, s, p, op),
        F.conv_transpose_output_size(w, kw, s, p, op),
    )
    assert y.shape == expected_shape
    _close(y, ref.conv_transpose2d(x, W, b, s, p, op))

    dy = _uniform(rng, y.shape)
    dy0 = dy.copy()
    dx, dW, db = F.conv_transpose2d_backward(dy, cache)
    dx_ref, dW_ref, db_ref = ref.conv_transpose2d_backward(dy, x, W, s, p)
    _close(dx, dx_ref)
    _close(dW, dW_ref)
    if bias:
        _close(db, db_ref)
    else:
        assert db is None
    for before, after in ((x0, x), (W0, W), (dy0, dy)):
        np.testing.assert_array_equal(after, before)


# (n, c, o, h, w, kh, kw, stride, padding, output_padding)
@SETTINGS
@given(case=conv_transpose2d_case(), bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
@example(case=(2, 2, 3, 3, 2, 2, 1, 3, 1, 2), bias=False, seed=1)  # stride > kernel, op > 0
@example(case=(1, 3, 2, 3, 3, 1, 1, 2, 0, 1), bias=True, seed=2)  # 1x1 kernel, op 1
@example(case=(2, 3, 2, 3, 3, 4, 4, 2, 1, 0), bias=False, seed=3)  # DCGAN's k4 s2 p1
@example(case=(1, 1, 2, 1, 1, 3, 3, 1, 1, 0), bias=True, seed=4)  # padding crops to Ho = 1
def test_conv_transpose2d_matches_oracle(case, bias, seed):
    _check_conv_transpose2d(case, bias, seed)


@settings(max_examples=10, deadline=None)
@given(
    case=conv_transpose2d_case(output_padding_beyond_stride=True),
    bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
@example(case=(1, 2, 2, 2, 3, 2, 3, 2, 1, 2), bias=True, seed=1)
@example(case=(1, 1, 1, 2, 1, 1, 1, 1, 0, 2), bias=False, seed=2)
def test_conv_transpose2d_output_padding_beyond_stride(case, bias, seed):
    # PyTorch rejects output_padding >= stride; the scatter definition still holds (the extra
    # rows and columns get only the bias), and minigan does not reject it, so it must agree
    _check_conv_transpose2d(case, bias, seed)


# ---- batch normalisation -------------------------------------------------------------------------
@st.composite
def batchnorm_case(draw):
    """(N, C) with N >= 2, or (N, C, H, W) with N*H*W >= 2 (the unbiased variance of the running
    statistics divides by m - 1), and an eps."""
    c = draw(st.integers(1, 3))
    if draw(st.booleans()):
        shape = (draw(st.integers(2, 6)), c)
    else:
        n, h = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        w = draw(st.integers(2 if n * h == 1 else 1, 3))
        shape = (n, c, h, w)
    # eps > 0 (PyTorch's default is 1e-5): with eps 0 two nearly equal values in a channel would
    # make 1/sqrt(var) unbounded and the rounding error with it
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    return shape, eps


@SETTINGS
@given(case=batchnorm_case(), momentum=st.sampled_from([0.1, 0.3]), seed=st.integers(0, 2**32 - 1))
@example(case=((2, 3), 1e-5), momentum=0.1, seed=1)  # two values per channel
@example(case=((1, 2, 1, 2), 1e-5), momentum=0.1, seed=2)  # batch 1, two pixels
@example(case=((3, 2, 2, 3), 0.1), momentum=0.3, seed=3)
def test_batchnorm_training_matches_oracle(case, momentum, seed):
    shape, eps = case
    c = shape[1]
    rng = np.random.default_rng(seed)
    # values spread over [-2, 2] and eps >= 1e-5: 1/sqrt(var + eps) stays moderate, so the
    # tolerance can stay tight
    x = rng.uniform(-2.0, 2.0, size=shape)
    gamma, beta = rng.uniform(0.5, 1.5, size=c), _uniform(rng, c)
    running_mean, running_var = _uniform(rng, c), rng.uniform(0.5, 1.5, size=c)
    rm0, rv0, x0 = running_mean.copy(), running_var.copy(), x.copy()

    y, cache = F.batchnorm_forward(x, gamma, beta, running_mean, running_var, True, momentum, eps)
    y_ref, mean, var = ref.batchnorm_train(x, gamma, beta, eps)
    _close(y, y_ref)
    np.testing.assert_array_equal(x, x0)

    m = x.size // c
    rm_ref, rv_ref = ref.batchnorm_running_stats(rm0, rv0, mean, var, m, momentum)
    _close(running_mean, rm_ref)
    _close(running_var, rv_ref)

    dy = _uniform(rng, shape)
    dx, dgamma, dbeta = F.batchnorm_backward(dy, cache)
    dx_ref, dgamma_ref, dbeta_ref = ref.batchnorm_backward(dy, x, gamma, eps)
    # dx is a difference of O(1) terms that can cancel to about zero (with two values per
    # channel it is of the order of eps): the absolute floor ATOL covers that
    _close(dx, dx_ref)
    _close(dgamma, dgamma_ref)
    _close(dbeta, dbeta_ref)


@SETTINGS
@given(case=batchnorm_case(), seed=st.integers(0, 2**32 - 1))
@example(case=((2, 3), 1e-5), seed=1)
@example(case=((3, 2, 2, 3), 1e-3), seed=2)
def test_batchnorm_eval_matches_oracle(case, seed):
    shape, eps = case
    c = shape[1]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=shape)
    gamma, beta = rng.uniform(0.5, 1.5, size=c), _uniform(rng, c)
    running_mean, running_var = _uniform(rng, c), rng.uniform(0.5, 1.5, size=c)
    rm0, rv0 = running_mean.copy(), running_var.copy()

    y, cache = F.batchnorm_forward(x, gamma, beta, running_mean, running_var, False, 0.1, eps)
    _close(y, ref.batchnorm_eval(x, gamma, beta, rm0, rv0, eps))
    # evaluation leaves the running statistics alone
    np.testing.assert_array_equal(running_mean, rm0)
    np.testing.assert_array_equal(running_var, rv0)

    # the statistics are constants in evaluation: dx = gamma dy / sqrt(running_var + eps)
    dy = _uniform(rng, shape)
    dx, dgamma, dbeta = F.batchnorm_backward(dy, cache)
    x_hat = ref.batchnorm_eval(x, np.ones(c), np.zeros(c), rm0, rv0, eps)
    scale = ref.batchnorm_eval(np.ones(shape), gamma, np.zeros(c), np.zeros(c), rv0, eps)
    _close(dx, dy * scale)
    _close(dgamma, (dy * x_hat).sum(axis=tuple(i for i in range(dy.ndim) if i != 1)))
    _close(dbeta, dy.sum(axis=tuple(i for i in range(dy.ndim) if i != 1)))


@pytest.mark.parametrize("momentum", [0.1, 0.5])
def test_running_stats_pytorch_semantics(momentum):
    # m = 4 values per channel: 0, 1, 2, 3 -> mean 1.5, biased var 1.25, unbiased var 5/3
    x = np.arange(4.0).reshape(2, 1, 1, 2)
    running_mean, running_var = np.array([1.0]), np.array([2.0])
    F.batchnorm_forward(x, np.ones(1), np.zeros(1), running_mean, running_var, True, momentum, 0)
    np.testing.assert_allclose(running_mean, [(1 - momentum) * 1.0 + momentum * 1.5], rtol=RTOL)
    np.testing.assert_allclose(running_var, [(1 - momentum) * 2.0 + momentum * 5 / 3], rtol=RTOL)
