r"""The fully connected layer on the GPU: cuBLAS products, the bias added by a kernel.

Math and cache: :mod:`minigan.functional.dense` (:math:`y = x W^T + b`, :math:`dx = dy\,W`,
:math:`dW = dy^T x`, :math:`db = \sum_n dy`; the same ``LinearCache``). The products are
``cupy.matmul`` on the reference's layouts; the only differences are the bias, added in place by
:func:`minigan.kernels.cuda.activations.add_bias`, and its gradient, a float64 sum per output
feature by :func:`minigan.kernels.cuda.activations.bias_grad` (the reference's ``dy.sum`` runs in
float32).
"""

from __future__ import annotations

from typing import Any

from minigan.functional.dense import LinearCache
from minigan.kernels.cuda.activations import add_bias, bias_grad


def linear_forward(x: Any, W: Any, b: Any | None) -> tuple[Any, LinearCache]:
    """:func:`minigan.functional.linear_forward` on CuPy arrays: ``y`` (N, out) and the cache."""
    y = x @ W.T
    if b is not None:
        y3 = y.reshape(*y.shape, 1)
        add_bias(y3, b, y3)
    return y, LinearCache(x, W, b is not None)


def linear_backward(
    dy: Any, cache: LinearCache, input_grad: bool = True
) -> tuple[Any | None, Any, Any | None]:
    """:func:`minigan.functional.linear_backward` on CuPy arrays: ``(dx, dW, db)``."""
    x, W, has_bias = cache
    return dy @ W if input_grad else None, dy.T @ x, bias_grad(dy, has_bias)
