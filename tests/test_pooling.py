"""MaxPool2d and AvgPool2d: finite-difference gradients in float64 on hypothesis-drawn shapes,
shapes and dtypes, no mutation or aliasing, the tie rule, clear errors, and PyTorch where it is
installed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan import gradcheck, nn
from minigan.functional.pooling import pool_output_size
from minigan.gradcheck import check_module
from minigan.nn.pooling import distinct_values

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
LAYERS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


@st.composite
def pool_case(draw):
    """A valid pooling: kernel, stride (or None: the kernel), padding at most half the kernel,
    then an input at least as large as the kernel after padding."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k = draw(st.integers(1, 4))
    s = draw(st.one_of(st.none(), st.integers(1, 3)))
    p = draw(st.integers(0, k // 2))
    h = draw(st.integers(max(1, k - 2 * p), 9))
    w = draw(st.integers(max(1, k - 2 * p), 9))
    return n, c, k, s, p, h, w, draw(st.integers(0, 2**31 - 1))


def _input(kind: str, shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # max pooling: values at least 2/size apart, so no window ties and a step of 1e-6 cannot
    # change which entry wins (at a tie the function has a kink)
    return distinct_values(rng, shape) if kind == "max" else rng.standard_normal(shape)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@SETTINGS
@given(case=pool_case())
def test_gradients_match_finite_differences(backend, kind, case):
    n, c, k, s, p, h, w, seed = case
    layer = LAYERS[kind](k, s, p)
    report = check_module(layer, _input(kind, (n, c, h, w), seed))
    assert report.passed, report.errors


@pytest.mark.parametrize("kind", sorted(LAYERS))
@SETTINGS
@given(case=pool_case())
def test_shapes_dtype_no_mutation_no_aliasing(backend, kind, case):
    n, c, k, s, p, h, w, seed = case
    layer = LAYERS[kind](k, s, p)
    x = _input(kind, (n, c, h, w), seed).astype(np.float32)
    x_copy = x.copy()
    y = layer(x)
    stride = k if s is None else s
    assert y.shape == (n, c, pool_output_size(h, k, stride, p), pool_output_size(w, k, stride, p))
    assert y.dtype == np.float32
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(np.float32)
    dy_copy = dy.copy()
    dx = layer.backward(dy)
    assert dx.shape == x.shape and dx.dtype == np.float32
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dy, dy_copy)
    assert not np.shares_memory(dx, dy) and not np.shares_memory(dx, x)
    if kind == "max":  # each window's dy lands on one pixel (the padding never wins)
        total = dy.sum(dtype=np.float64)
        np.testing.assert_allclose(dx.sum(dtype=np.float64), total, rtol=1e-5, atol=1e-5)


def test_max_pool_sends_a_tie_to_the_first_maximum():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]], np.float32)
    pool = nn.MaxPool2d(2)
    assert pool(x).item() == 3.0
    np.testing.assert_array_equal(
        pool.backward(np.ones((1, 1, 1, 1), np.float32)), [[[[0, 1], [0, 0]]]]
    )


def test_avg_pool_counts_padded_zeros():
    pool = nn.AvgPool2d(2, padding=1)
    y = pool(np.ones((1, 1, 2, 2), np.float32))
    np.testing.assert_allclose(y[0, 0], np.full((2, 2), 0.25))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0,), "kernel_size >= 1"),
        ((2, 0), "stride >= 1"),
        ((2, 2, 2), "at most half"),
        (((2, 3),), "square"),
    ],
)
def test_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        nn.MaxPool2d(*args)


def test_bad_inputs():
    pool = nn.MaxPool2d(3)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        pool(np.zeros((1, 1, 2, 5), np.float32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        pool(np.zeros((1, 5, 5), np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        pool(np.zeros((1, 1, 5, 5), np.int64))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.AvgPool2d(2).backward(np.zeros((1, 1, 1, 1), np.float32))
    pool(np.zeros((1, 1, 6, 6), np.float32))
    with pytest.raises(ValueError, match="expected dy of shape"):
        pool.backward(np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(TypeError, match="float32 stays float32"):  # a float64 dy is refused
        pool.backward(np.zeros((1, 1, 2, 2), np.float64))


def test_gradcheck_suite_checks_pooling():
    names = {r.name: r.passed for r in gradcheck.suite(0)}
    assert names["MaxPool2d(3, 2, 1)"] and names["AvgPool2d(3, 2, 1)"]


@pytest.mark.torch
@pytest.mark.parametrize("kind", sorted(LAYERS))
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=pool_case(), ties=st.booleans())
def test_matches_pytorch(torch_one_thread, kind, case, ties):
    torch = torch_one_thread
    n, c, k, s, p, h, w, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    if ties:  # values from a small set: windows with several equal maxima
        x = rng.integers(0, 3, (n, c, h, w)).astype(np.float32)
    layer = LAYERS[kind](k, s, p)
    y = layer(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    op = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    ty = op(tx, k, s, p)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-5, atol=1e-6)
