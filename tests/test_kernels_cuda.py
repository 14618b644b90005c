"""The ``numba.cuda`` kernels (``minigan/kernels/cuda/``) against their NumPy references.

In CI there is no GPU: run this file alone under Numba's CUDA simulator, which must be switched
on before Numba is imported (hence its own process)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/test_kernels_cuda.py

On a machine with a CUDA GPU it runs on the device without the variable. Kernels are called
through the same launch helpers (``launch_*``) the CuPy wrappers of ``minigan.kernels.cuda``
use, on device arrays made with ``cuda.to_device``; CuPy is not needed. Shapes are tiny: the
simulator runs every GPU thread as a Python thread.
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

from batchnorm_bounds import (  # tests/batchnorm_bounds.py: pytest puts tests/ on sys.path
    EPS32,
    EPS64,
    backward_bounds,
    forward_bounds,
    within,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import cuda

from minigan import functional as F
from minigan.kernels.cuda import KERNELS
from minigan.kernels.cuda import activations as ew
from minigan.kernels.cuda import adam as cuda_adam
from minigan.kernels.cuda import batchnorm as cuda_batchnorm
from minigan.kernels.cuda import conv as cuda_conv
from minigan.kernels.cuda import losses as cuda_losses

# (rtol, atol) per op, float32 kernel vs float32 reference. Kernels accumulate sums in float64
# and evaluate some expressions in float64, so they differ from NumPy by rounding only.
# BatchNorm, whose rounding the conditioning of a channel amplifies, is compared with the exact
# answer instead (see the BatchNorm section below).
TOL = {
    "activation": (1e-6, 1e-7),
    "bias_backward": (1e-5, 1e-6),
    "im2col": (0, 0),
    "col2im": (1e-6, 1e-6),
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


# ---- bias + activation ---------------------------------------------------------------------------
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
    ew.launch_bias_act_forward(
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
    ew.launch_act_backward(cuda.to_device(dy), cuda.to_device(saved), dx, act, 0.2)
    close("activation", host(dx), backward(dy, cache))


@SMALL
@given(ncs, seeds)
@example((2, 1, 150), 0)  # 300 values: a full 256-thread block and a grid-stride second round
def test_bias_backward(shape, seed):
    dy = values(seed, shape)
    db = cuda.device_array(shape[1], np.float32)
    ew.launch_bias_backward(cuda.to_device(dy), db)
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
    cuda_conv.launch_im2col(cuda.to_device(x), cols, stride, padding)
    close("im2col", host(cols), expected)


@SMALL
@given(conv_geometry(), st.booleans(), seeds)
def test_col2im(geometry, with_bias, seed):
    n, c, h, w, k, stride, padding, ho, wo = geometry
    cols = values(seed, (n, ho, wo, k, k, c))
    b = values(seed + 1, (c,)) if with_bias else None
    x = cuda.device_array((n, c, h, w), np.float32)
    cuda_conv.launch_col2im(
        cuda.to_device(cols), x, stride, padding, None if b is None else cuda.to_device(b)
    )
    close("col2im", host(x), F.col2im(cols, (n, c, h, w), stride, padding, b))


# ---- BatchNorm -----------------------------------------------------------------------------------
# Compared with the exact answer, the reference evaluated in float64 on the same float32 inputs,
# within the bounds argued in tests/batchnorm_bounds.py (tests/test_kernels_numba.py checks the
# Numba kernels within the same bounds): the conditioning of a channel amplifies the roundings of
# a float32 BatchNorm, the float32 reference's as much as a kernel's.
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
@example((1, 2, 3), True, 1980)  # channel 1: inv_std 101, the float32 reference off by 7e-5
def test_batchnorm_forward(shape, training, seed):
    x, gamma, beta, rm, rv = batchnorm_inputs(shape, seed)
    rm_dev, rv_dev = cuda.to_device(rm), cuda.to_device(rv)
    x_hat, y = cuda.device_array(shape, np.float32), cuda.device_array(shape, np.float32)
    inv_std = cuda.device_array(shape[1], np.float32)
    cuda_batchnorm.launch_batchnorm_forward(
        cuda.to_device(x), cuda.to_device(gamma), cuda.to_device(beta), rm_dev, rv_dev,
        training, 0.1, 1e-5, x_hat, y, inv_std,
    )  # fmt: skip
    f64 = [a.astype(np.float64) for a in (x, gamma, beta, rm, rv)]
    y64, cache64 = F.batchnorm_forward(*f64, training, 0.1, 1e-5)  # updates f64[3:] in place
    m = shape[0] * shape[2]
    mean = f64[0].mean(axis=(0, 2)) if training else f64[3]
    bounds = forward_bounds(x, gamma, beta, mean, cache64.inv_std, cache64.x_hat)
    for name, actual, exact, bound in zip(
        ("x_hat", "y", "inv_std"),
        (x_hat, y, inv_std),
        (cache64.x_hat, y64, cache64.inv_std),
        bounds,
    ):
        within(host(actual), exact, bound, name)
    batch = (mean, f64[0].var(axis=(0, 2)) * m / (m - 1)) if training else (rm, rv)
    for name, dev, exact, old, new in zip(
        ("mean", "var"), (rm_dev, rv_dev), f64[3:], (rm, rv), batch
    ):
        within(host(dev), exact, 4 * EPS32 * (np.abs(old) + np.abs(new)), f"running_{name}")


@SMALL
@given(batchnorm_shapes, st.booleans(), seeds)
@example((2, 1, 150), True, 0)
@example((1, 2, 3), True, 1980)
@example((1, 1, 2), True, 2)  # m = 2: dx and dgamma cancel to (nearly) 0
def test_batchnorm_backward(shape, training, seed):
    x, gamma, beta, rm, rv = batchnorm_inputs(shape, seed)
    _, cache = F.batchnorm_forward(x, gamma, beta, rm, rv, training, 0.1, 1e-5)
    dy = values(seed + 3, shape)
    dx = cuda.device_array(shape, np.float32)
    dgamma, dbeta = cuda.device_array(shape[1], np.float32), cuda.device_array(shape[1], np.float32)
    cuda_batchnorm.launch_batchnorm_backward(
        cuda.to_device(dy), cuda.to_device(cache.x_hat), cuda.to_device(gamma),
        cuda.to_device(cache.inv_std), training, dx, dgamma, dbeta,
    )  # fmt: skip
    # the exact answer on the kernel's float32 inputs: the float32 cache, in float64
    x_hat, inv_std, gamma64 = (a.astype(np.float64) for a in cache[:3])
    cache64 = cache._replace(x_hat=x_hat, inv_std=inv_std, gamma=gamma64)
    exact = F.batchnorm_backward(dy.astype(np.float64), cache64)
    # the kernel forms dy * x_hat in float32 and sums in float64
    bounds = backward_bounds(dy, x_hat, gamma64, inv_std, *exact[1:], training, EPS32, EPS64)
    for name, actual, expected, bound in zip(
        ("dx", "dgamma", "dbeta"), (dx, dgamma, dbeta), exact, bounds
    ):
        within(host(actual), expected, bound, name)


# ---- BCE with logits, Adam -----------------------------------------------------------------------
def check_bce(x: np.ndarray, t: np.ndarray) -> None:
    loss, dx = cuda.device_array(1, np.float32), cuda.device_array(x.size, np.float32)
    cuda_losses.launch_bce_with_logits(cuda.to_device(x), cuda.to_device(t), loss, dx)
    loss_ref, dx_ref = F.bce_with_logits(x, t)
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


def test_bce_with_logits_at_infinite_logits_gives_the_limit():
    inf = np.float32(np.inf)
    check_bce(np.array([inf, -inf, inf, -inf], np.float32), np.array([1, 0, 0, 1], np.float32))
    check_bce(np.array([inf, -inf], np.float32), np.array([1, 0], np.float32))  # loss 0


@SMALL
@given(st.integers(1, 40), st.integers(1, 2000), seeds)
def test_adam_update(size, t, seed):
    rng = np.random.default_rng(seed)
    w, g = values(seed, (size,)), values(seed + 1, (size,), 0.1)
    m = rng.normal(0, 0.01, size).astype(np.float32)
    v = rng.uniform(0, 1e-3, size).astype(np.float32)
    devices = [cuda.to_device(a) for a in (w, g, m, v)]
    cuda_adam.launch_adam(*devices, 2e-4, 0.5, 0.999, 1e-8, t)
    F.adam_update(w, g, m, v, 2e-4, 0.5, 0.999, 1e-8, t)
    for actual, expected in zip((devices[0], devices[2], devices[3]), (w, m, v)):
        close("adam", host(actual), expected)


def test_kernel_table_keys_are_reference_functions():
    """Every key of the CUDA table is a function of ``minigan.functional`` (imported without
    CuPy, as here in CI)."""
    references = {getattr(F, name) for name in F.__all__}
    assert KERNELS and all(key in references for key in KERNELS)
    assert {F.conv2d_forward, F.batchnorm_forward, F.adam_update, F.bce_with_logits} <= set(KERNELS)
