r"""Batch normalisation forward and backward on the GPU, one block per channel.

Math and cache: :func:`minigan.functional.batchnorm.batchnorm_forward` and
:func:`minigan.functional.batchnorm.batchnorm_backward` (the two-pass variance, the derivation
of :math:`dx`, the same ``BatchNormCache``: ``x_hat``, ``inv_std``). Where it differs from the
reference:

- **layout**: arrays are seen as (N, C, S) with ``S`` the product of the axes after the channel
  (1 for ``BatchNorm1d`` on (N, C)); block ``c`` owns channel ``c``'s ``m = N*S`` values,
  strided ``j -> (j // S, c, j % S)``, so (N, C) inputs run here too;
- **accumulation**: every sum is float64, each thread's partial sum a sequential loop over up
  to ``N*S/256`` values and the partials combined by
  :func:`~minigan.kernels.cuda.common.block_sum`, since a float32 loop sum would lose digits in
  proportion to its length; the variance takes the reference's two passes
  (:math:`\mu` first, then :math:`\frac1m\sum (x-\mu)^2`). The products :math:`dy\,\hat x`
  are formed in float32 (one rounding each) before their float64 sum; :math:`\hat x`, :math:`y`
  and :math:`dx` are evaluated in float64 and rounded once on the store;
- **fusion**: forward is one kernel (the two statistics passes, then :math:`\hat x` and
  :math:`y = \gamma\hat x + \beta` written in one pass, thread 0 storing
  :math:`1/\sqrt{\sigma^2+\epsilon}` and updating the running statistics); backward one pass
  for :math:`d\beta = \sum dy` and :math:`d\gamma = \sum dy\,\hat x` together, and a second for
  :math:`dx = \gamma\,\mathrm{inv\_std}\,(dy - d\beta/m - \hat x\, d\gamma/m)` (the two means
  zero in evaluation mode).
"""

from __future__ import annotations

import math
from typing import Any

from numba import cuda, float64

from minigan.functional.batchnorm import BatchNormCache
from minigan.kernels.cuda.common import (
    THREADS,
    block_sum,
    cupy,
    current_stream,
    numba_view,
    reduction_threads,
)


# ---- kernels and their launch helpers (Numba device arrays) --------------------------------------
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


def launch_batchnorm_forward(
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


def launch_batchnorm_backward(
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


# ---- CuPy wrappers -------------------------------------------------------------------------------
def _ncs(a: Any) -> Any:
    """(N, C, ...) as a contiguous (N, C, S) CuPy view."""
    a = cupy.ascontiguousarray(a)
    return a.reshape(a.shape[0], a.shape[1], -1)


def batchnorm_forward(
    x: Any,
    gamma: Any,
    beta: Any,
    running_mean: Any,
    running_var: Any,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[Any, BatchNormCache]:
    """:func:`minigan.functional.batchnorm_forward` on CuPy arrays (running statistics updated
    in place in training, as there)."""
    x3 = _ncs(x)
    x_hat, y = cupy.empty_like(x3), cupy.empty_like(x3)
    inv_std = cupy.empty(x.shape[1], x.dtype)
    view = numba_view
    launch_batchnorm_forward(
        view(x3), view(gamma), view(beta), view(running_mean), view(running_var), training,
        momentum, eps, view(x_hat), view(y), view(inv_std), current_stream(),
    )  # fmt: skip
    return y.reshape(x.shape), BatchNormCache(x_hat.reshape(x.shape), inv_std, gamma, training)


def batchnorm_backward(dy: Any, cache: BatchNormCache) -> tuple[Any, Any, Any]:
    """:func:`minigan.functional.batchnorm_backward` on CuPy arrays: ``(dx, dgamma, dbeta)``."""
    x_hat, inv_std, gamma, training = cache
    dy3 = _ncs(dy)
    dx = cupy.empty_like(dy3)
    dgamma, dbeta = cupy.empty_like(gamma), cupy.empty_like(gamma)
    view = numba_view
    launch_batchnorm_backward(
        view(dy3), view(_ncs(x_hat)), view(gamma), view(inv_std), training, view(dx),
        view(dgamma), view(dbeta), current_stream(),
    )  # fmt: skip
    return dx.reshape(dy.shape), dgamma, dbeta
