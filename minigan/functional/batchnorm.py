r"""Batch normalisation over every axis but the channel axis 1: (N, C), (N, C, L) or (N, C, H, W).

With :math:`m` values per channel (``N``, ``N*L`` or ``N*H*W``), in training mode

.. math::
    \mu = \tfrac1m \textstyle\sum x, \quad \sigma^2 = \tfrac1m \textstyle\sum (x-\mu)^2, \quad
    \hat x = (x - \mu)\,/\sqrt{\sigma^2 + \epsilon}, \quad y = \gamma \hat x + \beta.

**The variance, one way everywhere**: two passes, the mean first, then the mean of the squared
deviations from it. Never :math:`E[x^2] - \mu^2`: it subtracts two numbers of size
:math:`\mu^2` to get one of size :math:`\sigma^2`, and cancels to noise when
:math:`|\mu| \gg \sigma`. This reference keeps NumPy's arithmetic in the input dtype; the
kernels (:mod:`minigan.kernels.numba.batchnorm`, :mod:`minigan.kernels.cuda.batchnorm`) take
the same two passes with float64 sums.

Backward: :math:`d\gamma = \sum dy\,\hat x`, :math:`d\beta = \sum dy`, and
:math:`d\hat x = \gamma\, dy`. Write :math:`s = 1/\sqrt{\sigma^2+\epsilon}`, so
:math:`\hat x = (x-\mu)\,s` and :math:`\partial s / \partial \sigma^2 = -s^3/2`. Then, summing
over the channel's :math:`m` values,

.. math::
    d\sigma^2 = \textstyle\sum d\hat x\,(x-\mu)\,(-\tfrac12 s^3)
              = -\tfrac12 s^2 \textstyle\sum d\hat x\,\hat x,

.. math::
    d\mu = -s \textstyle\sum d\hat x
           + d\sigma^2 \cdot \big(-\tfrac2m \textstyle\sum (x-\mu)\big)
         = -s \textstyle\sum d\hat x,

the path from :math:`\mu` through :math:`\sigma^2` carrying nothing because
:math:`\sum (x-\mu) = 0`. Each :math:`x` reaches the loss directly, through :math:`\sigma^2`
(:math:`\partial\sigma^2/\partial x = 2(x-\mu)/m`) and through :math:`\mu`
(:math:`\partial\mu/\partial x = 1/m`):

.. math::
    dx = s\, d\hat x + d\sigma^2\, \tfrac{2(x-\mu)}{m} + \tfrac{d\mu}{m}
       = s\, d\hat x - s\, \hat x \operatorname{mean}(d\hat x\, \hat x)
         - s \operatorname{mean}(d\hat x),

that is

.. math::
    dx = \frac{1}{\sqrt{\sigma^2+\epsilon}} \Big( d\hat x - \operatorname{mean}(d\hat x)
         - \hat x \operatorname{mean}(d\hat x\, \hat x) \Big).

In evaluation mode :math:`\mu, \sigma^2` are the running statistics, constants, so
:math:`dx = \gamma\, dy / \sqrt{\sigma^2_{run}+\epsilon}`. Running statistics follow PyTorch:
``running = (1 - momentum) * running + momentum * batch``, with the unbiased batch variance.

>>> import numpy as np
>>> x = np.array([[1.0], [3.0]])
>>> rm, rv = np.zeros(1), np.ones(1)
>>> y, cache = batchnorm_forward(x, np.ones(1), np.zeros(1), rm, rv, True, 0.1, 0.0)
>>> y.ravel(), rm, rv
(array([-1.,  1.]), array([0.2]), array([1.1]))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class BatchNormCache(NamedTuple):
    """``x_hat`` and ``inv_std`` are all backward needs (with ``gamma``); ``training`` says
    whether the statistics depended on the batch (and so carry gradient).
    """

    x_hat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray
    training: bool


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector against ``x``: (1, C, 1, ...)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _channel_sum(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Per-channel sum over every axis but 1 of ``a``, or of ``a * b``: shape (C,).

    ``np.einsum`` walks (N, C, H*W) in memory order and sums ``a * b`` without making the
    product (see docs/performance.md). The variance's second pass is
    ``_channel_sum(x - mean, x - mean)``, the sum of squared deviations.
    """
    a = a.reshape(a.shape[0], a.shape[1], -1)  # (N, C, M/N)
    if b is None:
        return np.einsum("nci->c", a)
    return np.einsum("nci,nci->c", a, b.reshape(a.shape))


def update_running_stats(
    running_mean: np.ndarray,
    running_var: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    m: int,
    momentum: float,
) -> None:
    """PyTorch's update, in place: ``running = (1 - momentum) running + momentum batch``, with
    the batch's unbiased variance ``var * m / (m - 1)``; ``mean`` and ``var`` (C,) are cast to
    the running statistics' dtype."""
    running_mean *= 1 - momentum
    running_mean += momentum * mean.astype(running_mean.dtype, copy=False)
    running_var *= 1 - momentum
    running_var += (momentum * m / (m - 1)) * var.astype(running_var.dtype, copy=False)


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
    """Return ``y`` (shape of ``x``) and the cache; in training, update the running statistics
    **in place**. ``x_hat`` is made in place from ``x - mean``, ``y`` in place from it.
    """
    shape = _channel_shape(x)
    if training:
        m = x.size // x.shape[1]
        mean = _channel_sum(x) / m
        x_hat = x - mean.reshape(shape)
        var = _channel_sum(x_hat, x_hat) / m
        update_running_stats(running_mean, running_var, mean, var, m, momentum)
    else:
        mean, var = running_mean, running_var
        x_hat = x - mean.reshape(shape)
    inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
    x_hat *= inv_std.reshape(shape)
    y = x_hat * gamma.reshape(shape)
    y += beta.reshape(shape)
    return y, BatchNormCache(x_hat, inv_std, gamma, training)


def batchnorm_backward(
    dy: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dgamma, dbeta)`` by the last formula of the module docstring, ``dx``
    built in place in one array."""
    x_hat, inv_std, gamma, training = cache
    shape = _channel_shape(dy)
    dgamma = _channel_sum(dy, x_hat)
    dbeta = _channel_sum(dy)
    scale = (gamma * inv_std).reshape(shape)
    if not training:
        return dy * scale, dgamma, dbeta
    m = dy.size // dy.shape[1]
    dx = dy - (dbeta / m).reshape(shape)
    dx -= x_hat * (dgamma / m).reshape(shape)
    dx *= scale
    return dx, dgamma, dbeta
