r"""2-D max and average pooling (PyTorch's ``max_pool2d``/``avg_pool2d`` without dilation or
``ceil_mode``): a ``k x k`` window moved by stride ``s`` over each channel of ``x`` (N, C, H, W),
padded by ``p`` on each side, giving ``y`` (N, C, Ho, Wo) with
:math:`H_{out} = \lfloor (H + 2p - k) / s \rfloor + 1`. Channels never mix.

Write :math:`\Omega_{h,w} = \{(hs + i - p,\; ws + j - p) : 0 \le i, j < k\}` for the pixels
under output pixel ``(h, w)`` (in the coordinates of ``x``).

**Max pooling.** The padding is :math:`-\infty` (it never wins), and

.. math::
    y_{n,c,h,w} = \max_{(u,v) \in \Omega_{h,w}} x_{n,c,u,v} = x_{n,c,\,a(h,w)},

with :math:`a(h, w)` the position of the maximum (the first one in row-major window order when
several are equal, as PyTorch picks on the CPU). Away from ties a small change of ``x`` does not
move :math:`a`, so ``y`` is locally a selection of entries of ``x`` and
:math:`\partial y_{n,c,h,w} / \partial x_{n,c,u,v} = [\,(u, v) = a(h, w)\,]`. The chain rule then
sums ``dy`` over the windows whose maximum a pixel is:

.. math::
    dx_{n,c,u,v} = \sum_{(h,w):\; a(h,w) = (u,v)} dy_{n,c,h,w}

(zero for a pixel that is no window's maximum; a pixel that overlapping windows share can
collect several terms). At a tie the function has a kink and this is one subgradient, the one
PyTorch takes. The cache keeps the (padded) input and the output, and backward finds
:math:`a` as the first window entry equal to the output: the forward pass, all that inference
runs, then costs the maxima alone.

**Average pooling** (``count_include_pad=True``, PyTorch's default: padded zeros count in the
mean, every window divides by :math:`k^2`) is linear,

.. math::
    y_{n,c,h,w} = \frac{1}{k^2} \sum_{(u,v) \in \Omega_{h,w}} x_{n,c,u,v}, \qquad
    dx_{n,c,u,v} = \frac{1}{k^2} \sum_{(h,w):\; (u,v) \in \Omega_{h,w}} dy_{n,c,h,w},

each pixel collecting ``dy / k^2`` from every window it lies in (the adjoint of the sum, as
``col2im`` is the adjoint of ``im2col`` in :mod:`minigan.functional.conv`).

Both backwards run as ``k*k`` strided slice-adds into a zero-padded buffer, one per window offset
``(i, j)``: offset ``(i, j)`` of every window reads the strided slice
``xp[:, :, i : i + s(Ho-1) + 1 : s, j : j + s(Wo-1) + 1 : s]`` of the padded input ``xp``, so its
share of ``dy`` adds back onto the same slice; the padding is cut off at the end.

>>> import numpy as np
>>> x = np.array([[[[1.0, 2.0], [4.0, 3.0]]]])
>>> y, cache = max_pool2d_forward(x, 2, 2, 0)
>>> y
array([[[[4.]]]])
>>> max_pool2d_backward(np.ones_like(y), cache)
array([[[[0., 0.],
         [1., 0.]]]])
>>> avg_pool2d_backward(np.ones_like(y), avg_pool2d_forward(x, 2, 2, 0)[1])
array([[[[0.25, 0.25],
         [0.25, 0.25]]]])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minigan.functional.conv import conv_output_size


class PoolCache(NamedTuple):
    """What a pooling backward needs: the input's shape and the window; for max pooling also the
    padded input ``xp`` (N, C, H + 2p, W + 2p) (``x`` itself when ``p = 0``: no copy) and the
    output ``y``, from which backward finds each window's maximum (None for average pooling)."""

    xp: np.ndarray | None
    y: np.ndarray | None
    x_shape: tuple[int, int, int, int]
    kernel: int
    stride: int
    padding: int


def _padded(x: np.ndarray, padding: int, fill: float) -> np.ndarray:
    """``x`` (N, C, H, W) inside a border of ``padding`` values ``fill`` (no copy if 0)."""
    if padding == 0:
        return x
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * padding, w + 2 * padding), fill, x.dtype)
    xp[:, :, padding : padding + h, padding : padding + w] = x
    return xp


