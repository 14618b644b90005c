r"""Batch normalisation forward and backward on the GPU, one block per channel.

NumPy reference: :func:`minigan.functional.batchnorm.batchnorm_forward` and
:func:`~minigan.functional.batchnorm.batchnorm_backward` (same cache: ``x_hat``, ``inv_std``).
Arrays are seen as (N, C, S) with ``S`` the product of the axes after the channel (1 for
``BatchNorm1d`` on (N, C)); channel ``c`` has ``m = N*S`` values.

Forward, block ``c``: in training, two passes give :math:`\mu = \frac1m\sum x` and then
:math:`\sigma^2 = \frac1m\sum (x-\mu)^2` (two passes: no cancellation, unlike
:math:`E[x^2]-\mu^2`); in evaluation the running statistics stand in. Thread 0 stores
:math:`1/\sqrt{\sigma^2+\epsilon}` and updates the running statistics (PyTorch's unbiased
variance); a third pass writes :math:`\hat x` and :math:`y = \gamma\hat x + \beta`.

Backward, block ``c``: one pass sums :math:`d\beta = \sum dy` and :math:`d\gamma = \sum dy\,\hat x`;
a second writes :math:`dx = \gamma\,\mathrm{inv\_std}\,(dy - d\beta/m - \hat x\, d\gamma/m)`, the
two means being zero in evaluation mode.

The channel's values are strided ``j -> (j // S, c, j % S)``; all sums are float64.
"""

from __future__ import annotations

import math
from typing import Any

from numba import cuda, float64

from minigan.kernels.cuda_common import THREADS, block_sum, reduction_threads


@cuda.jit
def _batchnorm_forward_kernel(  # type: ignore[no-untyped-def]
    x, gamma, beta, running_mean, running_var, training, momentum, eps, x_hat, y, inv_std
):
    """Block ``c`` normalises channel ``c`` (see the module docstring)."""
    shared = cuda.shared.array(THREADS, float64)
    c, t, step = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    inner = x.shape[2]
    m = x.shape[0] * inner
    if training:
        partial = 0.0
        for j in range(t, m, step):
            partial += x[j // inner, c, j % inner]
        mean = block_sum(partial, shared) / m
        partial = 0.0
        for j in range(t, m, step):
            d = x[j // inner, c, j % inner] - mean
            partial += d * d
        var = block_sum(partial, shared) / m
    else:
        mean, var = float64(running_mean[c]), float64(running_var[c])
    scale = 1 / math.sqrt(var + eps)
    if t == 0:
        inv_std[c] = scale
        if training:
            running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean
            running_var[c] = (1 - momentum) * running_var[c] + momentum * m / (m - 1) * var
    g, b = gamma[c], beta[c]
    for j in range(t, m, step):
        n, s = j // inner, j % inner
        h = (x[n, c, s] - mean) * scale
        x_hat[n, c, s] = h
        y[n, c, s] = g * h + b


def batchnorm_forward(
    x: Any,
    gamma: Any,
    beta: Any,
    running_mean: Any,
    running_var: Any,
    training: bool,
    momentum: float,
    eps: float,
    x_hat: Any,
    y: Any,
    inv_std: Any,
    stream: Any = 0,
) -> None:
    """Launch :func:`_batchnorm_forward_kernel`: ``x``, ``x_hat``, ``y`` (N, C, S); the others
    (C,). Fills ``x_hat``, ``y``, ``inv_std``; in training updates the running statistics in place.
    """
    threads = reduction_threads(x.shape[0] * x.shape[2])
    _batchnorm_forward_kernel[x.shape[1], threads, stream](
        x, gamma, beta, running_mean, running_var, training, momentum, eps, x_hat, y, inv_std
    )


@cuda.jit
def _batchnorm_backward_kernel(  # type: ignore[no-untyped-def]
    dy, x_hat, gamma, inv_std, training, dx, dgamma, dbeta
):
    """Block ``c`` computes ``dgamma[c]``, ``dbeta[c]`` and channel ``c`` of ``dx``."""
    shared = cuda.shared.array(THREADS, float64)
    c, t, step = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    inner = dy.shape[2]
    m = dy.shape[0] * inner
    partial_dy, partial_dy_xhat = 0.0, 0.0
    for j in range(t, m, step):
        n, s = j // inner, j % inner
        g = dy[n, c, s]
        partial_dy += g
        partial_dy_xhat += g * x_hat[n, c, s]
    sum_dy = block_sum(partial_dy, shared)
    sum_dy_xhat = block_sum(partial_dy_xhat, shared)
    if t == 0:
        dbeta[c] = sum_dy
        dgamma[c] = sum_dy_xhat
    mean_dy = sum_dy / m if training else 0.0
    mean_dy_xhat = sum_dy_xhat / m if training else 0.0
    scale = float64(gamma[c]) * inv_std[c]
    for j in range(t, m, step):
        n, s = j // inner, j % inner
        dx[n, c, s] = scale * (dy[n, c, s] - mean_dy - x_hat[n, c, s] * mean_dy_xhat)


def batchnorm_backward(
    dy: Any,
    x_hat: Any,
    gamma: Any,
    inv_std: Any,
    training: bool,
    dx: Any,
    dgamma: Any,
    dbeta: Any,
    stream: Any = 0,
) -> None:
    """Launch :func:`_batchnorm_backward_kernel`: ``dy``, ``x_hat``, ``dx`` (N, C, S); the
    others (C,). Fills ``dx``, ``dgamma`` and ``dbeta``.
    """
    threads = reduction_threads(dy.shape[0] * dy.shape[2])
    _batchnorm_backward_kernel[dy.shape[1], threads, stream](
        dy, x_hat, gamma, inv_std, training, dx, dgamma, dbeta
    )
