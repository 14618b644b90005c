r"""im2col and col2im on the GPU: the lowering that turns both convolutions into cuBLAS products.

NumPy references: :func:`minigan.functional.conv.im2col` and :func:`minigan.functional.conv.col2im`
(same layouts: ``x`` (N, C, H, W), channels-last ``cols`` (N, Ho, Wo, kh, kw, C)). With
stride ``s`` and padding ``p``,

.. math::
    \mathrm{cols}_{n,h',w',i,j,c} = x_{n,\,c,\,h's - p + i,\,w's - p + j}
    \quad (0 \text{ outside } x),

and col2im is its adjoint, written as a **gather**: output pixel :math:`(h, w)` sums the window
entries that touch it, those with :math:`h + p - i = h's`, :math:`0 \le h' < H_o` (and the same
for :math:`w`). One thread owns one output value, so there are no atomics and the sum is
deterministic. ``col2im`` can add a per-channel bias as it goes: the transposed convolution's
forward is ``col2im(x_rows @ W) + b`` in one pass.

The number of windows is read off ``cols``: a ``cols`` with fewer windows than the input allows
takes the first ones.
"""

from __future__ import annotations

from typing import Any

from numba import cuda

from minigan.kernels.cuda_common import absent, elementwise_config


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


def im2col(x: Any, cols: Any, stride: int, padding: int, stream: Any = 0) -> None:
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


def col2im(
    cols: Any, x: Any, stride: int, padding: int, b: Any | None = None, stream: Any = 0
) -> None:
    """Launch :func:`_col2im_kernel`: overwrite ``x`` (N, C, H, W) with the adjoint of im2col of
    ``cols``, plus ``b[c]`` on channel ``c`` when ``b`` is given.
    """
    blocks, threads = elementwise_config(x.size)
    b = absent(x.dtype) if b is None else b
    _col2im_kernel[blocks, threads, stream](cols, stride, padding, b, x)
