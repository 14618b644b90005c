r"""BatchNorm on the CPU: one Numba task per channel, its sweeps made while the channel is in cache.

Math and cache: :func:`minigan.functional.batchnorm.batchnorm_forward` and
:func:`minigan.functional.batchnorm.batchnorm_backward` (the derivation of
:math:`dx = \frac{1}{\sqrt{\sigma^2+\epsilon}}(d\hat x - \operatorname{mean}(d\hat x) - \hat x
\operatorname{mean}(d\hat x\,\hat x))`; the same ``BatchNormCache``). The input (N, C, L) or
(N, C, H, W) is viewed as (N, C, L); one task takes one channel's ``m = N*L`` values. Where it
differs from the reference:

- **accumulation**: every sum (:math:`\sum x`, :math:`\sum (x-\mu)^2`, :math:`\sum dy`,
  :math:`\sum dy\,\hat x`) is a float64 loop, since a sequential float32 sum over up to
  ``N*H*W`` values would lose digits in proportion to its length; the variance takes the
  reference's two passes, the mean first, then the mean of squared deviations (never
  :math:`E[x^2] - \mu^2`, which cancels when :math:`|\mu| \gg \sigma`);
- **fusion**: forward writes :math:`\hat x` and :math:`y = \gamma \hat x + \beta` in one sweep
  (in float32, with :math:`\mu` and :math:`1/\sqrt{\sigma^2+\epsilon}` rounded to float32 first),
  backward writes :math:`dx = \gamma\,\mathrm{inv\_std}\,(dy - d\beta/m - \hat x\,d\gamma/m)` in
  one (the two means zero in evaluation mode); the reference makes several array passes;
- **threads**: DCGAN-28's BatchNorm2d inputs run on the calling thread, faster there than on
  Numba's pool (:mod:`minigan.kernels.numba.launch`).

The running statistics (C values) are updated with the reference's NumPy expressions. A 2-D
input (N, C) (``BatchNorm1d`` after a ``Linear``) goes to the reference: every channel is then
a strided column, one value per cache line, while the reference's ``einsum`` reductions run
along contiguous rows (measured faster: ``docs/performance.md``, "The kernels, measured").
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from minigan.functional import batchnorm as reference
from minigan.functional.batchnorm import BatchNormCache
from minigan.kernels.numba.launch import pick, twins

# The float64 sums allow reassociation and contraction to fused multiply-adds, their only
# relaxations: LLVM then vectorises them (several lanes instead of one chain of dependent adds),
# which changes their rounding at the 1e-16 level, far below float32.


@njit(cache=True, fastmath={"reassoc", "contract"})
def _sum(a, ch):  # pragma: no cover - compiled
    """``sum a[:, ch, :]`` in float64."""
    s = 0.0
    for nb in range(a.shape[0]):
        for i in range(a.shape[2]):
            s += np.float64(a[nb, ch, i])
    return s


@njit(cache=True, fastmath={"reassoc", "contract"})
def _squared_deviations(a, ch, mu):  # pragma: no cover - compiled
    """``sum (a[:, ch, :] - mu)^2`` in float64 (``mu`` a float64)."""
    s = 0.0
    for nb in range(a.shape[0]):
        for i in range(a.shape[2]):
            d = np.float64(a[nb, ch, i]) - mu
            s += d * d
    return s


@njit(cache=True, fastmath={"reassoc", "contract"})
def _sums(a, b, ch):  # pragma: no cover - compiled
    """``(sum a[:, ch, :], sum (a b)[:, ch, :])`` in float64, in one sweep."""
    s = 0.0
    s_ab = 0.0
    for nb in range(a.shape[0]):
        for i in range(a.shape[2]):
            v = np.float64(a[nb, ch, i])
            s += v
            s_ab += v * b[nb, ch, i]
    return s, s_ab


def _forward_loop(x, gamma, beta, mean, var, training, eps, y, x_hat):  # pragma: no cover
    n, c, length = x.shape
    m = n * length
    for ch in prange(c):
        if training:
            mean[ch] = _sum(x, ch) / m
            var[ch] = _squared_deviations(x, ch, mean[ch]) / m
        mu = x.dtype.type(mean[ch])
        inv = x.dtype.type(1.0 / np.sqrt(var[ch] + eps))
        g, b = gamma[ch], beta[ch]
        for nb in range(n):
            for i in range(length):
                h = (x[nb, ch, i] - mu) * inv
                x_hat[nb, ch, i] = h
                y[nb, ch, i] = h * g + b


def _backward_loop(dy, x_hat, gamma, inv_std, training, dx, dgamma, dbeta):  # pragma: no cover
    n, c, length = dy.shape
    m = n * length
    for ch in prange(c):
        dbeta[ch], dgamma[ch] = _sums(dy, x_hat, ch)
        scale = gamma[ch] * inv_std[ch]
        # the batch statistics carry gradient only in training
        mean_d = dy.dtype.type(dbeta[ch] / m if training else 0.0)
        mean_dh = dy.dtype.type(dgamma[ch] / m if training else 0.0)
        for nb in range(n):
            for i in range(length):
                dx[nb, ch, i] = scale * (dy[nb, ch, i] - mean_d - x_hat[nb, ch, i] * mean_dh)


_forward, _backward = twins(_forward_loop), twins(_backward_loop)


def _as_ncl(a: np.ndarray) -> np.ndarray:
    """(N, C, ...) as a contiguous (N, C, L) view."""
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[np.ndarray, BatchNormCache]:
    """Fast :func:`minigan.functional.batchnorm_forward` (running statistics updated in place
    in training, as there). (N, C) inputs go to the reference (see the module notes).
    """
    if x.ndim == 2:
        return reference.batchnorm_forward(
            x, gamma, beta, running_mean, running_var, training, momentum, eps
        )
    x3 = _as_ncl(x)
    c = x.shape[1]
    if training:
        mean, var = np.empty(c, np.float64), np.empty(c, np.float64)
    else:
        mean, var = running_mean.astype(np.float64), running_var.astype(np.float64)
    y, x_hat = np.empty_like(x3), np.empty_like(x3)
    pick(_forward, x3.size, streaming=True)(
        x3, gamma, beta, mean, var, training, float(eps), y, x_hat
    )
    if training:
        reference.update_running_stats(running_mean, running_var, mean, var, x.size // c, momentum)
    inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype)
    return y.reshape(x.shape), BatchNormCache(x_hat.reshape(x.shape), inv_std, gamma, training)


def batchnorm_backward(
    dy: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fast :func:`minigan.functional.batchnorm_backward`: ``(dx, dgamma, dbeta)``."""
    if dy.ndim == 2:
        return reference.batchnorm_backward(dy, cache)
    x_hat, inv_std, gamma, training = cache
    dy3 = _as_ncl(dy)
    c = dy.shape[1]
    dx = np.empty_like(dy3)
    dgamma, dbeta = np.empty(c), np.empty(c)
    pick(_backward, dy3.size, streaming=True)(
        dy3, _as_ncl(x_hat), gamma, inv_std, training, dx, dgamma, dbeta
    )
    return dx.reshape(dy.shape), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
