"""Every Numba CPU kernel against its NumPy reference, on hypothesis-drawn shapes (float32).

Each test draws a valid shape directly (input size first, then kernel, stride and padding that
give an output of at least 1) and a seed for the values, runs the reference and the numba
kernel (``minigan.kernels.numba.KERNELS[reference]``, which is what ``backend.kernel`` returns
under the numba backend), and compares outputs, backward outputs and caches with the tolerance
table below. It also checks that the fast op mutates neither its inputs nor ``dy`` and that
``dx`` is a fresh array, and that fast and reference caches are interchangeable (a fast forward
with a reference backward and the other way round), since layers may mix them. The
convolution's lowering kernels are also checked one by one against the reference functions they
replace. BatchNorm is compared with the exact answer instead (see :func:`test_batchnorm`).
"""

from __future__ import annotations

import numpy as np
import pytest
from batchnorm_bounds import (  # tests/batchnorm_bounds.py: pytest puts tests/ on sys.path
    EPS32,
    EPS64,
    backward_bounds,
    channel_axes,
    forward_bounds,
    per_channel,
    within,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba", reason="the numba backend needs numba: pip install 'minigan[numba]'")

from minigan import backend, models, optim
from minigan import functional as F
from minigan.functional import conv as reference_conv
from minigan.kernels.numba import KERNELS, launch
from minigan.kernels.numba import conv as numba_conv
from minigan.step import train_step

# op family -> (rtol, atol as a fraction of the reference's largest magnitude), float32
TOLERANCE = {
    "conv": (1e-5, 2e-6),  # sums of up to C*kh*kw products in another order
    "elementwise": (0.0, 0.0),  # a select or one multiply: bit for bit
    "adam": (0.0, 0.0),  # same operations in the same order: bit for bit
}

FAST = settings(max_examples=15, deadline=None)


@pytest.fixture(scope="module", autouse=True, params=["parallel", "serial"])
def launch_path(request):
    """Every test twice: with every kernel on Numba's pool, and with every kernel on the calling
    thread (both compilations of each loop: ``minigan.kernels.numba.launch``)."""
    saved = launch.SERIAL_BELOW, launch.STREAMING_SERIAL_BELOW
    threshold = 0 if request.param == "parallel" else 2**62
    launch.SERIAL_BELOW = launch.STREAMING_SERIAL_BELOW = threshold
    yield request.param
    launch.SERIAL_BELOW, launch.STREAMING_SERIAL_BELOW = saved


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


def fast(reference):
    """The numba kernel of ``reference``, checked to be what the backend hands out."""
    fn = KERNELS[reference]
    with backend.using("numba"):
        assert backend.kernel(reference, np.zeros(1, np.float32)) is fn
    return fn


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


def check_layer(forward, backward, family: str, fwd_args: tuple, seed: int) -> None:
    """Forward, backward and cache interchange of the references ``forward``/``backward``."""
    y_ref, cache_ref = forward(*fwd_args)
    y_fast, cache_fast = run_checked(fast(forward), *fwd_args)
    close(y_fast, y_ref, family)
    assert type(cache_fast) is type(cache_ref)
    dy = randn(seed + 1, *y_ref.shape)
    grads_ref = backward(dy, cache_ref)
    grads_fast = run_checked(fast(backward), dy, cache_fast)
    close(grads_fast, grads_ref, family)
    dx = grads_fast[0] if isinstance(grads_fast, tuple) else grads_fast
    assert not np.shares_memory(dx, dy)
    close(fast(backward)(dy, cache_ref), grads_ref, family)
    close(backward(dy, cache_fast), grads_ref, family)


@st.composite
def conv_case(draw):
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, k - 1))
    h = draw(st.integers(max(1, k - 2 * padding), 9))
    w = draw(st.integers(max(1, k - 2 * padding), 9))
    # up to 10 channels: both forms of the products (per sample below PER_SAMPLE_CHANNELS = 8)
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 10)), draw(st.integers(1, 10))
    return n, c, o, h, w, k, stride, padding, draw(st.booleans()), draw(st.integers(0, 2**16))


@FAST
@given(conv_case())
def test_conv2d(case):
    n, c, o, h, w, k, stride, padding, bias, seed = case
    x, W = randn(seed, n, c, h, w), randn(seed + 2, o, c, k, k)
    b = randn(seed + 3, o) if bias else None
    check_layer(F.conv2d_forward, F.conv2d_backward, "conv", (x, W, b, stride, padding), seed)


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
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 10)), draw(st.integers(1, 10))
    bias, seed = draw(st.booleans()), draw(st.integers(0, 2**16))
    return n, c, o, h, w, k, stride, padding, output_padding, bias, seed


