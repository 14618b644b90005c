r"""Bias + activation on the GPU: one fused forward kernel, the activation backward, and the
bias backward (a per-channel sum).

NumPy references: :mod:`minigan.functional.activations` (ReLU, LeakyReLU, Tanh, Sigmoid, forward
and backward) and the bias terms of :func:`minigan.functional.dense.linear_forward`,
:func:`minigan.functional.conv.conv2d_forward` (``y += b``) and of their backwards
(``db = dy.sum(axis=(0, 2, 3))``).

Arrays are seen as (N, C, S): batch, channel (the axis the bias runs along) and everything after
it; an activation without bias sees its input as (1, 1, size). The forward may read a strided
view (the convolution passes its (N*Ho*Wo, O) product as an (N, O, Ho*Wo) transpose, so the
bias add is also the layout change to NCHW), and may write in place (``y is x``).

==========  ==========================  ===============================  ===================
``act``     forward :math:`f(v)`        backward :math:`dx`              ``saved``
==========  ==========================  ===============================  ===================
IDENTITY    :math:`v`                   (not used)                       (not used)
RELU        :math:`\max(v, 0)`          :math:`dy\,[y > 0]`              ``y``
LEAKY_RELU  :math:`v` or :math:`a v`    :math:`dy` or :math:`a\,dy`      mask ``v > 0``
TANH        :math:`\tanh v`             :math:`dy (1 - y^2)`             ``y``
SIGMOID     :math:`1/(1 + e^{-v})`      :math:`dy\, y (1 - y)`           ``y``
==========  ==========================  ===============================  ===================
"""

from __future__ import annotations

import math
from typing import Any

from numba import cuda, float64

from minigan.kernels.cuda_common import (
    THREADS,
    absent,
    block_sum,
    elementwise_config,
    reduction_threads,
)

IDENTITY, RELU, LEAKY_RELU, TANH, SIGMOID = range(5)


@cuda.jit(device=True)
def _activate(v, act, slope):  # type: ignore[no-untyped-def]
    """:math:`f(v)` of the table above; the sigmoid never exponentiates a positive number."""
    if act == RELU:
        return v if v > 0 else v * 0
    if act == LEAKY_RELU:
        return v if v > 0 else v * slope
    if act == TANH:
        return math.tanh(v)
    if act == SIGMOID:
        e = math.exp(-abs(v))
        return 1 / (1 + e) if v >= 0 else e / (1 + e)
    return v


@cuda.jit
def _bias_act_forward_kernel(x, b, act, slope, y, positive):  # type: ignore[no-untyped-def]
    """``v = x[n, c, s] + b[c]`` (no ``b[c]`` when ``b`` is empty); ``y[n, c, s] = f(v)``;
    ``positive[n, c, s] = v > 0`` when ``positive`` is not empty. Grid-stride over the flat
    C-order index ``k`` of ``y``: ``n = k // (C S)``, ``c = (k // S) % C``, ``s = k % S``.
    """
    _, channels, inner = y.shape
    for k in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, c, s = k // (channels * inner), (k // inner) % channels, k % inner
        v = x[n, c, s]
        if b.size:
            v += b[c]
        if positive.size:
            positive[n, c, s] = v > 0
        y[n, c, s] = _activate(v, act, slope)


def bias_act_forward(
    x: Any,
    b: Any | None,
    y: Any,
    act: int,
    slope: float = 0.0,
    positive: Any | None = None,
    stream: Any = 0,
) -> None:
    """Launch :func:`_bias_act_forward_kernel`: ``y = f(x + b)`` over (N, C, S) arrays, and
    the mask ``x + b > 0`` into ``positive`` (bool, (N, C, S)) when given.
    """
    blocks, threads = elementwise_config(y.size)
    b = absent(y.dtype) if b is None else b
    positive = absent(bool, 3) if positive is None else positive
    _bias_act_forward_kernel[blocks, threads, stream](x, b, act, slope, y, positive)


@cuda.jit(device=True)
def _activation_grad(g, saved, act, slope):  # type: ignore[no-untyped-def]
    """:math:`dx` of the table above for one element: ``g`` is ``dy``, ``saved`` the cache."""
    if act == RELU:
        return g if saved > 0 else g * 0
    if act == LEAKY_RELU:
        return g if saved else g * slope
    if act == TANH:
        return g * (1 - saved * saved)
    return g * saved * (1 - saved)


@cuda.jit
def _act_backward_kernel(dy, saved, act, slope, dx):  # type: ignore[no-untyped-def]
    """``dx[k] = dy[k] * f'(...)`` from ``saved[k]``; 1-D arrays, grid-stride over ``k``."""
    for k in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        dx[k] = _activation_grad(dy[k], saved[k], act, slope)


def act_backward(
    dy: Any, saved: Any, dx: Any, act: int, slope: float = 0.0, stream: Any = 0
) -> None:
    """Launch :func:`_act_backward_kernel` on flat (1-D) ``dy``, ``saved`` and ``dx``."""
    blocks, threads = elementwise_config(dx.size)
    _act_backward_kernel[blocks, threads, stream](dy, saved, act, slope, dx)


@cuda.jit
def _bias_backward_kernel(dy, db):  # type: ignore[no-untyped-def]
    """``db[c] = sum_{n,s} dy[n, c, s]``: block ``c``, its threads striding over the
    ``N*S`` values ``j -> (j // S, j % S)``, combined by :func:`block_sum`.
    """
    shared = cuda.shared.array(THREADS, float64)
    c, inner = cuda.blockIdx.x, dy.shape[2]
    partial = 0.0
    for j in range(cuda.threadIdx.x, dy.shape[0] * inner, cuda.blockDim.x):
        partial += dy[j // inner, c, j % inner]
    total = block_sum(partial, shared)
    if cuda.threadIdx.x == 0:
        db[c] = total


def bias_backward(dy: Any, db: Any, stream: Any = 0) -> None:
    """Launch :func:`_bias_backward_kernel`: ``db`` (C,) from ``dy`` seen as (N, C, S)."""
    threads = reduction_threads(dy.shape[0] * dy.shape[2])
    _bias_backward_kernel[dy.shape[1], threads, stream](dy, db)
