"""Every layer: finite-difference gradients in float64 on hypothesis-drawn shapes, output shapes,
dtype preservation, no mutation of inputs, no aliasing of ``dx`` with ``dy``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan import nn
from minigan.functional import conv_output_size, conv_transpose_output_size
from minigan.gradcheck import check_module

# the backend fixture only selects kernels, so sharing it across examples is safe
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TOLERANCE = 1e-6


@st.composite
def conv_case(draw):
    """A valid Conv2d: draw kernel, stride, padding, then an input at least as large as the
    kernel after padding (so the output has at least one pixel)."""
    n, c, o = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    k, s, p = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    p = min(p, k - 1)  # PyTorch allows p >= k, but padding wider than the kernel only adds zeros
    h = draw(st.integers(max(1, k - 2 * p), 9))
    w = draw(st.integers(max(1, k - 2 * p), 9))
    return n, c, o, k, s, p, h, w


@st.composite
def conv_transpose_case(draw):
    """A valid ConvTranspose2d: output_padding < stride, and an output of at least one pixel."""
    n, c, o = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    k, s, p = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    op = draw(st.integers(0, s - 1))
    # smallest input whose output (h-1)s - 2p + k + op is >= 1
    h_min = max(1, -(-(2 * p - k - op + 1) // s) + 1)
    h = draw(st.integers(h_min, max(h_min, 6)))
    w = draw(st.integers(h_min, max(h_min, 6)))
    return n, c, o, k, s, p, op, h, w


def _check(layer: nn.Module, x: np.ndarray) -> None:
    report = check_module(layer, x)
    assert report.passed, report.errors


def _away_from_kink(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """ReLU/LeakyReLU have a kink at 0: a difference quotient straddling it is wrong by design,
    so inputs are kept at least 0.1 away from it."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)


