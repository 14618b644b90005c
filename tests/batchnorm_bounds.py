"""Error bounds for a float32 BatchNorm against the exact answer, shared by
``tests/test_kernels_numba.py`` and ``tests/test_kernels_cuda.py`` (imported as a plain module:
pytest puts ``tests/``, which has no ``__init__.py``, on ``sys.path``).

A float32 BatchNorm cannot match another float32 BatchNorm to a fixed tolerance: x_hat =
(x - mean) * inv_std turns a rounding of x - mean, up to eps32 * max|x| absolute, into an error
of eps32 * max|x| * inv_std, as large as the conditioning of the channel makes it. For a channel
of nearly equal values (shape (1, 2, 3), seed 1980 of the CUDA tests: three values within 0.02
of -5.38, inv_std = 101) the float32 reference's own x_hat is off by 4.8e-5 and its y by 7e-5,
while a kernel with float64 sums and arithmetic is within one float32 rounding of the exact
answer. So each implementation is compared with the reference evaluated in float64 on the same
float32 inputs (exact to ~1e-15), within bounds derived from that conditioning,
kappa = 1 + (max|x| + |mean|) * inv_std per channel:

  x_hat    4 eps32 (kappa + |x_hat|): the roundings of mean and x - mean, then of the scaling
           (4 covers a kernel's two or three float32 roundings of each);
  y        |gamma| times that, + 4 eps32 |beta|;
  inv_std  4 eps32 inv_std (a float64 variance, rounded once);
  running statistics   4 eps32 (|old| + |new batch statistic|);
  dgamma, dbeta   4 eps32 |exact|, plus the worst case of the sum of m terms that makes them,
           (term_eps + m (sum_eps + eps64)) sum|terms|: term_eps the rounding of each term
           before the sum (eps32 where dy * x_hat is formed in float32, as by the CUDA kernel
           and the float32 reference; 0 for the Numba kernel, which multiplies in float64),
           sum_eps the precision the sum is accumulated in, eps64 the exact sum's own;
  dx       4 eps32 |gamma inv_std| (|dy| + |mean(dy)| + |x_hat mean(dy x_hat)|), relative to
           the terms dx is the difference of, as it can cancel far below them (to 0 at m = 2),
           plus the sums' errors carried in by the two means.

The kernels sum in float64, where the sums' errors are negligible; they matter for the float32
reference, which the numba backend runs on (N, C) inputs, and which may get a kernel's cache.
"""

from __future__ import annotations

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)
EPS64 = float(np.finfo(np.float64).eps)


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) vector shaped to broadcast against an (N, C, ...) array of ``ndim`` axes."""
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


def channel_axes(ndim: int) -> tuple[int, ...]:
    """Every axis of an (N, C, ...) array of ``ndim`` axes but the channel axis."""
    return (0, *range(2, ndim))


def within(actual: np.ndarray, exact: np.ndarray, bound: np.ndarray, what: str) -> None:
    """Assert that float32 ``actual`` has ``|actual - exact| <= bound`` everywhere, naming the
    worst element if not."""
    assert actual.dtype == np.float32 and actual.shape == exact.shape, (
        what,
        actual.dtype,
        actual.shape,
        exact.shape,
    )
    excess = np.abs(actual.astype(np.float64) - exact) - bound
    k = np.unravel_index(np.argmax(excess), excess.shape)
    assert excess[k] <= 0, f"{what}: {actual[k]} vs exact {exact[k]}, {excess[k]:.3g} past bound"


def forward_bounds(x, gamma, beta, mean, inv_std, x_hat):
    """Bounds of the errors of ``(x_hat, y, inv_std)`` for an (N, C, ...) input ``x``, from the
    exact mean (of the batch, or the running one), inv_std and x_hat."""
    ndim = x.ndim
    kappa = 1 + (np.abs(x).max(axis=channel_axes(ndim)) + np.abs(mean)) * inv_std
    x_hat_bound = 4 * EPS32 * (per_channel(kappa, ndim) + np.abs(x_hat))
    beta_bound = 4 * EPS32 * np.abs(per_channel(beta, ndim))
    return (
        x_hat_bound,
        np.abs(per_channel(gamma, ndim)) * x_hat_bound + beta_bound,
        4 * EPS32 * inv_std,
    )


def backward_bounds(dy, x_hat, gamma, inv_std, dgamma, dbeta, training, term_eps, sum_eps):
    """Bounds of the errors of ``(dx, dgamma, dbeta)`` for an (N, C, ...) ``dy``, from the exact
    x_hat, inv_std, gamma and sums; ``term_eps`` is the rounding of each term of a sum (0 where
    ``dy * x_hat`` is formed in float64), ``sum_eps`` the precision the sums are accumulated in.
    """
    m, axes = dy.size // dy.shape[1], channel_axes(dy.ndim)

    def col(v):
        return per_channel(v, dy.ndim)

    def sum_error(terms):  # the worst case of a sum of m terms, and of the exact one
        return (term_eps + m * (sum_eps + EPS64)) * np.abs(terms).sum(axis=axes)

    dbeta_bound = 4 * EPS32 * np.abs(dbeta) + sum_error(dy)
    dgamma_bound = 4 * EPS32 * np.abs(dgamma) + sum_error(dy * x_hat)
    terms, means_error = np.abs(dy), 0.0
    if training:
        terms = terms + (col(np.abs(dbeta)) + np.abs(x_hat * col(dgamma))) / m
        means_error = (col(sum_error(dy)) + np.abs(x_hat) * col(sum_error(dy * x_hat))) / m
    dx_bound = col(np.abs(gamma * inv_std)) * (4 * EPS32 * terms + means_error)
    return dx_bound, dgamma_bound, dbeta_bound