def _offsets(kernel: int, stride: int, ho: int, wo: int):
    """``(i, j, rows, cols)`` per window offset: the strided slices of the padded input that
    offset ``(i, j)`` of all the windows reads."""
    for i in range(kernel):
        for j in range(kernel):
            rows = slice(i, i + stride * (ho - 1) + 1, stride)
            yield i, j, rows, slice(j, j + stride * (wo - 1) + 1, stride)


def _scatter(parts, cache: PoolCache, dtype: np.dtype, ho: int, wo: int) -> np.ndarray:
    """Add each offset's (N, C, Ho, Wo) part of the gradient onto the slice it was read from;
    returns the unpadded, contiguous ``dx`` (N, C, H, W)."""
    n, c, h, w = cache.x_shape
    p = cache.padding
    dxp = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype)
    for (_, _, rows, cols), part in zip(_offsets(cache.kernel, cache.stride, ho, wo), parts):
        dxp[:, :, rows, cols] += part
    return dxp if p == 0 else np.ascontiguousarray(dxp[:, :, p : p + h, p : p + w])


def pool_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """``floor((size + 2 * padding - kernel) / stride) + 1``, as for a convolution."""
    return conv_output_size(size, kernel, stride, padding)


def max_pool2d_forward(
    x: np.ndarray, kernel: int, stride: int, padding: int
) -> tuple[np.ndarray, PoolCache]:
    """``y`` (N, C, Ho, Wo), the maximum of each window of ``x`` (N, C, H, W), and the cache.

    ``np.maximum`` of the ``k*k`` offset slices, one pass each (a NaN propagates). Where the
    maximum sits is left to backward, so inference pays for the maximum alone.
    """
    xp = _padded(x, padding, -np.inf)
    ho = pool_output_size(x.shape[2], kernel, stride, padding)
    wo = pool_output_size(x.shape[3], kernel, stride, padding)
    y = None
    for _, _, rows, cols in _offsets(kernel, stride, ho, wo):
        if y is None:
            y = xp[:, :, rows, cols].copy()
        else:
            np.maximum(y, xp[:, :, rows, cols], out=y)
    return y, PoolCache(xp, y, x.shape, kernel, stride, padding)


def max_pool2d_backward(dy: np.ndarray, cache: PoolCache) -> np.ndarray:
    """``dx`` (N, C, H, W): each ``dy`` value added onto its window's maximum (see above).

    The offsets are visited in row-major window order, and each window's ``dy`` goes to the
    first offset whose value equals the window's maximum (``taken`` marks the windows served),
    so a tie sends it to the first maximum, as PyTorch does; a window whose maximum is NaN
    passes no gradient.
    """
    ho, wo = dy.shape[2:]
    taken = np.zeros(dy.shape, bool)

    def parts():
        for _, _, rows, cols in _offsets(cache.kernel, cache.stride, ho, wo):
            hit = cache.xp[:, :, rows, cols] == cache.y
            hit &= ~taken
            taken[...] |= hit
            yield dy * hit

    return _scatter(parts(), cache, dy.dtype, ho, wo)


def avg_pool2d_forward(
    x: np.ndarray, kernel: int, stride: int, padding: int
) -> tuple[np.ndarray, PoolCache]:
    """``y`` (N, C, Ho, Wo), the mean of each window of ``x`` (N, C, H, W) with padded zeros
    counted (``count_include_pad=True``), and the cache (the shapes only)."""
    xp = _padded(x, padding, 0.0)
    ho = pool_output_size(x.shape[2], kernel, stride, padding)
    wo = pool_output_size(x.shape[3], kernel, stride, padding)
    y = np.zeros((x.shape[0], x.shape[1], ho, wo), x.dtype)
    for _, _, rows, cols in _offsets(kernel, stride, ho, wo):
        y += xp[:, :, rows, cols]
    y *= x.dtype.type(1 / (kernel * kernel))
    return y, PoolCache(None, None, x.shape, kernel, stride, padding)


def avg_pool2d_backward(dy: np.ndarray, cache: PoolCache) -> np.ndarray:
    """``dx`` (N, C, H, W): ``dy / k^2`` added onto every pixel of each window (see above)."""
    ho, wo = dy.shape[2:]
    share = dy * dy.dtype.type(1 / (cache.kernel * cache.kernel))
    parts = (share for _ in range(cache.kernel * cache.kernel))
    return _scatter(parts, cache, dy.dtype, ho, wo)
