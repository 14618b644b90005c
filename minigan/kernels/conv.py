r"""Convolution and transposed convolution on the CPU: Numba data movement around BLAS GEMMs.

NumPy reference: :mod:`minigan.functional.conv`. The four ops are the reference's own functions
(same GEMMs, same channels-last windows (N, Ho, Wo, kh, kw, C), same caches) run with this
module's :data:`LOWERING`, which replaces the two steps of the lowering where a Numba loop beats
NumPy (measured at DCGAN-28's shapes, batch 64, one and two threads):

- :func:`col2im` adds window pixels into a zero-padded channels-last buffer per sample (one
  sample per thread, no races), then transposes it into NCHW with the bias added on the way:
  1.3 ms against the reference's 5.7 ms (16 strided slice-adds) at the 64-channel output, 2
  threads. With a single channel NumPy's slice-adds are as fast or faster (0.4 against 0.7 ms),
  so outputs with fewer than :data:`MIN_CHANNELS` channels go to the reference;
- :func:`rows_to_nchw` turns the (N*H*W, C) GEMM rows into NCHW with the bias fused: 0.3-0.5 ms
  against 0.45-1.0 ms with 2 threads (a tie with one).

im2col, the NCHW -> rows transpose and the bias gradient stay NumPy's: its im2col (one
padded channels-last copy, then one copy of the windows) matched a Numba gather with 2 threads
and beat it 2x on one channel, its strided transposes beat a Numba loop 3x, its channel sum a
float64 Numba loop 1.5x. The GEMMs stay in BLAS (``np.matmul``): a loop nest would lose to them
many times over.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from minigan.functional import conv as reference
from minigan.functional.conv import ConvCache, ConvTransposeCache, Lowering

_NO_BIAS = np.zeros(0, np.float32)

#: Outputs with fewer channels than this (DCGAN-28's 1-channel images) use the reference col2im.
MIN_CHANNELS = 8


def _bias(b: np.ndarray | None) -> np.ndarray:
    """The kernels take an empty array for "no bias" (one compiled signature for both)."""
    return _NO_BIAS if b is None else b


@njit(parallel=True, cache=True)
def _col2im(cols, h, w, stride, padding, bias):  # pragma: no cover - compiled
    n, ho, wo, kh, kw, c = cols.shape
    hp = max((ho - 1) * stride + kh, h + padding)
    wp = max((wo - 1) * stride + kw, w + padding)
    out = np.empty((n, c, h, w), cols.dtype)
    for nb in prange(n):
        acc = np.zeros((hp, wp, c), cols.dtype)  # this sample, padded, channels last
        for oh in range(ho):
            for ow in range(wo):
                for i in range(kh):
                    for j in range(kw):
                        for ch in range(c):
                            acc[oh * stride + i, ow * stride + j, ch] += cols[nb, oh, ow, i, j, ch]
        for ch in range(c):
            b = bias[ch] if bias.size else 0
            for r in range(h):
                for q in range(w):
                    out[nb, ch, r, q] = acc[r + padding, q + padding, ch] + b
    return out


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    stride: int,
    padding: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    r"""Fast :func:`minigan.functional.conv.col2im`, plus an optional per-channel ``bias``:
    (N, C, H, W) with
    :math:`out_{n,c,r,q} = b_c + \sum_{a s - p + i = r,\; b s - p + j = q} cols_{n,a,b,i,j,c}`.
    Fewer than :data:`MIN_CHANNELS` channels go to the reference (see the module notes).
    """
    if x_shape[1] < MIN_CHANNELS:
        return reference.col2im(cols, x_shape, stride, padding, bias)
    return _col2im(np.ascontiguousarray(cols), x_shape[2], x_shape[3], stride, padding, _bias(bias))


@njit(parallel=True, cache=True)
def _rows_to_nchw(rows, n, h, w, bias):  # pragma: no cover - compiled
    c = rows.shape[1]
    out = np.empty((n, c, h * w), rows.dtype)
    for nb in prange(n):
        for ch in range(c):
            b = bias[ch] if bias.size else 0
            for p in range(h * w):
                out[nb, ch, p] = rows[nb * h * w + p, ch] + b
    return out.reshape(n, c, h, w)


def rows_to_nchw(
    rows: np.ndarray, n: int, h: int, w: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """Fast :func:`minigan.functional.conv.rows_to_nchw`: (N*H*W, C) GEMM rows to a contiguous
    (N, C, H, W), ``+ bias[c]`` fused."""
    return _rows_to_nchw(rows, n, h, w, _bias(bias))


#: The Numba lowering: the two kernels above; NumPy's im2col, transpose to rows and channel sum.
LOWERING = Lowering(
    reference.im2col, col2im, reference.nchw_to_rows, rows_to_nchw, reference.channel_sum
)


def conv2d_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, ConvCache]:
    """:func:`minigan.functional.conv2d_forward` with :data:`LOWERING`."""
    return reference.conv2d_forward(x, W, b, stride, padding, LOWERING)


def conv2d_backward(
    dy: np.ndarray, cache: ConvCache, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """:func:`minigan.functional.conv2d_backward` with :data:`LOWERING`."""
    return reference.conv2d_backward(dy, cache, input_grad, LOWERING)


def conv_transpose2d_forward(
    x: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
) -> tuple[np.ndarray, ConvTransposeCache]:
    """:func:`minigan.functional.conv_transpose2d_forward` with :data:`LOWERING`."""
    return reference.conv_transpose2d_forward(x, W, b, stride, padding, output_padding, LOWERING)


def conv_transpose2d_backward(
    dy: np.ndarray, cache: ConvTransposeCache, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """:func:`minigan.functional.conv_transpose2d_backward` with :data:`LOWERING`."""
    return reference.conv_transpose2d_backward(dy, cache, input_grad, LOWERING)
