r"""Elementwise activations and Dropout. Every array keeps the shape and dtype of ``x``.

Each backward multiplies ``dy`` by the local derivative, written in terms of what the cache keeps
(``positive = x > 0``; ``mask`` is 0 with probability ``p``, else ``1 / (1 - p)``):

================  =============================  ============  ===================================
op                forward ``y``                  cache         backward ``dx``
================  =============================  ============  ===================================
ReLU              :math:`\max(x, 0)`             ``y``         ``dy * (y > 0)``
LeakyReLU(slope)  ``x if x > 0 else slope * x``  ``positive``  ``dy * (1 if positive else slope)``
Tanh              :math:`\tanh x`                ``y``         ``dy * (1 - y**2)``
Sigmoid           :math:`1 / (1 + e^{-x})`       ``y``         ``dy * y * (1 - y)``
Dropout(p)        ``x * mask``                   ``mask``      ``dy * mask``
================  =============================  ============  ===================================

The derivatives: :math:`\tanh' = 1 - \tanh^2 = 1 - y^2` and :math:`\sigma' = \sigma (1 - \sigma) =
y (1 - y)`, so Tanh and Sigmoid keep their output, in terms of which the derivative is cheapest;
ReLU keeps its output too (``y > 0`` exactly where ``x > 0``), LeakyReLU the sign mask of its input.

**Second order** (a gradient penalty, :mod:`minigan.penalty`). ReLU, LeakyReLU and Dropout
compute ``dx = m * dy`` with a mask ``m`` that is piecewise constant in ``x`` (Dropout's is
fixed by the forward), so :math:`\partial m / \partial x = 0` away from the kink at 0 (almost
everywhere): ``dx`` depends on the weights below only through ``dy``, and the layer's linear
part at ``x`` is the same product, so the tangent of ``v`` is ``m * v``, the backward run on
``v`` with the forward's cache. Tanh and Sigmoid are not like that: ``dx = dy * s(y)`` with
``s(y) = 1 - y**2`` or ``y (1 - y)`` moving with ``x``, which adds a term
``dy * s'(x) * (tangent of x)`` that this pass does not carry; their layers refuse it.

>>> import numpy as np
>>> y, cache = leaky_relu_forward(np.array([-2.0, 3.0]), 0.2)
>>> y
array([-0.4,  3. ])
>>> leaky_relu_backward(np.ones(2), cache)
array([0.2, 1. ])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LeakyReLUCache(NamedTuple):
    """``positive`` is the boolean mask ``x > 0``; ``slope`` the negative slope."""

    positive: np.ndarray
    slope: float


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``max(x, 0)`` and, as the cache, the output itself."""
    y = np.maximum(x, 0)
    return y, y


def relu_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dx = dy * (y > 0)``; the gradient at exactly 0 is taken as 0, as in PyTorch.

    A product with the mask rather than ``np.where``: see docs/performance.md. Masked entries
    with ``dy < 0`` come out as ``-0.0``, which equals 0.
    """
    return dy * (y > 0)


def _leaky_factor(positive: np.ndarray, slope: float, dtype: np.dtype) -> np.ndarray:
    """``1`` where ``positive`` else ``slope``, in ``dtype``: exactly ``1 + 0`` or ``0 + slope``.

    Built arithmetically rather than with ``np.where``: see docs/performance.md.
    """
    slope = dtype.type(slope)
    return positive + slope * ~positive


def leaky_relu_forward(x: np.ndarray, slope: float) -> tuple[np.ndarray, LeakyReLUCache]:
    """Return ``x if x > 0 else slope * x``, as ``x`` times the local derivative."""
    positive = x > 0
    return x * _leaky_factor(positive, slope, x.dtype), LeakyReLUCache(positive, slope)


def leaky_relu_backward(dy: np.ndarray, cache: LeakyReLUCache) -> np.ndarray:
    """``dx = dy if x > 0 else slope * dy``."""
    return dy * _leaky_factor(cache.positive, cache.slope, dy.dtype)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``tanh(x)`` and, as the cache, the output."""
    y = np.tanh(x)
    return y, y


def tanh_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dx = dy * (1 - y**2)``."""
    return dy * (1 - y * y)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function: never evaluates ``exp`` of a positive number."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``sigmoid(x)`` and, as the cache, the output."""
    y = sigmoid(x)
    return y, y


def sigmoid_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dx = dy * y * (1 - y)``."""
    return dy * y * (1 - y)


def dropout_mask(
    shape: tuple[int, ...], p: float, rng: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    """Inverted-dropout mask: ``0`` with probability ``p``, else ``1 / (1 - p)``, in ``dtype``."""
    keep = rng.random(shape) >= p
    return (keep / (1 - p)).astype(dtype)


def dropout_forward(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``x * mask`` and the mask as the cache (so the same units are dropped in backward)."""
    return x * mask, mask


def dropout_backward(dy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``dx = dy * mask``."""
    return dy * mask