# ---- gradients -----------------------------------------------------------------------------------
@SETTINGS
@given(case=conv_case(), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv2d_gradients(backend, case, bias, seed):
    n, c, o, k, s, p, h, w = case
    rng = np.random.default_rng(seed)
    layer = nn.Conv2d(c, o, k, s, p, bias=bias, rng=rng).to(np.float64)
    x = rng.standard_normal((n, c, h, w))
    assert layer(x).shape == (n, o, conv_output_size(h, k, s, p), conv_output_size(w, k, s, p))
    _check(layer, x)


@SETTINGS
@given(case=conv_transpose_case(), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv_transpose2d_gradients(backend, case, bias, seed):
    n, c, o, k, s, p, op, h, w = case
    rng = np.random.default_rng(seed)
    layer = nn.ConvTranspose2d(c, o, k, s, p, op, bias=bias, rng=rng).to(np.float64)
    x = rng.standard_normal((n, c, h, w))
    expected = (
        conv_transpose_output_size(h, k, s, p, op),
        conv_transpose_output_size(w, k, s, p, op),
    )
    assert layer(x).shape == (n, o, *expected)
    _check(layer, x)


@SETTINGS
@given(
    n=st.integers(1, 4),
    fin=st.integers(1, 9),
    fout=st.integers(1, 9),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_linear_gradients(backend, n, fin, fout, bias, seed):
    rng = np.random.default_rng(seed)
    layer = nn.Linear(fin, fout, bias=bias, rng=rng).to(np.float64)
    x = rng.standard_normal((n, fin))
    assert layer(x).shape == (n, fout)
    _check(layer, x)


@SETTINGS
@given(
    shape=st.sampled_from(["1d", "1d-seq", "2d"]),
    n=st.integers(2, 4),
    c=st.integers(1, 5),
    s=st.integers(1, 4),
    training=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_batchnorm_gradients(backend, shape, n, c, s, training, seed):
    rng = np.random.default_rng(seed)
    layer, x_shape = {
        "1d": (nn.BatchNorm1d(c), (n, c)),
        "1d-seq": (nn.BatchNorm1d(c), (n, c, s)),
        "2d": (nn.BatchNorm2d(c), (n, c, s, s)),
    }[shape]
    layer.to(np.float64).train(training)
    layer.weight.data[...] = rng.uniform(0.5, 1.5, c)
    layer.bias.data[...] = rng.standard_normal(c)
    layer.running_mean[...] = rng.standard_normal(c)
    layer.running_var[...] = rng.uniform(0.5, 1.5, c)
    _check(layer, rng.standard_normal(x_shape) * 2 + 1)


ELEMENTWISE = {
    "ReLU": lambda: nn.ReLU(),
    "LeakyReLU": lambda: nn.LeakyReLU(0.2),
    "Tanh": lambda: nn.Tanh(),
    "Sigmoid": lambda: nn.Sigmoid(),
    "Dropout": lambda: nn.Dropout(0.4, rng=np.random.default_rng(7)),
}


@SETTINGS
@given(
    name=st.sampled_from(sorted(ELEMENTWISE)),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_elementwise_gradients(backend, name, shape, seed):
    # Dropout's mask is held fixed: check_module replays its generator before every forward pass.
    rng = np.random.default_rng(seed)
    _check(ELEMENTWISE[name]().to(np.float64), _away_from_kink(rng, tuple(shape)))


def test_shape_layers_gradients(backend, rng):
    _check(nn.Flatten(), rng.standard_normal((3, 2, 4, 5)))
    _check(nn.Reshape(4, 5), rng.standard_normal((3, 20)))


def test_small_model_gradients(backend, rng):
    """The layers composed as in DCGAN, in miniature: the chain rule across layers."""
    g = nn.Sequential(
        nn.Linear(3, 8, rng=rng), nn.BatchNorm1d(8), nn.ReLU(), nn.Reshape(2, 2, 2),
        nn.ConvTranspose2d(2, 2, 4, 2, 1, rng=rng), nn.BatchNorm2d(2), nn.LeakyReLU(0.2),
        nn.Conv2d(2, 1, 3, 2, 1, rng=rng), nn.Tanh(), nn.Flatten(),
    ).to(np.float64)  # fmt: skip
    _check(g, rng.standard_normal((4, 3)))


# ---- adjointness ---------------------------------------------------------------------------------
@SETTINGS
@given(case=conv_case(), seed=st.integers(0, 2**16))
def test_conv_transpose_is_adjoint_of_conv(backend, case, seed):
    """<conv(x), y> = <x, conv_transpose(y)> with the same weights and no bias."""
    n, c, o, k, s, p, h, w = case
    rng = np.random.default_rng(seed)
    conv = nn.Conv2d(c, o, k, s, p, bias=False, rng=rng).to(np.float64)
    x = rng.standard_normal((n, c, h, w))
    y_shape = conv(x).shape
    # the transposed conv's output_padding recovers the input size lost to the stride's floor
    op_h = (h + 2 * p - k) % s
    op_w = (w + 2 * p - k) % s
    if op_h != op_w:
        return  # ConvTranspose2d here takes one output_padding for both axes
    convt = nn.ConvTranspose2d(o, c, k, s, p, op_h, bias=False).to(np.float64)
    convt.weight.data[...] = conv.weight.data  # (out, in, k, k) read as (in, out, k, k)
    y = rng.standard_normal(y_shape)
    back = convt(y)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(conv(x), y), np.vdot(x, back), rtol=1e-12, atol=1e-12)


# ---- dtypes, mutation and aliasing ---------------------------------------------------------------
LAYERS_FLOAT32 = [
    (lambda: nn.Linear(6, 4), (3, 6)),
    (lambda: nn.Conv2d(2, 3, 4, 2, 1), (3, 2, 8, 8)),
    (lambda: nn.ConvTranspose2d(2, 3, 4, 2, 1), (3, 2, 4, 4)),
    (lambda: nn.BatchNorm1d(6), (3, 6)),
    (lambda: nn.BatchNorm2d(2), (3, 2, 4, 4)),
    (lambda: nn.ReLU(), (3, 6)),
    (lambda: nn.LeakyReLU(0.2), (3, 6)),
    (lambda: nn.Tanh(), (3, 6)),
    (lambda: nn.Sigmoid(), (3, 6)),
    (lambda: nn.Dropout(0.5), (3, 6)),
]


@pytest.mark.parametrize(("make", "shape"), LAYERS_FLOAT32)
@pytest.mark.parametrize("training", [True, False])
def test_float32_in_float32_out_no_mutation_no_aliasing(backend, make, shape, training, rng):
    layer = make().train(training)
    x = rng.standard_normal(shape).astype(np.float32)
    x_before = x.copy()
    y = layer(x)
    assert y.dtype == np.float32
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dy_before = dy.copy()
    dx = layer.backward(dy)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    for p in layer.parameters():
        assert p.grad.dtype == np.float32
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dy, dy_before)
    assert not np.shares_memory(dx, dy)
    assert not np.shares_memory(y, x)


def test_backward_accumulates_until_zero_grad(rng):
    layer = nn.Linear(3, 2, rng=rng)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    dy = np.ones((4, 2), np.float32)
    layer(x)
    layer.backward(dy)
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-6)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


# ---- PyTorch conventions -------------------------------------------------------------------------
def test_parameter_layouts_and_default_init_bounds():
    rng = np.random.default_rng(0)
    lin, conv = nn.Linear(100, 50, rng=rng), nn.Conv2d(3, 8, 5, rng=rng)
    convt = nn.ConvTranspose2d(8, 4, 3, rng=rng)
    assert lin.weight.shape == (50, 100) and conv.weight.shape == (8, 3, 5, 5)
    assert convt.weight.shape == (8, 4, 3, 3)
    for layer, fan_in in ((lin, 100), (conv, 3 * 25), (convt, 4 * 9)):
        bound = 1 / np.sqrt(fan_in)
        for p in (layer.weight.data, layer.bias.data):
            assert p.dtype == np.float32
            assert np.abs(p).max() <= bound
        # hundreds of weights drawn over the whole interval (P(max < 0.9 bound) < 0.9**288)
        assert np.abs(layer.weight.data).max() > 0.9 * bound


def test_batchnorm_running_statistics_follow_pytorch(rng):
    bn = nn.BatchNorm2d(3, momentum=0.1)
    x = rng.normal(2.0, 3.0, (8, 3, 4, 4)).astype(np.float32)
    bn(x)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)  # unbiased for running
    np.testing.assert_allclose(bn.running_mean, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * var, rtol=1e-5)
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    y = bn(x)
    expected = (x - bn.running_mean[None, :, None, None]) / np.sqrt(
        bn.running_var[None, :, None, None] + bn.eps
    )
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert int(bn.num_batches_tracked) == 1  # eval mode leaves the statistics alone


def test_dropout_is_seeded_and_identity_in_eval():
    x = np.ones((1000,), np.float32)
    a = nn.Dropout(0.3, rng=np.random.default_rng(5))(x)
    b = nn.Dropout(0.3, rng=np.random.default_rng(5))(x)
    np.testing.assert_array_equal(a, b)
    assert abs((a == 0).mean() - 0.3) < 0.05
    np.testing.assert_allclose(a[a != 0], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(nn.Dropout(0.3).eval()(x), x)
