"""The convolutions' two forms of the same products (:mod:`minigan.functional.conv`): one product
over all GEMM rows, and one product per sample where the image side has few channels
(``PER_SAMPLE_CHANNELS``). Each form is forced in turn on hypothesis-drawn shapes and checked on
every CPU backend: gradients against finite differences in float64, values against the naive
loops of ``tests/reference.py``, float32 kept float32, inputs not mutated."""

from __future__ import annotations

import numpy as np
import pytest
import reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan import nn
from minigan.functional import conv
from minigan.gradcheck import check_module

SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FORMS = {"rows": 0, "per sample": 10**6}  # PER_SAMPLE_CHANNELS forcing each form


@pytest.fixture(params=sorted(FORMS))
def form(request, monkeypatch) -> str:
    monkeypatch.setattr(conv, "PER_SAMPLE_CHANNELS", FORMS[request.param])
    return request.param


@st.composite
def conv_case(draw):
    """Kernel, stride, padding first, then an input large enough for one output pixel."""
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    p = draw(st.integers(0, k - 1))
    h, w = draw(st.integers(max(1, k - 2 * p), 8)), draw(st.integers(max(1, k - 2 * p), 8))
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    return n, c, o, k, s, p, h, w, draw(st.booleans()), draw(st.integers(0, 2**16))


@st.composite
def conv_transpose_case(draw):
    """output_padding < stride, and an input whose output has at least one pixel."""
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    p, op = draw(st.integers(0, k - 1)), draw(st.integers(0, s - 1))
    h_min = max(1, -(-(2 * p - k - op + 1) // s) + 1)
    h, w = draw(st.integers(h_min, h_min + 5)), draw(st.integers(h_min, h_min + 5))
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    return n, c, o, k, s, p, op, h, w, draw(st.booleans()), draw(st.integers(0, 2**16))


@SETTINGS
@given(case=conv_case())
def test_conv2d_forms(backend, form, case):
    n, c, o, k, s, p, h, w, bias, seed = case
    rng = np.random.default_rng(seed)
    layer = nn.Conv2d(c, o, k, s, p, bias=bias, rng=rng).to(np.float64)
    x = rng.standard_normal((n, c, h, w))
    report = check_module(layer, x)
    assert report.passed, report.errors
    W, b = layer.weight.data, layer.bias.data if bias else None
    np.testing.assert_allclose(layer(x), reference.conv2d(x, W, b, s, p), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(layer(x).shape)
    layer.zero_grad()
    dx = layer.backward(dy)
    dx_ref, dW_ref, _ = reference.conv2d_backward(dy, x, W, s, p)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, dW_ref, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=conv_transpose_case())
def test_conv_transpose2d_forms(backend, form, case):
    n, c, o, k, s, p, op, h, w, bias, seed = case
    rng = np.random.default_rng(seed)
    layer = nn.ConvTranspose2d(c, o, k, s, p, op, bias=bias, rng=rng).to(np.float64)
    x = rng.standard_normal((n, c, h, w))
    report = check_module(layer, x)
    assert report.passed, report.errors
    W, b = layer.weight.data, layer.bias.data if bias else None
    expected = reference.conv_transpose2d(x, W, b, s, p, op)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(expected.shape)
    layer.zero_grad()
    dx = layer.backward(dy)
    dx_ref, dW_ref, _ = reference.conv_transpose2d_backward(dy, x, W, s, p)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, dW_ref, rtol=1e-12, atol=1e-12)


def _float32_and_no_mutation(layer: nn.Module, x: np.ndarray, rng: np.random.Generator) -> None:
    x_before = x.copy()
    y = layer(x)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    dy_before = dy.copy()
    dx = layer.backward(dy)
    assert y.dtype == dx.dtype == layer.weight.grad.dtype == np.float32
    assert y.flags.c_contiguous and dx.flags.c_contiguous and dx.shape == x.shape
    assert not np.shares_memory(dx, dy)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dy, dy_before)


@SETTINGS
@given(case=conv_case())
def test_conv2d_forms_keep_float32_and_leave_inputs_alone(backend, form, case):
    n, c, o, k, s, p, h, w, bias, seed = case
    rng = np.random.default_rng(seed)
    layer = nn.Conv2d(c, o, k, s, p, bias=bias, rng=rng)
    _float32_and_no_mutation(layer, rng.standard_normal((n, c, h, w), dtype=np.float32), rng)


@SETTINGS
@given(case=conv_transpose_case())
def test_conv_transpose2d_forms_keep_float32_and_leave_inputs_alone(backend, form, case):
    n, c, o, k, s, p, op, h, w, bias, seed = case
    rng = np.random.default_rng(seed)
    layer = nn.ConvTranspose2d(c, o, k, s, p, op, bias=bias, rng=rng)
    _float32_and_no_mutation(layer, rng.standard_normal((n, c, h, w), dtype=np.float32), rng)


@SETTINGS
@given(case=conv_case(), seed=st.integers(0, 2**16))
def test_col2im_taps_is_col2im_of_the_same_windows(case, seed):
    """The tap-major col2im against col2im on the same windows, with and without a bias."""
    n, c, _, k, s, p, h, w, bias, _ = case
    rng = np.random.default_rng(seed)
    cols = rng.standard_normal(conv.im2col(np.zeros((n, c, h, w)), k, k, s, p).shape)
    b = rng.standard_normal(c) if bias else None
    taps = np.ascontiguousarray(cols.transpose(3, 4, 0, 1, 2, 5))
    expected = conv.col2im(cols, (n, c, h, w), s, p, b)
    got = conv.col2im_taps(taps, (n, c, h, w), s, p, b)
    assert got.flags.c_contiguous and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
