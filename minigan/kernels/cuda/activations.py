r"""Bias + activation on the GPU: one fused forward kernel, the activation backward, and the
bias backward (a per-channel sum); the CuPy wrappers of the activations beside them.

Math: :mod:`minigan.functional.activations` (ReLU, LeakyReLU, Tanh, Sigmoid, forward and
backward, the same caches) and the bias terms of :func:`minigan.functional.dense.linear_forward`
and :func:`minigan.functional.conv.conv2d_forward` (``y += b``) and of their backwards
(``db = dy.sum(axis=(0, 2, 3))``). Where it differs from the reference:

- **fusion**: the bias add and the activation are one kernel (the reference adds the bias in
  the layer, then activates); the layout change of a convolution's (N*Ho*Wo, O) product to NCHW
  is that same kernel reading a strided (N, O, Ho*Wo) view (:func:`add_bias`);
- **layout**: arrays are seen as (N, C, S), batch, channel (the axis the bias runs along) and
  everything after it; an activation without bias sees its input as (1, 1, size);
- **precision**: a float32 value combined with a Python scalar (the slope, a literal) is
  evaluated in float64 by Numba's typing and rounded on the store, and the bias gradient sums in
  float64 (one block per channel, :func:`~minigan.kernels.cuda.common.block_sum`), so results
  differ from the reference's float32 arithmetic by rounding only.

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

from minigan.functional.activations import LeakyReLUCache
from minigan.kernels.cuda.common import (
    THREADS,
    absent,
    block_sum,
    cupy,
    current_stream,
    elementwise_config,
    numba_view,
    reduction_threads,
)

IDENTITY, RELU, LEAKY_RELU, TANH, SIGMOID = range(5)


# ---- kernels and their launch helpers (Numba device arrays) --------------------------------------
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


def launch_bias_act_forward(
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


def launch_act_backward(
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


def launch_bias_backward(dy: Any, db: Any, stream: Any = 0) -> None:
    """Launch :func:`_bias_backward_kernel`: ``db`` (C,) from ``dy`` seen as (N, C, S)."""
    threads = reduction_threads(dy.shape[0] * dy.shape[2])
    _bias_backward_kernel[dy.shape[1], threads, stream](dy, db)


# ---- CuPy wrappers -------------------------------------------------------------------------------
def add_bias(x3: Any, b: Any | None, out: Any) -> Any:
    """``out[n, c, s] = x3[n, c, s] + b[c]``: ``x3`` any (N, C, S) CuPy view, ``out`` (N, C, S)
    (may be ``x3`` itself)."""
    launch_bias_act_forward(
        numba_view(x3), numba_view(b), numba_view(out), IDENTITY, stream=current_stream()
    )
    return out


def bias_grad(dy: Any, has_bias: bool = True) -> Any:
    """``db[c] = sum of dy[:, c, ...]`` (None without bias)."""
    if not has_bias:
        return None
    dy3 = cupy.ascontiguousarray(dy).reshape(dy.shape[0], dy.shape[1], -1)
    db = cupy.empty(dy.shape[1], dy.dtype)
    launch_bias_backward(numba_view(dy3), numba_view(db), stream=current_stream())
    return db


def _activation(x: Any, act: int, slope: float = 0.0, mask: bool = False) -> tuple:
    """``(y, positive)``: ``y = f(x)``, and the bool mask ``x > 0`` when ``mask``."""
    x = cupy.ascontiguousarray(x)
    y = cupy.empty_like(x)
    positive = cupy.empty(x.shape, bool) if mask else None
    launch_bias_act_forward(
        numba_view(x.reshape(1, 1, -1)), None, numba_view(y.reshape(1, 1, -1)), act, slope,
        numba_view(None if positive is None else positive.reshape(1, 1, -1)), current_stream(),
    )  # fmt: skip
    return y, positive


def _activation_backward(dy: Any, saved: Any, act: int, slope: float = 0.0) -> Any:
    dy = cupy.ascontiguousarray(dy)
    dx = cupy.empty_like(dy)
    launch_act_backward(
        numba_view(dy.ravel()), numba_view(cupy.ascontiguousarray(saved).ravel()),
        numba_view(dx.ravel()), act, slope, current_stream(),
    )  # fmt: skip
    return dx


def relu_forward(x: Any) -> tuple[Any, Any]:
    """:func:`minigan.functional.relu_forward` on the GPU; the cache is ``y``."""
    y, _ = _activation(x, RELU)
    return y, y


def relu_backward(dy: Any, y: Any) -> Any:
    """:func:`minigan.functional.relu_backward` on the GPU."""
    return _activation_backward(dy, y, RELU)


def leaky_relu_forward(x: Any, slope: float) -> tuple[Any, LeakyReLUCache]:
    """:func:`minigan.functional.leaky_relu_forward` on the GPU: output and mask in one pass."""
    y, positive = _activation(x, LEAKY_RELU, slope, mask=True)
    return y, LeakyReLUCache(positive, slope)


def leaky_relu_backward(dy: Any, cache: LeakyReLUCache) -> Any:
    """:func:`minigan.functional.leaky_relu_backward` on the GPU."""
    return _activation_backward(dy, cache.positive, LEAKY_RELU, cache.slope)


def tanh_forward(x: Any) -> tuple[Any, Any]:
    """:func:`minigan.functional.tanh_forward` on the GPU; the cache is ``y``."""
    y, _ = _activation(x, TANH)
    return y, y


def tanh_backward(dy: Any, y: Any) -> Any:
    """:func:`minigan.functional.tanh_backward` on the GPU."""
    return _activation_backward(dy, y, TANH)


def sigmoid(x: Any) -> Any:
    """:func:`minigan.functional.sigmoid` on the GPU (the same stable form)."""
    return _activation(x, SIGMOID)[0]


def sigmoid_forward(x: Any) -> tuple[Any, Any]:
    """:func:`minigan.functional.sigmoid_forward` on the GPU; the cache is ``y``."""
    y = sigmoid(x)
    return y, y


def sigmoid_backward(dy: Any, y: Any) -> Any:
    """:func:`minigan.functional.sigmoid_backward` on the GPU."""
    return _activation_backward(dy, y, SIGMOID)
