r"""ReLU and LeakyReLU on the CPU: one Numba forward and one backward, the op a parameter.

Math and caches: :mod:`minigan.functional.activations` (ReLU keeps its output ``y``, LeakyReLU
the mask ``x > 0`` in a :class:`~minigan.functional.activations.LeakyReLUCache`). Equal values
(a select or one multiply per element, as there); the differences are fusion only:

- forward, one pass over ``x``: ReLU :math:`\max(x, 0)`; LeakyReLU writes :math:`y` and the mask
  together (the reference makes the mask, the factor and the product in separate passes);
- backward, one pass over ``dy``: a select by ``y > 0`` or by the mask (the reference builds a
  factor array first).

Arrays of up to millions of values run on the calling thread
(:mod:`minigan.kernels.numba.launch`). The op is a compile-time-invariant integer argument, so
the branch is hoisted out of the loop and each op gets a plain vectorised loop. The slope is
cast to the array's dtype before the call, so float32 arrays are computed in float32 as in the
reference. Tanh stays with the reference: NumPy's SIMD ``tanh`` beats the scalar ``tanhf`` a
Numba loop calls
(``docs/performance.md``, "The kernels, measured").
"""

from __future__ import annotations

import numpy as np
from numba import prange

from minigan.functional.activations import LeakyReLUCache
from minigan.kernels.numba.launch import pick, twins

RELU, LEAKY_RELU = 0, 1
_NO_MASK = np.zeros(0, np.bool_)


def _forward_loop(x, kind, slope, y, positive):  # pragma: no cover - compiled
    zero = x.dtype.type(0)
    if kind == RELU:
        for i in prange(x.size):
            y[i] = max(x[i], zero)
    else:
        for i in prange(x.size):
            v = x[i]
            positive[i] = v > zero
            y[i] = v if v > zero else v * slope


def _backward_loop(dy, kind, slope, y, positive, dx):  # pragma: no cover - compiled
    zero = dy.dtype.type(0)
    if kind == RELU:
        for i in prange(dy.size):
            dx[i] = dy[i] if y[i] > zero else zero
    else:
        for i in prange(dy.size):
            dx[i] = dy[i] if positive[i] else dy[i] * slope


_forward, _backward = twins(_forward_loop), twins(_backward_loop)


def activation_forward(
    x: np.ndarray, kind: int, slope: float = 0.0
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(y, mask)``: the activation ``kind`` of ``x`` (any shape); ``mask = x > 0`` for
    LeakyReLU, else None.
    """
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    positive = np.empty(x.shape, np.bool_) if kind == LEAKY_RELU else _NO_MASK
    pick(_forward, x.size, streaming=True)(
        x.reshape(-1), kind, x.dtype.type(slope), y.reshape(-1), positive.reshape(-1)
    )
    return y, (positive if kind == LEAKY_RELU else None)


def activation_backward(
    dy: np.ndarray, kind: int, saved: np.ndarray, slope: float = 0.0
) -> np.ndarray:
    """``dx`` from ``dy`` and what forward saved: ``y`` for ReLU, the mask for LeakyReLU."""
    dy = np.ascontiguousarray(dy)
    saved = np.ascontiguousarray(saved).reshape(-1)
    y, positive = (np.empty(0, dy.dtype), saved) if kind == LEAKY_RELU else (saved, _NO_MASK)
    dx = np.empty_like(dy)
    pick(_backward, dy.size, streaming=True)(
        dy.reshape(-1), kind, dy.dtype.type(slope), y, positive, dx.reshape(-1)
    )
    return dx


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fast :func:`minigan.functional.relu_forward`; the cache is ``y``."""
    y, _ = activation_forward(x, RELU)
    return y, y


def relu_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fast :func:`minigan.functional.relu_backward`."""
    return activation_backward(dy, RELU, y)


def leaky_relu_forward(x: np.ndarray, slope: float) -> tuple[np.ndarray, LeakyReLUCache]:
    """Fast :func:`minigan.functional.leaky_relu_forward`; output and mask in one pass."""
    y, positive = activation_forward(x, LEAKY_RELU, slope)
    return y, LeakyReLUCache(positive, slope)


def leaky_relu_backward(dy: np.ndarray, cache: LeakyReLUCache) -> np.ndarray:
    """Fast :func:`minigan.functional.leaky_relu_backward`."""
    return activation_backward(dy, LEAKY_RELU, cache.positive, cache.slope)