@FAST
@given(conv_transpose_case())
def test_conv_transpose2d(case):
    n, c, o, h, w, k, stride, padding, output_padding, bias, seed = case
    x, W = randn(seed, n, c, h, w), randn(seed + 2, c, o, k, k)
    b = randn(seed + 3, o) if bias else None
    args = (x, W, b, stride, padding, output_padding)
    check_layer(F.conv_transpose2d_forward, F.conv_transpose2d_backward, "conv", args, seed)


shapes = st.lists(st.integers(1, 7), min_size=1, max_size=4).map(tuple)


def away_from_zero(x: np.ndarray) -> np.ndarray:
    """ReLU and LeakyReLU have a kink at 0: keep inputs at least 1e-3 from it."""
    return np.where(np.abs(x) < 1e-3, np.float32(1e-3), x).astype(np.float32)


@FAST
@given(shapes, st.integers(0, 2**16), st.floats(0.0, 0.5))
def test_activations(shape, seed, slope):
    x = away_from_zero(randn(seed, *shape))
    check_layer(F.relu_forward, F.relu_backward, "elementwise", (x,), seed)
    check_layer(F.leaky_relu_forward, F.leaky_relu_backward, "elementwise", (x, slope), seed)


# ---- BatchNorm, against the exact answer ---------------------------------------------------------
# A float32 BatchNorm cannot match another to a fixed tolerance: each is compared with the
# reference evaluated in float64 on the same float32 inputs, within the bounds argued in
# tests/batchnorm_bounds.py from the conditioning of each channel.
def check_forward(x, gamma, beta, stats, training, momentum, eps, y, cache, new_stats) -> None:
    """A float32 forward ``y``, its cache and running statistics against the exact answer."""
    f64 = [a.astype(np.float64) for a in (x, gamma, beta, *stats)]
    y64, cache64 = F.batchnorm_forward(*f64, training, momentum, eps)  # updates f64[3:]
    m, axes = x.size // x.shape[1], channel_axes(x.ndim)
    mean = f64[0].mean(axis=axes) if training else f64[3]
    bounds = forward_bounds(x, gamma, beta, mean, cache64.inv_std, cache64.x_hat)
    for name, a, b, bound in zip(
        ("x_hat", "y", "inv_std"),
        (cache.x_hat, y, cache.inv_std),
        (cache64.x_hat, y64, cache64.inv_std),
        bounds,
    ):
        within(a, b, bound, name)
    batch = (mean, f64[0].var(axis=axes) * m / (m - 1)) if training else f64[3:]
    for name, a, b, old, new in zip(("mean", "var"), new_stats, f64[3:], stats, batch):
        within(a, b, 4 * EPS32 * (np.abs(old) + np.abs(new)), f"running_{name}")


def check_backward(backward, dy, cache, term_eps: float, sum_eps: float, what: str):
    """``backward(dy, cache)`` against the float64 reference on the same inputs; ``term_eps``
    and ``sum_eps`` say how ``backward`` forms and sums the terms of dgamma and dbeta (see
    :func:`batchnorm_bounds.backward_bounds`)."""
    x_hat, inv_std, gamma, training = (*(a.astype(np.float64) for a in cache[:3]), cache[3])
    exact = F.batchnorm_backward(
        dy.astype(np.float64), type(cache)(x_hat, inv_std, gamma, training)
    )
    bounds = backward_bounds(dy, x_hat, gamma, inv_std, *exact[1:], training, term_eps, sum_eps)
    got = run_checked(backward, dy, cache)
    for name, a, b, bound in zip(("dx", "dgamma", "dbeta"), got, exact, bounds):
        within(a, b, bound, f"{what}: {name}")
    return got


@st.composite
def batchnorm_case(draw):
    """``(shape, training, momentum, spread, seed)``: channels of ``spread`` around means of
    size ~4, so a small spread makes them ill-conditioned."""
    n = draw(st.integers(2, 6))
    c = draw(st.integers(1, 6))
    rest = draw(st.sampled_from([(), (draw(st.integers(1, 5)),), (3, 4), (1, 1)]))
    training = draw(st.booleans())
    momentum, spread = draw(st.floats(0.0, 1.0)), draw(st.floats(1e-3, 3.0))
    return (n, c, *rest), training, momentum, spread, draw(st.integers(0, 2**16))


