r"""The convolution lowering on the CPU: two Numba loops around the reference's BLAS GEMMs.

Math and layouts: :mod:`minigan.functional.conv` (the derivation of both convolutions as GEMMs on
channels-last windows (N, Ho, Wo, kh, kw, C), and of :func:`~minigan.functional.conv.col2im` as
the adjoint of :func:`~minigan.functional.conv.im2col`). The four ops are the reference's own
functions, run with this module's :data:`LOWERING` (:func:`minigan.functional.conv.lowered_ops`),
so the GEMMs, the caches and the backward passes are the reference's. Only two steps of the
lowering differ, both by fusion and memory order, not by math:

- :func:`col2im` accumulates one sample per thread (no races) into a zero-padded channels-last
  buffer, then writes it out as NCHW with the bias added in the same pass (the reference makes
  kh*kw strided slice-adds over the whole batch, then a transposing copy). Outputs with fewer
  than :data:`MIN_CHANNELS` channels go to the reference, whose slice-adds are as fast there;
- :func:`rows_to_nchw` turns the (N*H*W, C) GEMM rows into NCHW with the bias fused (the
  reference copies, then adds the bias in a second pass), on the calling thread up to large
  sizes (:mod:`minigan.kernels.numba.launch`).

:func:`col2im` accumulates in float32, as the reference, but in another order (window by
window, where the reference goes offset by offset), so sums differ by rounding. im2col, the
NCHW -> rows transpose and the bias gradient stay NumPy's, which measured as fast or faster.
Figures: ``docs/performance.md``, "The kernels, measured".
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from minigan.functional import conv as reference
from minigan.functional.conv import Lowering
from minigan.kernels.numba.launch import pick, twins

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


def _rows_to_nchw_loop(rows, n, h, w, bias):  # pragma: no cover - compiled
    c = rows.shape[1]
    out = np.empty((n, c, h * w), rows.dtype)
    for nb in prange(n):
        for ch in range(c):
            b = bias[ch] if bias.size else 0
            for p in range(h * w):
                out[nb, ch, p] = rows[nb * h * w + p, ch] + b
    return out.reshape(n, c, h, w)


_rows_to_nchw = twins(_rows_to_nchw_loop)


def rows_to_nchw(
    rows: np.ndarray, n: int, h: int, w: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """Fast :func:`minigan.functional.conv.rows_to_nchw`: (N*H*W, C) GEMM rows to a contiguous
    (N, C, H, W), ``+ bias[c]`` fused."""
    return pick(_rows_to_nchw, rows.size, streaming=True)(rows, n, h, w, _bias(bias))


#: The Numba lowering: the two kernels above; NumPy's im2col, transpose to rows and channel sum.
LOWERING = Lowering(
    reference.im2col, col2im, reference.nchw_to_rows, rows_to_nchw, reference.channel_sum
)
