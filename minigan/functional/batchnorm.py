r"""Batch normalisation over every axis but the channel axis 1: (N, C), (N, C, L) or (N, C, H, W).

With :math:`m` values per channel (``N``, ``N*L`` or ``N*H*W``), in training mode

.. math::
    \mu = \tfrac1m \textstyle\sum x, \quad \sigma^2 = \tfrac1m \textstyle\sum (x-\mu)^2, \quad
    \hat x = (x - \mu)\,/\sqrt{\sigma^2 + \epsilon}, \quad y = \gamma \hat x + \beta.

Backward: :math:`d\gamma = \sum dy\,\hat x`, :math:`d\beta = \sum dy`, and with
:math:`d\hat x = \gamma\, dy` the chain rule through :math:`\mu` and :math:`\sigma^2` collapses to

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


def _reduce_axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


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
    **in place**.
    """
    shape, axes = _channel_shape(x), _reduce_axes(x)
    if training:
        m = x.size // x.shape[1]
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += (momentum * m / (m - 1)) * var
    else:
        mean, var = running_mean, running_var
    inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
    x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
    y = x_hat * gamma.reshape(shape) + beta.reshape(shape)
    return y, BatchNormCache(x_hat, inv_std, gamma, training)


def batchnorm_backward(
    dy: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dgamma, dbeta)``."""
    x_hat, inv_std, gamma, training = cache
    shape, axes = _channel_shape(dy), _reduce_axes(dy)
    dgamma = (dy * x_hat).sum(axis=axes)
    dbeta = dy.sum(axis=axes)
    scale = (gamma * inv_std).reshape(shape)
    if not training:
        return dy * scale, dgamma, dbeta
    m = dy.size // dy.shape[1]
    dx = scale * (dy - (dbeta / m).reshape(shape) - x_hat * (dgamma / m).reshape(shape))
    return dx, dgamma, dbeta
