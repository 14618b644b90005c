r"""2-D convolution and transposed convolution, lowered to one matrix product each way.

Shapes (NCHW): ``x`` (N, C, H, W); ``Conv2d`` weight ``W`` (O, C, kh, kw); ``ConvTranspose2d``
weight ``W`` (C, O, kh, kw), as in PyTorch; ``b`` (O,) or None; ``s`` stride, ``p`` padding.

Convolution (cross-correlation, as in every framework), with ``xp`` the zero-padded input:

.. math::
    y_{n,o,h,w} = b_o + \sum_{c,i,j} W_{o,c,i,j}\; xp_{n,c,\,hs+i,\,ws+j},
    \qquad H_{out} = \lfloor (H + 2p - k_h) / s \rfloor + 1

*im2col* gathers every window into a row of ``cols`` (N*Ho*Wo, C*kh*kw), so ``y = cols @ W^T``.
Backward is then plain matrix calculus: ``dW = dy^T cols``, ``dcols = dy W``, and *col2im* adds
each row of ``dcols`` back onto the pixels its window came from (the adjoint of im2col).

A transposed convolution is the adjoint of a convolution: its forward is a convolution's input
gradient (a product then col2im), its backward a convolution's forward (im2col then a product).
``H_out = (H - 1) s - 2p + k_h + output_padding``. Both ops share the two helpers below.

>>> import numpy as np
>>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
>>> y, cache = conv2d_forward(x, np.ones((1, 1, 2, 2), np.float32), None, stride=2, padding=0)
>>> y[0, 0]
array([[10., 18.],
       [42., 50.]], dtype=float32)
>>> conv_transpose2d_forward(y, np.ones((1, 1, 2, 2), np.float32), None, 2, 0)[0].shape
(1, 1, 4, 4)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """``floor((size + 2 * padding - kernel) / stride) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_transpose_output_size(
    size: int, kernel: int, stride: int, padding: int, output_padding: int = 0
) -> int:
    """``(size - 1) * stride - 2 * padding + kernel + output_padding``."""
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, padding: int) -> np.ndarray:
    """Lower ``x`` (N, C, H, W) to contiguous windows (N, Ho, Wo, C, kh, kw).

    ``sliding_window_view`` makes a strided view of every window; the transpose puts the
    window's (C, kh, kw) last so that reshaping to (N*Ho*Wo, C*kh*kw) is free, and the one
    ``ascontiguousarray`` is the only copy.
    """
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.ascontiguousarray(windows.transpose(0, 2, 3, 1, 4, 5))


def col2im(
    cols: np.ndarray, x_shape: tuple[int, int, int, int], stride: int, padding: int
) -> np.ndarray:
    """Adjoint of :func:`im2col`: add windows (N, Ho, Wo, C, kh, kw) back into (N, C, H, W).

    One strided slice-add per kernel offset (kh*kw of them), each covering the whole batch; the
    padding border is cropped at the end. Pixels past the last window stay zero.
    """
    n, c, h, w = x_shape
    _, ho, wo, _, kh, kw = cols.shape
    hp, wp = h + 2 * padding, w + 2 * padding
    out = np.zeros((n, c, hp, wp), dtype=cols.dtype)
    cols = cols.transpose(0, 3, 4, 5, 1, 2)  # (N, C, kh, kw, Ho, Wo)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += cols[
                :, :, i, j
            ]
    return out[:, :, padding : padding + h, padding : padding + w]


class ConvCache(NamedTuple):
    """What backward needs. ``cols`` is the lowered input of the product that made ``dW``
    (kept rather than ``x`` to spare backward a second im2col); ``W`` for the input gradient.
    """

    cols: np.ndarray
    W: np.ndarray
    x_shape: tuple[int, int, int, int]
    stride: int
    padding: int
    has_bias: bool


def conv2d_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, ConvCache]:
    """Return ``y`` (N, O, Ho, Wo) and the cache. ``W`` is (O, C, kh, kw)."""
    n = x.shape[0]
    o, _, kh, kw = W.shape
    cols = im2col(x, kh, kw, stride, padding)
    _, ho, wo = cols.shape[:3]
    y = cols.reshape(n * ho * wo, -1) @ W.reshape(o, -1).T  # (N*Ho*Wo, O)
    if b is not None:
        y += b
    y = np.ascontiguousarray(y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2))
    return y, ConvCache(cols, W, x.shape, stride, padding, b is not None)


def conv2d_backward(
    dy: np.ndarray, cache: ConvCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return ``(dx, dW, db)`` with the shapes of ``x``, ``W`` and ``b``."""
    cols, W, x_shape, stride, padding, has_bias = cache
    o = W.shape[0]
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, o)  # (N*Ho*Wo, O)
    cols_2d = cols.reshape(dy_rows.shape[0], -1)
    dW = (dy_rows.T @ cols_2d).reshape(W.shape)
    dcols = (dy_rows @ W.reshape(o, -1)).reshape(cols.shape)
    dx = col2im(dcols, x_shape, stride, padding)
    return dx, dW, dy.sum(axis=(0, 2, 3)) if has_bias else None


class ConvTransposeCache(NamedTuple):
    """``x_rows`` (N*H*W, C), the input as the product saw it, for ``dW``; ``W`` for ``dx``."""

    x_rows: np.ndarray
    W: np.ndarray
    x_shape: tuple[int, int, int, int]
    stride: int
    padding: int
    has_bias: bool


def conv_transpose2d_forward(
    x: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
) -> tuple[np.ndarray, ConvTransposeCache]:
    """Return ``y`` (N, O, Ho, Wo) and the cache. ``W`` is (C, O, kh, kw).

    ``y = col2im(x_rows @ W)``: every input pixel scatters ``x[n, :, h, w] @ W`` into the
    window at (h*s - p, w*s - p) of the output.
    """
    n, c, h, w = x.shape
    _, o, kh, kw = W.shape
    ho = conv_transpose_output_size(h, kh, stride, padding, output_padding)
    wo = conv_transpose_output_size(w, kw, stride, padding, output_padding)
    x_rows = x.transpose(0, 2, 3, 1).reshape(n * h * w, c)
    cols = (x_rows @ W.reshape(c, -1)).reshape(n, h, w, o, kh, kw)
    y = col2im(cols, (n, o, ho, wo), stride, padding)
    if b is not None:
        y += b.reshape(1, o, 1, 1)
    y = np.ascontiguousarray(y)
    return y, ConvTransposeCache(x_rows, W, x.shape, stride, padding, b is not None)


def conv_transpose2d_backward(
    dy: np.ndarray, cache: ConvTransposeCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return ``(dx, dW, db)``: ``dcols = im2col(dy)``, ``dx = dcols @ W^T``, ``dW = x^T dcols``."""
    x_rows, W, x_shape, stride, padding, has_bias = cache
    n, c, h, w = x_shape
    _, _, kh, kw = W.shape
    dcols = im2col(dy, kh, kw, stride, padding)[:, :h, :w].reshape(n * h * w, -1)
    W_2d = W.reshape(c, -1)
    dx = np.ascontiguousarray((dcols @ W_2d.T).reshape(n, h, w, c).transpose(0, 3, 1, 2))
    dW = (x_rows.T @ dcols).reshape(W.shape)
    return dx, dW, dy.sum(axis=(0, 2, 3)) if has_bias else None
