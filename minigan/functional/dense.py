r"""Fully connected layer: :math:`y = x W^T + b`.

Shapes: ``x`` (N, in), ``W`` (out, in) as in PyTorch, ``b`` (out,) or None, ``y`` (N, out).

Backward, from :math:`y_{no} = \sum_i x_{ni} W_{oi} + b_o`, with ``dy`` (N, out):

.. math::
    dx_{ni} = \sum_o dy_{no} W_{oi}, \qquad dW_{oi} = \sum_n dy_{no}\, x_{ni}, \qquad
    db_o = \sum_n dy_{no}

that is ``dx = dy @ W`` (N, in), ``dW = dy.T @ x`` (out, in), ``db = dy.sum(axis=0)`` (out,).
With one output (out = 1) the sum over ``o`` has one term, :math:`dx_{ni} = dy_{n0} W_{0i}`:
the outer product of ``dy`` (N, 1) and ``W`` (1, in), which the code writes as the broadcast
``dy * W``.

**Second order** (a gradient penalty, :mod:`minigan.penalty`): the derivative of ``dx`` with
respect to the weights, along a tangent ``v`` (N, in). ``dx = dy W`` is bilinear in ``(dy, W)``
and free of ``b``, and

.. math::
    \langle v, dx\rangle = \sum_{n,i,o} v_{ni}\, dy_{no} W_{oi} = \langle v W^T, dy\rangle,
    \qquad \frac{\partial \langle v, dx\rangle}{\partial W_{oi}} = \sum_n dy_{no}\, v_{ni},
    \qquad \frac{\partial \langle v, dx\rangle}{\partial b_o} = 0

(``dy`` held fixed): ``dy.T @ v``, the ``dW`` of :func:`linear_backward` on ``dy`` with the cache
of ``linear_forward(v, W, None)``, whose output ``v W^T`` is the tangent passed to the next layer.

>>> import numpy as np
>>> x = np.ones((2, 3), np.float32); W = np.ones((4, 3), np.float32); b = np.zeros(4, np.float32)
>>> y, cache = linear_forward(x, W, b)
>>> y[0]
array([3., 3., 3., 3.], dtype=float32)
>>> dx, dW, db = linear_backward(np.ones_like(y), cache)
>>> dx.shape, dW.shape, db.shape
((2, 3), (4, 3), (4,))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LinearCache(NamedTuple):
    """``x`` for ``dW`` and ``W`` for ``dx``; ``has_bias`` says whether to return ``db``."""

    x: np.ndarray
    W: np.ndarray
    has_bias: bool


def linear_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None
) -> tuple[np.ndarray, LinearCache]:
    """Return ``y = x @ W.T + b`` of shape (N, out) and the cache for :func:`linear_backward`."""
    y = x @ W.T
    if b is not None:
        y += b
    return y, LinearCache(x, W, b is not None)


def linear_backward(
    dy: np.ndarray, cache: LinearCache, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Return ``(dx, dW, db)``: (N, in), (out, in), (out,) or None without bias; ``dx`` is None
    when ``input_grad`` is false (the input is data).
    """
    x, _, has_bias = cache
    dx = linear_input_grad(dy, cache) if input_grad else None
    return dx, dy.T @ x, dy.sum(axis=0) if has_bias else None


def linear_input_grad(dy: np.ndarray, cache: LinearCache) -> np.ndarray:
    """``dx = dy @ W`` (N, in) alone, for a backward whose weight gradients nobody reads.

    With one output feature (a discriminator's logit) ``dy @ W`` is the outer product
    ``dx[n, i] = dy[n, 0] * W[0, i]``, written as a broadcast rather than a GEMM with K = 1 (see
    docs/performance.md); the same values as ``dy @ W``.
    """
    W = cache.W
    return dy * W if W.shape[0] == 1 else dy @ W
