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


def _channel_sum(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Per-channel sum over every axis but 1 of ``a``, or of ``a * b``: shape (C,).

    ``np.einsum`` walks (N, C, H*W) in memory order and sums ``a * b`` without making it:
    measured 2.7x faster than ``a.sum(axis=(0, 2, 3))`` on DCGAN-28's BatchNorm2d inputs (about
    as fast on (N, C)) and as accurate in float32. The sum of squares replaces ``x.var``, which
    made the mean again and two temporaries.
    """
    a = a.reshape(a.shape[0], a.shape[1], -1)  # (N, C, M/N)
    if b is None:
        return np.einsum("nci->c", a)
    return np.einsum("nci,nci->c", a, b.reshape(a.shape))


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
    **in place**. ``x_hat`` is made in place from ``x - mean``, ``y`` in place from it: with
    :func:`_channel_sum`, 2.2x faster than ``x.mean``, ``x.var`` and fresh temporaries (DCGAN-28,
    batch 64).
    """
    shape = _channel_shape(x)
    if training:
        m = x.size // x.shape[1]
        mean = _channel_sum(x) / m
        x_hat = x - mean.reshape(shape)
        var = _channel_sum(x_hat, x_hat) / m
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += (momentum * m / (m - 1)) * var
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
    """Return ``(dx, dgamma, dbeta)``; ``dx`` is built in place in one array (with
    :func:`_channel_sum`, 1.4-1.6x faster than the one-expression form, DCGAN-28, batch 64).
    """
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