@FAST
@given(batchnorm_case())
@example(((2, 3, 1), True, 0.1, 1e-3, 7))  # m = 2 values close together: kappa ~ 1e4
@example(((3, 2), True, 0.1, 2e-3, 1980))  # (N, C): the numba backend runs the reference
def test_batchnorm(case):
    """The numba kernels (and the reference with their caches) against the exact answer,
    within the bounds of tests/batchnorm_bounds.py."""
    shape, training, momentum, spread, seed = case
    c, eps, ndim = shape[1], 1e-5, len(shape)
    x = (randn(seed, *shape) * spread + per_channel(randn(seed + 8, c) * 4, ndim)).astype(
        np.float32
    )
    gamma, beta = randn(seed + 4, c), randn(seed + 5, c)
    stats = [np.abs(randn(seed + 6, c)), np.abs(randn(seed + 7, c)) + 0.5]
    stats_ref, stats_fast = [s.copy() for s in stats], [s.copy() for s in stats]
    y_ref, cache_ref = F.batchnorm_forward(x, gamma, beta, *stats_ref, training, momentum, eps)
    forward = fast(F.batchnorm_forward)  # updates stats_fast in place; x, gamma, beta not
    y, cache = run_checked(
        lambda *xgb: forward(*xgb, *stats_fast, training, momentum, eps), x, gamma, beta
    )
    assert type(cache) is type(cache_ref) and y.dtype == cache.x_hat.dtype == np.float32
    if ndim == 2:  # (N, C) runs the reference itself, by design
        for a, b in zip((y, *cache[:2], *stats_fast), (y_ref, *cache_ref[:2], *stats_ref)):
            np.testing.assert_array_equal(a, b)
    else:
        check_forward(x, gamma, beta, stats, training, momentum, eps, y, cache, stats_fast)
    dy = randn(seed + 1, *shape)
    backward = fast(F.batchnorm_backward)
    # (term_eps, sum_eps): the kernel multiplies and sums in float64; the reference, which it
    # runs on (N, C), forms dy * x_hat and sums in float32
    reference_eps = (EPS32, EPS32)
    kernel_eps = reference_eps if ndim == 2 else (0.0, EPS64)
    dx = check_backward(backward, dy, cache, *kernel_eps, "numba")[0]
    assert not np.shares_memory(dx, dy)
    # the caches are interchangeable: each backward on the other's cache
    check_backward(backward, dy, cache_ref, *kernel_eps, "numba on the reference's cache")
    check_backward(F.batchnorm_backward, dy, cache, *reference_eps, "reference on numba's cache")


@FAST
@given(shapes, st.integers(1, 1000), st.floats(0.0, 0.95), st.floats(0.9, 0.9999))
def test_adam_update(shape, t, beta1, beta2):
    w, g = randn(t, *shape), randn(t + 1, *shape)
    m, v = randn(t + 2, *shape) * 0.1, np.abs(randn(t + 3, *shape)) * 0.01
    state_ref = [a.copy() for a in (w, g, m, v)]
    state_fast = [a.copy() for a in (w, g, m, v)]
    F.adam_update(*state_ref, 2e-4, beta1, beta2, 1e-8, t)
    fast(F.adam_update)(*state_fast, 2e-4, beta1, beta2, 1e-8, t)
    for a, b in zip(state_fast, state_ref):
        close(a, b, "adam")
    np.testing.assert_array_equal(state_fast[1], g)  # the gradient is read, never written


def test_kernel_table_keys_are_reference_functions():
    """Every key of both tables is a function of ``minigan.functional``, and under the numba
    backend ``backend.kernel`` hands out this table's entries for NumPy arrays."""
    references = {getattr(F, name) for name in F.__all__}
    tables = {"numba": KERNELS}
    try:
        import minigan.kernels.cuda as cuda_kernels
    except ImportError:  # numba without its CUDA part: the numba table alone
        pass
    else:
        tables["cuda"] = cuda_kernels.KERNELS
    for name, table in tables.items():
        strangers = [k for k in table if k not in references]
        assert not strangers, f"{name} KERNELS keys outside minigan.functional: {strangers}"
    x = np.zeros(3, np.float32)
    with backend.using("numba"):
        for ref, fn in KERNELS.items():
            assert backend.kernel(ref, x) is fn
    with backend.using("numpy"):
        assert all(backend.kernel(ref, x) is ref for ref in KERNELS)


def train_records(name: str, iterations: int = 3, batch: int = 8) -> list[dict[str, float]]:
    """A few DCGAN-28 iterations of the shared training step on backend ``name``."""
    rng = np.random.default_rng(0)
    G, D = models.dcgan28(rng=rng)
    opt_G = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = rng.uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)

    def noise(n: int) -> np.ndarray:
        return rng.standard_normal((n, 100), dtype=np.float32)

    with backend.using(name):
        records = [train_step(G, D, opt_G, opt_D, real, noise) for _ in range(iterations)]
    return [{key: float(value) for key, value in r.items()} for r in records]


def test_training_matches_numpy_backend():
    fast_records, reference_records = train_records("numba"), train_records("numpy")
    for got, expected in zip(fast_records, reference_records):
        assert set(got) == set(expected) >= {"loss_D", "loss_G", "D_x", "D_G_z"}
        for key in expected:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, err_msg=key)
