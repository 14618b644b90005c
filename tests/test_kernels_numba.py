"""Every Numba CPU kernel against its NumPy reference, on hypothesis-drawn shapes (float32).

Each test draws a valid shape directly (input size first, then kernel, stride and padding that
give an output of at least 1) and a seed for the values, runs the reference and the registered
numba op, and compares outputs, backward outputs and caches with the tolerance table below. It
also checks that the fast op mutates neither its inputs nor ``dy`` and that ``dx`` is a fresh
array, and that fast and reference caches are interchangeable (a fast forward with a reference
backward and the other way round), since layers may mix them. The convolution's lowering
kernels are also checked one by one against the reference functions they replace.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numba", reason="the numba backend needs numba: pip install 'minigan[numba]'")

from minigan import backend, functional, losses, models, optim
from minigan.functional import conv as reference_conv
from minigan.kernels import conv as numba_conv
from minigan.kernels import numba_cpu

# op family -> (rtol, atol as a fraction of the reference's largest magnitude), float32
TOLERANCE = {
    "conv": (1e-5, 2e-6),  # sums of up to C*kh*kw products in another order
    "elementwise": (0.0, 0.0),  # a select or one multiply: bit for bit
    "batchnorm": (1e-5, 1e-5),  # float64 moments vs NumPy's float32 pairwise sums
    "adam": (0.0, 0.0),  # same operations in the same order: bit for bit
}

FAST = settings(max_examples=15, deadline=None)


def close(fast, ref, family: str, scale: float | None = None) -> None:
    """Compare nested outputs (arrays, tuples, scalars, None) with the family's tolerance;
    ``atol`` is relative to ``scale``, by default the reference's largest magnitude.
    """
    if isinstance(ref, tuple):
        assert isinstance(fast, tuple) and len(fast) == len(ref)
        for a, b in zip(fast, ref):
            close(a, b, family, scale)
    elif isinstance(ref, np.ndarray):
        assert isinstance(fast, np.ndarray) and fast.shape == ref.shape
        assert fast.dtype == ref.dtype, (fast.dtype, ref.dtype)
        rtol, atol = TOLERANCE[family]
        if scale is None:
            scale = float(np.abs(ref).max()) if ref.size and ref.dtype != np.bool_ else 1.0
        np.testing.assert_allclose(fast, ref, rtol=rtol, atol=atol * max(scale, 1e-30))
    else:
        assert fast == ref


def fast(op: str):
    fn = numba_cpu.OPS[op]
    with backend.using("numba"):
        assert backend.kernel(op) is fn
    return fn


def ref(op: str):
    return getattr(functional, op)


def run_checked(fn, *args):
    """Call ``fn`` and assert it left its array arguments untouched."""
    before = [a.copy() if isinstance(a, np.ndarray) else None for a in args]
    out = fn(*args)
    for a, b in zip(args, before):
        if b is not None:
            np.testing.assert_array_equal(a, b)
    return out


def randn(seed: int, *shape: int, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def check_layer(name: str, family: str, fwd_args: tuple, seed: int) -> None:
    """Forward, backward and cache interchange of ``<name>_forward``/``<name>_backward``."""
    y_ref, cache_ref = ref(f"{name}_forward")(*fwd_args)
    y_fast, cache_fast = run_checked(fast(f"{name}_forward"), *fwd_args)
    close(y_fast, y_ref, family)
    assert type(cache_fast) is type(cache_ref)
    dy = randn(seed + 1, *y_ref.shape)
    grads_ref = ref(f"{name}_backward")(dy, cache_ref)
    grads_fast = run_checked(fast(f"{name}_backward"), dy, cache_fast)
    close(grads_fast, grads_ref, family)
    dx = grads_fast[0] if isinstance(grads_fast, tuple) else grads_fast
    assert not np.shares_memory(dx, dy)
    close(fast(f"{name}_backward")(dy, cache_ref), grads_ref, family)
    close(ref(f"{name}_backward")(dy, cache_fast), grads_ref, family)


@st.composite
def conv_case(draw):
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, k - 1))
    h = draw(st.integers(max(1, k - 2 * padding), 9))
    w = draw(st.integers(max(1, k - 2 * padding), 9))
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return n, c, o, h, w, k, stride, padding, draw(st.booleans()), draw(st.integers(0, 2**16))


@FAST
@given(conv_case())
def test_conv2d(case):
    n, c, o, h, w, k, stride, padding, bias, seed = case
    x, W = randn(seed, n, c, h, w), randn(seed + 2, o, c, k, k)
    b = randn(seed + 3, o) if bias else None
    check_layer("conv2d", "conv", (x, W, b, stride, padding), seed)


@FAST
@given(conv_case())
def test_lowering_kernels(case):
    """Each Numba function of the conv lowering against the reference function it replaces
    (col2im's loop is called directly too: its wrapper sends few channels to the reference)."""
    n, c, _, h, w, k, stride, padding, bias, seed = case
    x = randn(seed, n, c, h, w)
    b = randn(seed + 3, c) if bias else None
    dcols = randn(seed + 1, *reference_conv.im2col(x, k, k, stride, padding).shape)
    expected = reference_conv.col2im(dcols, x.shape, stride, padding, b)
    close(run_checked(numba_conv.col2im, dcols, x.shape, stride, padding, b), expected, "conv")
    loop = numba_conv._col2im(dcols, h, w, stride, padding, numba_conv._bias(b))
    close(loop, expected, "conv")
    rows = randn(seed + 2, n * h * w, c)
    close(
        run_checked(numba_conv.rows_to_nchw, rows, n, h, w, b),
        reference_conv.rows_to_nchw(rows, n, h, w, b),
        "elementwise",
    )


@st.composite
def conv_transpose_case(draw):
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    # output (h - 1) s - 2p + k + op >= 1 for both sides
    padding = draw(st.integers(0, min(k - 1, ((min(h, w) - 1) * stride + k - 1) // 2)))
    output_padding = draw(st.integers(0, stride - 1))
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    bias, seed = draw(st.booleans()), draw(st.integers(0, 2**16))
    return n, c, o, h, w, k, stride, padding, output_padding, bias, seed


@FAST
@given(conv_transpose_case())
def test_conv_transpose2d(case):
    n, c, o, h, w, k, stride, padding, output_padding, bias, seed = case
    x, W = randn(seed, n, c, h, w), randn(seed + 2, c, o, k, k)
    b = randn(seed + 3, o) if bias else None
    args = (x, W, b, stride, padding, output_padding)
    check_layer("conv_transpose2d", "conv", args, seed)


shapes = st.lists(st.integers(1, 7), min_size=1, max_size=4).map(tuple)


def away_from_zero(x: np.ndarray) -> np.ndarray:
    """ReLU and LeakyReLU have a kink at 0: keep inputs at least 1e-3 from it."""
    return np.where(np.abs(x) < 1e-3, np.float32(1e-3), x).astype(np.float32)


@FAST
@given(shapes, st.integers(0, 2**16), st.floats(0.0, 0.5))
def test_activations(shape, seed, slope):
    x = away_from_zero(randn(seed, *shape))
    check_layer("relu", "elementwise", (x,), seed)
    check_layer("leaky_relu", "elementwise", (x, slope), seed)


@st.composite
def batchnorm_case(draw):
    n = draw(st.integers(2, 6))
    c = draw(st.integers(1, 6))
    rest = draw(st.sampled_from([(), (draw(st.integers(1, 5)),), (3, 4), (1, 1)]))
    training = draw(st.booleans())
    return (n, c, *rest), training, draw(st.floats(0.0, 1.0)), draw(st.integers(0, 2**16))


@FAST
@given(batchnorm_case())
def test_batchnorm(case):
    shape, training, momentum, seed = case
    c = shape[1]
    x = randn(seed, *shape) * 3 + 1
    gamma, beta = randn(seed + 4, c), randn(seed + 5, c)
    stats_ref = [np.abs(randn(seed + 6, c)), np.abs(randn(seed + 7, c)) + 0.5]
    stats_fast = [s.copy() for s in stats_ref]
    eps = 1e-5
    y_ref, cache_ref = ref("batchnorm_forward")(x, gamma, beta, *stats_ref, training, momentum, eps)
    y_fast, cache_fast = fast("batchnorm_forward")(
        x, gamma, beta, *stats_fast, training, momentum, eps
    )
    close(y_fast, y_ref, "batchnorm")
    close(cache_fast, cache_ref, "batchnorm")
    for a, b in zip(stats_fast, stats_ref):  # running statistics, updated in place
        close(a, b, "batchnorm")
    dy = randn(seed + 1, *shape)
    grads_ref = ref("batchnorm_backward")(dy, cache_ref)
    grads_fast = run_checked(fast("batchnorm_backward"), dy, cache_fast)
    # dx = gamma/sigma (dy - mean(dy) - x_hat mean(dy x_hat)) can cancel to far below its
    # terms (with m = 2 it is exactly 0): measure its error against the terms' size
    dx_scale = float(np.abs(dy).max() * np.abs(gamma * cache_ref.inv_std).max())
    close(grads_fast[0], grads_ref[0], "batchnorm", dx_scale)
    close(grads_fast[1:], grads_ref[1:], "batchnorm")
    assert not np.shares_memory(grads_fast[0], dy)
    close(ref("batchnorm_backward")(dy, cache_fast)[0], grads_ref[0], "batchnorm", dx_scale)


@FAST
@given(shapes, st.integers(1, 1000), st.floats(0.0, 0.95), st.floats(0.9, 0.9999))
def test_adam_update(shape, t, beta1, beta2):
    w, g = randn(t, *shape), randn(t + 1, *shape)
    m, v = randn(t + 2, *shape) * 0.1, np.abs(randn(t + 3, *shape)) * 0.01
    state_ref = [a.copy() for a in (w, g, m, v)]
    state_fast = [a.copy() for a in (w, g, m, v)]
    optim.adam_update(*state_ref, 2e-4, beta1, beta2, 1e-8, t)
    fast("adam_update")(*state_fast, 2e-4, beta1, beta2, 1e-8, t)
    for a, b in zip(state_fast, state_ref):
        close(a, b, "adam")
    np.testing.assert_array_equal(state_fast[1], g)  # the gradient is read, never written


def test_every_registered_op_is_a_reference_op():
    backend.kernel("adam_update")  # loads the reference table
    assert set(numba_cpu.OPS) <= set(functional.__all__) | {"adam_update"}


def train_losses(name: str, iterations: int = 3, batch: int = 8) -> list[tuple[float, float]]:
    """A few DCGAN-28 iterations (D step on real then fake, G step) on backend ``name``."""
    rng = np.random.default_rng(0)
    G, D = models.dcgan28(rng=rng)
    opt_g = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = rng.uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)
    out = []
    with backend.using(name):
        for _ in range(iterations):
            D.zero_grad()
            logits = D(real)
            loss_real, d_logits = losses.bce_with_logits(logits, np.ones_like(logits))
            D.backward_params(d_logits)
            logits = D(G(rng.standard_normal((batch, 100), dtype=np.float32)))
            loss_fake, d_logits = losses.bce_with_logits(logits, np.zeros_like(logits))
            D.backward_params(d_logits)
            opt_d.step()
            G.zero_grad()
            D.zero_grad()
            logits = D(G(rng.standard_normal((batch, 100), dtype=np.float32)))
            loss_g, d_logits = losses.generator_loss(logits)
            G.backward_params(D.backward(d_logits))
            opt_g.step()
            out.append((loss_real + loss_fake, loss_g))
    return out


def test_training_matches_numpy_backend():
    np.testing.assert_allclose(train_losses("numba"), train_losses("numpy"), rtol=1e-4)
