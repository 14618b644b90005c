"""The ``numba.cuda`` kernels (``minigan/kernels/cuda_*.py``) against their NumPy references.

In CI there is no GPU: run this file alone under Numba's CUDA simulator, which must be switched
on before Numba is imported (hence its own process)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/test_kernels_cuda.py

On a machine with a CUDA GPU it runs on the device without the variable. Kernels are called
through the same launch helpers the ``cupy`` backend uses, on device arrays made with
``cuda.to_device``. Shapes are tiny: the simulator runs every GPU thread as a Python thread.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    numba_cuda = pytest.importorskip("numba.cuda", reason="numba is not installed")
    if not numba_cuda.is_available():
        pytest.skip(
            "no CUDA GPU, and NUMBA_ENABLE_CUDASIM is not 1: run this file alone with "
            "NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/test_kernels_cuda.py",
            allow_module_level=True,
        )

from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import cuda

from minigan import functional as F
from minigan import losses, optim
from minigan.kernels import cuda_adam, cuda_batchnorm, cuda_conv, cuda_losses
from minigan.kernels import cuda_elementwise as ew

# (rtol, atol) per op, float32 kernel vs float32 reference. Kernels accumulate sums in float64
# and evaluate some expressions in float64, so they differ from NumPy by rounding only.
TOL = {
    "activation": (1e-6, 1e-7),
    "bias_backward": (1e-5, 1e-6),
    "im2col": (0, 0),
    "col2im": (1e-6, 1e-6),
    "batchnorm": (1e-5, 1e-5),
    "bce": (1e-5, 1e-7),
    "adam": (1e-5, 1e-7),
}
SMALL = settings(max_examples=10, deadline=None)
ACTS = {
    ew.RELU: (F.relu_forward, F.relu_backward),
    ew.LEAKY_RELU: (lambda x: F.leaky_relu_forward(x, 0.2), F.leaky_relu_backward),
    ew.TANH: (F.tanh_forward, F.tanh_backward),
    ew.SIGMOID: (F.sigmoid_forward, F.sigmoid_backward),
}


def close(name: str, actual: np.ndarray, expected: np.ndarray) -> None:
    rtol, atol = TOL[name]
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def values(seed: int, shape: tuple[int, ...], scale: float = 2.0) -> np.ndarray:
    """float32 values in (-scale, scale) kept at least 0.05 away from 0: ReLU and LeakyReLU
    have a kink there, and a kernel that adds the bias in another order could flip the mask.
    """
    x = np.random.default_rng(seed).uniform(-scale, scale, shape)
    return np.where(np.abs(x) < 0.05, 0.5, x).astype(np.float32)


def host(d) -> np.ndarray:  # type: ignore[no-untyped-def]
    return d.copy_to_host()


ncs = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4))
seeds = st.integers(0, 2**16)


# ---- bias + activation ------------------------------------------------------------------------
@SMALL
@given(ncs, st.sampled_from([ew.IDENTITY, *ACTS]), st.booleans(), st.booleans(), seeds)
def test_bias_act_forward(shape, act, with_bias, strided, seed):
    c = shape[1]
    b = values(seed + 1, (c,)) if with_bias else None
    x = values(seed, shape) - (0 if b is None else b.reshape(1, c, 1))
    if strided:  # the convolution's (N, S, C) product read as (N, C, S)
        x_dev = cuda.to_device(np.ascontiguousarray(x.transpose(0, 2, 1))).transpose((0, 2, 1))
    else:
        x_dev = cuda.to_device(x)
    y, positive = cuda.device_array(shape, np.float32), cuda.device_array(shape, bool)
    want_mask = act == ew.LEAKY_RELU
    ew.bias_act_forward(
        x_dev,
        None if b is None else cuda.to_device(b),
        y,
        act,
        0.2,
        positive if want_mask else None,
    )
    v = x if b is None else x + b.reshape(1, c, 1)
    if act == ew.IDENTITY:
        close("activation", host(y), v)
        return
    expected, cache = ACTS[act][0](v)
    close("activation", host(y), expected)
    if want_mask:
        np.testing.assert_array_equal(host(positive), cache.positive)


@SMALL
@given(st.integers(1, 40), st.sampled_from(list(ACTS)), seeds)
def test_act_backward(size, act, seed):
    forward, backward = ACTS[act]
    _, cache = forward(values(seed, (size,)))
    dy = values(seed + 1, (size,))
    saved = cache.positive if act == ew.LEAKY_RELU else cache
    dx = cuda.device_array(size, np.float32)
    ew.act_backward(cuda.to_device(dy), cuda.to_device(saved), dx, act, 0.2)
    close("activation", host(dx), backward(dy, cache))


@SMALL
@given(ncs, seeds)
@example((2, 1, 150), 0)  # 300 values: a full 256-thread block and a grid-stride second round
def test_bias_backward(shape, seed):
    dy = values(seed, shape)
    db = cuda.device_array(shape[1], np.float32)
    ew.bias_backward(cuda.to_device(dy), db)
    close("bias_backward", host(db), dy.sum(axis=(0, 2)))


# ---- im2col / col2im -----------------------------------------------------------------------------
@st.composite
def conv_geometry(draw):  # type: ignore[no-untyped-def]
    """``(n, c, h, w, k, stride, padding, ho, wo)`` with ``ho``, ``wo`` windows: the input size
    is derived from the windows, so it is always valid; ``2 p < k`` keeps it at least 1, and
    ``extra < stride`` pixels past the last window (as ``output_padding`` leaves) stay uncovered.
    """
    k, stride = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    padding = draw(st.integers(0, (k - 1) // 2))
    ho, wo = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = (ho - 1) * stride - 2 * padding + k + draw(st.integers(0, stride - 1))
    w = (wo - 1) * stride - 2 * padding + k + draw(st.integers(0, stride - 1))
    return draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w, k, stride, padding, ho, wo


@SMALL
@given(conv_geometry(), st.booleans(), seeds)
def test_im2col(geometry, fewer_windows, seed):
    n, c, h, w, k, stride, padding, ho, wo = geometry
    assert (
        F.conv_output_size(h, k, stride, padding),
        F.conv_output_size(w, k, stride, padding),
    ) == (ho, wo)
    x = values(seed, (n, c, h, w))
    expected = F.im2col(x, k, k, stride, padding)
    if fewer_windows:  # what the transposed convolution's backward keeps
        ho, wo = max(1, ho - 1), max(1, wo - 1)
        expected = expected[:, :ho, :wo]
    cols = cuda.device_array((n, ho, wo, k, k, c), np.float32)
    cuda_conv.im2col(cuda.to_device(x), cols, stride, padding)
    close("im2col", host(cols), expected)


@SMALL
@given(conv_geometry(), st.booleans(), seeds)
def test_col2im(geometry, with_bias, seed):
    n, c, h, w, k, stride, padding, ho, wo = geometry
    cols = values(seed, (n, ho, wo, k, k, c))
    b = values(seed + 1, (c,)) if with_bias else None
    x = cuda.device_array((n, c, h, w), np.float32)
    cuda_conv.col2im(
        cuda.to_device(cols), x, stride, padding, None if b is None else cuda.to_device(b)
    )
    close("col2im", host(x), F.col2im(cols, (n, c, h, w), stride, padding, b))


# ---- BatchNorm ------------------------------------------------------------------------------------
def batchnorm_inputs(shape: tuple[int, int, int], seed: int) -> tuple[np.ndarray, ...]:
    c = shape[1]
    rng = np.random.default_rng(seed)
    offset = rng.uniform(-5, 5, (1, c, 1))  # a channel mean far from 0 tests the two passes
    x = (values(seed, shape) + offset).astype(np.float32)
    gamma, beta = values(seed + 1, (c,)), values(seed + 2, (c,))
    running_mean = rng.uniform(-1, 1, c).astype(np.float32)
    running_var = rng.uniform(0.5, 2, c).astype(np.float32)
    return x, gamma, beta, running_mean, running_var


batchnorm_shapes = ncs.filter(lambda shape: shape[0] * shape[2] >= 2)  # training needs m >= 2


@SMALL
@given(batchnorm_shapes, st.booleans(), seeds)
@example((2, 1, 150), True, 0)  # 300 values per channel: 256 threads, two grid-stride rounds
def test_batchnorm_forward(shape, training, seed):
    x, gamma, beta, rm, rv = batchnorm_inputs(shape, seed)
    rm_dev, rv_dev = cuda.to_device(rm), cuda.to_device(rv)
    x_hat, y = cuda.device_array(shape, np.float32), cuda.device_array(shape, np.float32)
    inv_std = cuda.device_array(shape[1], np.float32)
    cuda_batchnorm.batchnorm_forward(
        cuda.to_device(x), cuda.to_device(gamma), cuda.to_device(beta), rm_dev, rv_dev,
        training, 0.1, 1e-5, x_hat, y, inv_std,
    )  # fmt: skip
    y_ref, cache = F.batchnorm_forward(x, gamma, beta, rm, rv, training, 0.1, 1e-5)
    for actual, expected in [(y, y_ref), (x_hat, cache.x_hat), (inv_std, cache.inv_std)]:
        close("batchnorm", host(actual), expected)
    close("batchnorm", host(rm_dev), rm)  # the reference updated rm, rv in place
    close("batchnorm", host(rv_dev), rv)


@SMALL
@given(batchnorm_shapes, st.booleans(), seeds)
@example((2, 1, 150), True, 0)
def test_batchnorm_backward(shape, training, seed):
    x, gamma, beta, rm, rv = batchnorm_inputs(shape, seed)
    _, cache = F.batchnorm_forward(x, gamma, beta, rm, rv, training, 0.1, 1e-5)
    dy = values(seed + 3, shape)
    dx = cuda.device_array(shape, np.float32)
    dgamma, dbeta = cuda.device_array(shape[1], np.float32), cuda.device_array(shape[1], np.float32)
    cuda_batchnorm.batchnorm_backward(
        cuda.to_device(dy), cuda.to_device(cache.x_hat), cuda.to_device(gamma),
        cuda.to_device(cache.inv_std), training, dx, dgamma, dbeta,
    )  # fmt: skip
    for actual, expected in zip((dx, dgamma, dbeta), F.batchnorm_backward(dy, cache)):
        close("batchnorm", host(actual), expected)


# ---- BCE with logits, Adam -------------------------------------------------------------------------
def check_bce(x: np.ndarray, t: np.ndarray) -> None:
    loss, dx = cuda.device_array(1, np.float32), cuda.device_array(x.size, np.float32)
    cuda_losses.bce_with_logits(cuda.to_device(x), cuda.to_device(t), loss, dx)
    loss_ref, dx_ref = losses.bce_with_logits(x, t)
    close("bce", host(loss), np.array([loss_ref], np.float32))
    close("bce", host(dx), dx_ref)


@SMALL
@given(st.integers(1, 40), st.booleans(), seeds)
@example(300, True, 0)  # a full 256-thread block and a second grid-stride round
def test_bce_with_logits(size, hard_targets, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-30, 30, size).astype(np.float32)
    t = rng.integers(0, 2, size) if hard_targets else rng.uniform(0, 1, size)
    check_bce(x, t.astype(np.float32))


def test_bce_with_logits_far_past_exp_range():
    check_bce(np.array([1e4, -1e4, 0], np.float32), np.array([0, 1, 1], np.float32))


@SMALL
@given(st.integers(1, 40), st.integers(1, 2000), seeds)
def test_adam_update(size, t, seed):
    rng = np.random.default_rng(seed)
    w, g = values(seed, (size,)), values(seed + 1, (size,), 0.1)
    m = rng.normal(0, 0.01, size).astype(np.float32)
    v = rng.uniform(0, 1e-3, size).astype(np.float32)
    devices = [cuda.to_device(a) for a in (w, g, m, v)]
    cuda_adam.adam_update(*devices, 2e-4, 0.5, 0.999, 1e-8, t)
    optim.adam_update(w, g, m, v, 2e-4, 0.5, 0.999, 1e-8, t)
    for actual, expected in zip((devices[0], devices[2], devices[3]), (w, m, v)):
        close("adam", host(actual), expected)
