r"""The convolution lowering on the GPU: im2col and col2im kernels, and the CuPy :data:`LOWERING`
that turns both convolutions into cuBLAS products.

Math and layouts: :mod:`minigan.functional.conv` (both convolutions as GEMMs on channels-last
windows (N, Ho, Wo, kh, kw, C), col2im the adjoint of im2col). The four ops are the reference's
own functions run with :data:`LOWERING` (:func:`minigan.functional.conv.lowered_ops`), so the
GEMMs (``cupy.matmul``), the caches and the backward passes are the reference's. The windows
are, with stride ``s`` and padding ``p``,

.. math::
    \mathrm{cols}_{n,h',w',i,j,c} = x_{n,\,c,\,h's - p + i,\,w's - p + j}
    \quad (0 \text{ outside } x).

Where it differs from the reference:

- **col2im is a gather**, not a scatter: output pixel :math:`(h, w)` sums the window entries
  that touch it, those with :math:`h + p - i = h's`, :math:`0 \le h' < H_o` (and the same for
  :math:`w`). One thread owns one output value, so there are no atomics and the sum is
  deterministic; it accumulates in float64 (the reference adds slices in float32) and can add
  a per-channel bias as it goes (the transposed convolution's forward,
  ``col2im(x_rows @ W) + b``, is one pass);
- **fusion**: GEMM rows to NCHW and the bias add are one kernel pass over a strided view
  (:func:`minigan.kernels.cuda.activations.add_bias`); the bias gradient is a float64
  per-channel sum (:func:`minigan.kernels.cuda.activations.bias_grad`).

The number of windows is read off ``cols``: a ``cols`` with fewer windows than the input allows
takes the first ones.
"""

from __future__ import annotations

from typing import Any

from numba import cuda

from minigan.functional.conv import Lowering, conv_output_size
from minigan.kernels.cuda.activations import add_bias, bias_grad
from minigan.kernels.cuda.common import (
    absent,
    cupy,
    current_stream,
    elementwise_config,
    numba_view,
)


# ---- kernels and their launch helpers (Numba device arrays) --------------------------------------
@cuda.jit
def _im2col_kernel(x, stride, padding, cols):  # type: ignore[no-untyped-def]
    """One thread per entry of ``cols`` (grid-stride over its flat C-order index, decoded as
    ``(n, h', w', i, j, c)``); reads one input value or writes 0 in the padding.
    """
    _, out_h, out_w, kh, kw, channels = cols.shape
    height, width = x.shape[2], x.shape[3]
    for k in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        c, r = k % channels, k // channels
        j, r = r % kw, r // kw
        i, r = r % kh, r // kh
        wo, r = r % out_w, r // out_w
        ho, n = r % out_h, r // out_h
        h, w = ho * stride - padding + i, wo * stride - padding + j
        inside = 0 <= h < height and 0 <= w < width
        cols[n, ho, wo, i, j, c] = x[n, c, h, w] if inside else 0


def launch_im2col(x: Any, cols: Any, stride: int, padding: int, stream: Any = 0) -> None:
    """Launch :func:`_im2col_kernel`: fill ``cols`` (N, Ho, Wo, kh, kw, C) from ``x``."""
    blocks, threads = elementwise_config(cols.size)
    _im2col_kernel[blocks, threads, stream](x, stride, padding, cols)


@cuda.jit
def _col2im_kernel(cols, stride, padding, b, x):  # type: ignore[no-untyped-def]
    """One thread per output pixel ``x[n, c, h, w]`` (grid-stride over its flat index): start
    from ``b[c]`` (0 when ``b`` is empty) and add ``cols[n, h', w', i, j, c]`` for each kernel
    offset ``(i, j)`` whose window ``(h', w')`` exists, accumulating in float64.
    """
    _, out_h, out_w, kh, kw, _ = cols.shape
    _, channels, height, width = x.shape
    for k in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        w, r = k % width, k // width
        h, r = r % height, r // height
        c, n = r % channels, r // channels
        total = 0.0
        if b.size:
            total += b[c]
        for i in range(kh):
            hs = h + padding - i
            ho = hs // stride
            if hs < 0 or hs % stride != 0 or ho >= out_h:
                continue
            for j in range(kw):
                ws = w + padding - j
                wo = ws // stride
                if ws >= 0 and ws % stride == 0 and wo < out_w:
                    total += cols[n, ho, wo, i, j, c]
        x[n, c, h, w] = total


def launch_col2im(
    cols: Any, x: Any, stride: int, padding: int, b: Any | None = None, stream: Any = 0
) -> None:
    """Launch :func:`_col2im_kernel`: overwrite ``x`` (N, C, H, W) with the adjoint of im2col of
    ``cols``, plus ``b[c]`` on channel ``c`` when ``b`` is given.
    """
    blocks, threads = elementwise_config(x.size)
    b = absent(x.dtype) if b is None else b
    _col2im_kernel[blocks, threads, stream](cols, stride, padding, b, x)


# ---- the CuPy lowering ---------------------------------------------------------------------------
def im2col(x: Any, kh: int, kw: int, stride: int, padding: int) -> Any:
    """:func:`minigan.functional.conv.im2col` on CuPy arrays: the channels-last windows
    (N, Ho, Wo, kh, kw, C), one thread per entry."""
    n, c, h, w = x.shape
    ho, wo = conv_output_size(h, kh, stride, padding), conv_output_size(w, kw, stride, padding)
    cols = cupy.empty((n, ho, wo, kh, kw, c), x.dtype)
    launch_im2col(
        numba_view(cupy.ascontiguousarray(x)), numba_view(cols), stride, padding, current_stream()
    )
    return cols


def col2im(
    cols: Any,
    x_shape: tuple[int, int, int, int],
    stride: int,
    padding: int,
    bias: Any | None = None,
) -> Any:
    """:func:`minigan.functional.conv.col2im` on CuPy arrays, with its optional per-channel
    ``bias``: one thread per output pixel."""
    x = cupy.empty(x_shape, cols.dtype)
    launch_col2im(
        numba_view(cupy.ascontiguousarray(cols)), numba_view(x), stride, padding,
        numba_view(bias), current_stream(),
    )  # fmt: skip
    return x


def nchw_to_rows(x: Any) -> Any:
    """(N, C, H, W) as contiguous (N*H*W, C) GEMM rows (one CuPy transposing copy)."""
    return cupy.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(-1, x.shape[1])


def rows_to_nchw(rows: Any, n: int, h: int, w: int, bias: Any | None = None) -> Any:
    """(N*H*W, C) GEMM rows to NCHW plus ``bias[c]``, one bias-add kernel pass over a view."""
    c = rows.shape[1]
    y = cupy.empty((n, c, h, w), rows.dtype)
    add_bias(rows.reshape(n, h * w, c).transpose(0, 2, 1), bias, y.reshape(n, c, h * w))
    return y


def channel_sum(x: Any) -> Any:
    """``x.sum(axis=(0, 2, 3))`` by the bias-gradient kernel (float64 sums)."""
    return bias_grad(x)


#: The CUDA lowering the reference's convolution functions run with.
LOWERING = Lowering(im2col, col2im, nchw_to_rows, rows_to_nchw, channel_sum)
