r"""Fully connected layer: :math:`y = x W^T + b`.

Shapes: ``x`` (N, in), ``W`` (out, in) as in PyTorch, ``b`` (out,) or None, ``y`` (N, out).

Backward, from :math:`y_{no} = \sum_i x_{ni} W_{oi} + b_o`:

.. math::
    dx = dy\,W, \qquad dW = dy^T x, \qquad db = \textstyle\sum_n dy_{n\cdot}

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
    x, W, has_bias = cache
    dx = None
    if input_grad:
        # one output feature (a discriminator's logit): dy @ W is an outer product, which the
        # broadcast multiply does 13x faster than BLAS's K=1 GEMM (64 x 6272: 0.08 vs 1.0 ms)
        dx = dy * W if W.shape[0] == 1 else dy @ W
    return dx, dy.T @ x, dy.sum(axis=0) if has_bias else None
