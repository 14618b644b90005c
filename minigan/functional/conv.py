r"""2-D convolution and transposed convolution, lowered to one matrix product each way.

Shapes (NCHW): ``x`` (N, C, H, W); ``Conv2d`` weight ``W`` (O, C, kh, kw); ``ConvTranspose2d``
weight ``W`` (C, O, kh, kw), as in PyTorch; ``b`` (O,) or None; ``s`` stride, ``p`` padding;
``d<name>`` is the gradient of the loss with respect to ``<name>``. :math:`\langle u, v\rangle`
is the sum of ``u * v`` over all entries, for two arrays of the same shape.

**Forward.** Convolution (cross-correlation, as in every framework), with ``xp`` the zero-padded
input and ``y`` (N, O, Ho, Wo):

.. math::
    y_{n,o,h,w} = b_o + \sum_{c,i,j} W_{o,c,i,j}\; xp_{n,c,\,hs+i,\,ws+j},
    \qquad H_{out} = \lfloor (H + 2p - k_h) / s \rfloor + 1

*im2col* gathers the window under every output pixel, ``cols[n, h, w, i, j, c] = xp[n, c, hs+i,
ws+j]``: ``cols`` is (N, Ho, Wo, kh, kw, C), viewed as the matrix (N*Ho*Wo, kh*kw*C) with one row
``r = (n, h, w)`` per output pixel and one column ``k = (i, j, c)`` per window entry. ``W`` is
viewed as the matrix (O, kh*kw*C) with its columns in the same (i, j, c) order (channels-last,
:func:`channels_last_weight`). The sum over ``c, i, j`` is then a row of ``cols`` times a row of
``W``, and the whole convolution one product, giving ``y_rows`` (N*Ho*Wo, O):

.. math::
    (y_{rows})_{r,o} = \sum_k cols_{r,k}\, W_{o,k}, \qquad y_{rows} = cols\, W^T, \qquad
    y_{n,o,h,w} = (y_{rows})_{(n,h,w),\,o} + b_o

**Backward.** ``dy`` (N, O, Ho, Wo) is reshaped to rows ``dy_rows`` (N*Ho*Wo, O), laid out like
``y_rows``. Each ``W[o, k]`` and each ``cols[r, k]`` enters ``y_rows`` linearly, so

.. math::
    dW_{o,k} = \sum_r (dy_{rows})_{r,o}\, cols_{r,k}, \qquad
    dcols_{r,k} = \sum_o (dy_{rows})_{r,o}\, W_{o,k}, \qquad
    db_o = \sum_{n,h,w} dy_{n,o,h,w}

``dW = dy^T cols`` means ``dy_rows^T @ cols``, (O, kh*kw*C), reshaped to (O, kh, kw, C) and
permuted back to (O, C, kh, kw) (:func:`channels_first_weight`); ``dcols = dy W`` means
``dy_rows @ W``, (N*Ho*Wo, kh*kw*C), reshaped to the windows (N, Ho, Wo, kh, kw, C). Last,
``cols = im2col(x)`` is linear in ``x``; the chain rule through a linear map ``A`` gives
``dx = A^T(dcols)``, with ``A^T`` the adjoint, the map for which
:math:`\langle A(x), u\rangle = \langle x, A^T(u)\rangle` for all ``x`` and ``u``.

**col2im is the adjoint of im2col.** For any ``u`` of the shape of ``cols``, write the inner
product with ``x`` itself (:math:`x_{n,c,h,w} = 0` outside the image: the padding), then group
its terms by the pixel of ``x`` they read:

.. math::
    \langle \mathrm{im2col}(x), u\rangle
      &= \sum_{n,h',w',i,j,c} x_{n,c,\,h's-p+i,\,w's-p+j}\; u_{n,h',w',i,j,c} \\
      &= \sum_{n,c,h,w} x_{n,c,h,w} \sum_{h's-p+i=h,\; w's-p+j=w} u_{n,h',w',i,j,c}
       = \langle x, \mathrm{col2im}(u)\rangle

So *col2im* adds each window entry back onto the pixel it was read from (entries that read the
padding are dropped; a pixel no window reads gets 0), and ``dx = col2im(dcols)``.

**The transposed convolution is the adjoint of the convolution.** Take one weight tensor ``W``
(O, C, kh, kw). ``conv`` (no bias) reads it as a ``Conv2d`` weight, (N, C, H, W) to
(N, O, Ho, Wo); ``conv_transpose`` reads the same tensor as a ``ConvTranspose2d`` weight (in = O,
out = C), (N, O, Ho, Wo) back to (N, C, H, W) (with ``output_padding = (H + 2p - kh) mod s``, so
that the sizes match). For any ``x`` and ``y`` of those shapes, move ``W`` to the other side of
the product (:math:`\langle A B^T, Y\rangle = \sum A_{rk} B_{ok} Y_{ro} =
\langle A, Y B\rangle`), then col2im to the other side of im2col (above):

.. math::
    \langle \mathrm{conv}(x), y\rangle
      = \langle cols\, W^T, y_{rows}\rangle
      = \langle cols, y_{rows} W\rangle
      = \langle x, \mathrm{col2im}(y_{rows} W)\rangle
      = \langle x, \mathrm{conv\_transpose}(y)\rangle

So the transposed convolution's forward is the convolution's input gradient (a product then
col2im), and its backward, the gradient of that adjoint, is the convolution's forward again
(im2col then a product). In its own symbols (input ``x`` (N, C, H, W), ``W`` (C, O, kh, kw)
viewed as (C, kh*kw*O), ``x_rows`` (N*H*W, C), ``y`` (N, O, Ho, Wo)):

.. math::
    y = \mathrm{col2im}(x_{rows} W) + b, \qquad
    dcols = \mathrm{im2col}(dy), \quad dx = dcols\, W^T, \quad dW = x_{rows}^T\, dcols, \quad
    db_o = \sum_{n,h,w} dy_{n,o,h,w}

with ``H_out = (H - 1) s - 2p + k_h + output_padding``, ``x_rows @ W`` reshaped to one window
(kh, kw, O) per input pixel, (N, H, W, kh, kw, O), and ``dcols`` the same windows of ``dy``
(see :func:`conv_transpose2d_backward` for why it keeps only H x W of them).

**Second order** (a gradient penalty, :mod:`minigan.penalty`). The input gradient is the
adjoint applied to ``dy``, ``dx = conv_transpose(dy)`` (no bias in it), bilinear in
``(W, dy)``. For a tangent ``v`` of ``x``'s shape, the adjoint identity above gives
:math:`\langle v, dx\rangle = \langle \mathrm{conv}(v), dy\rangle`: the first-order loss of
the convolution run on ``v`` with no bias. So, ``dy`` held fixed,
:math:`\partial \langle v, dx\rangle / \partial W` is the ``dW`` of :func:`conv2d_backward`
on ``dy`` with the cache of ``conv2d_forward(v, W, None, s, p)`` (whose ``y`` is the tangent
passed on), and the derivative in ``b`` is 0. The transposed convolution is the same with the
roles swapped: ``conv_transpose2d_forward(v, W, None, ...)`` then
:func:`conv_transpose2d_backward`'s ``dW``.

The windows are *channels-last*, (kh, kw, C) with C innermost, and the weights are permuted to
match (a small copy per call), so that every window pixel is one contiguous run of C values
(faster to copy and add than channels-first windows: see docs/performance.md). Where the
image side has fewer than :data:`PER_SAMPLE_CHANNELS` channels (DCGAN-28's first convolution
and last transposed convolution), the same products run *per sample*, reading and writing the
many-channel side in NCHW as it is: ``y[n] = W cols[n]^T`` (O, Ho*Wo) is already sample ``n``
of ``y`` in NCHW (no transpose to or from GEMM rows), and ``dW = sum_n dy[n] cols[n]``, the
sum over rows split by sample. The data movement around the products (im2col, col2im, the
NCHW <-> rows transposes, the bias sum: :mod:`minigan.functional.lowering`) goes through a
:class:`Lowering`: every backend runs the ops below with its own kernels for those
functions, and the same math (the two ``*_input_grad`` ops are ``dx`` alone, for a backward
whose weight gradients nobody reads). A lowering with a ``col2im_taps`` (NumPy's) gets the
wide products' windows tap-major, ``rows @ tap_weight(W)``, the same numbers in another order.

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

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

# the data movement around the products, one module down (re-exported: the names are used here)
from minigan.functional.lowering import (  # noqa: F401
    NUMPY_LOWERING,
    Lowering,
    channel_sum,
    channels_first_weight,
    channels_last_weight,
    col2im,
    col2im_taps,
    im2col,
    nchw_to_rows,
    rows_to_nchw,
    tap_weight,
)

#: Convolutions from, and transposed convolutions to, fewer channels run one product per sample.
PER_SAMPLE_CHANNELS = 8


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """``floor((size + 2 * padding - kernel) / stride) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_transpose_output_size(
    size: int, kernel: int, stride: int, padding: int, output_padding: int = 0
) -> int:
    """``(size - 1) * stride - 2 * padding + kernel + output_padding``."""
    return (size - 1) * stride - 2 * padding + kernel + output_padding


class ConvCache(NamedTuple):
    """What backward needs. ``cols`` (N, Ho, Wo, kh, kw, C), the lowered input, for ``dW`` (kept
    rather than ``x`` to spare backward a second im2col); ``W`` for the input gradient.
    """

    cols: np.ndarray
    W: np.ndarray
    x_shape: tuple[int, int, int, int]
    stride: int
    padding: int
    has_bias: bool


def conv2d_forward(
    x: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None,
    stride: int = 1,
    padding: int = 0,
    lowering: Lowering = NUMPY_LOWERING,
) -> tuple[np.ndarray, ConvCache]:
    """Return ``y`` (N, O, Ho, Wo) and the cache: ``y_rows = cols @ W^T`` (N*Ho*Wo, O) to NCHW,
    plus ``b``. ``W`` is (O, C, kh, kw); the product uses it as (O, kh*kw*C) to match the windows
    ``cols`` (N*Ho*Wo, kh*kw*C).
    """
    n, c = x.shape[:2]
    o, _, kh, kw = W.shape
    cols = lowering.im2col(x, kh, kw, stride, padding)
    _, ho, wo = cols.shape[:3]
    if c < PER_SAMPLE_CHANNELS:  # y[n] = W cols[n]^T, (O, Ho*Wo): NCHW as it comes
        y = channels_last_weight(W) @ cols.reshape(n, ho * wo, -1).transpose(0, 2, 1)
        y = y.reshape(n, o, ho, wo)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
    else:
        y_rows = cols.reshape(n * ho * wo, -1) @ channels_last_weight(W).T  # (N*Ho*Wo, O)
        y = lowering.rows_to_nchw(y_rows, n, ho, wo, b)
    return y, ConvCache(cols, W, x.shape, stride, padding, b is not None)


def conv2d_backward(
    dy: np.ndarray,
    cache: ConvCache,
    input_grad: bool = True,
    lowering: Lowering = NUMPY_LOWERING,
    weight_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Return ``(dx, dW, db)`` with the shapes of ``x``, ``W`` and ``b``, from ``dy_rows``
    (N*Ho*Wo, O) and ``W`` as (O, kh*kw*C): ``dW = dy_rows^T @ cols`` back to (O, C, kh, kw),
    ``dx = col2im(dy_rows @ W)``, ``db = dy`` summed over N, H, W. ``dx`` is None when
    ``input_grad`` is false (the input is data: its product and col2im are skipped); ``dW`` and
    ``db`` are None when ``weight_grad`` is false (:func:`conv2d_input_grad`).
    """
    cols, W, x_shape, stride, padding, has_bias = cache
    n, ho, wo = cols.shape[:3]
    dW = None
    if x_shape[1] < PER_SAMPLE_CHANNELS:  # per sample: dy[n] (O, Ho*Wo) as it is in NCHW
        dy_n = dy.reshape(n, -1, ho * wo)
        if weight_grad:
            dW = (dy_n @ cols.reshape(n, ho * wo, -1)).sum(axis=0)
        dy_rows = dy_n.transpose(0, 2, 1)  # (N, Ho*Wo, O): a view
    else:
        dy_rows = lowering.nchw_to_rows(dy)  # (N*Ho*Wo, O)
        if weight_grad:
            dW = dy_rows.T @ cols.reshape(dy_rows.shape[0], -1)
    dx = None
    if input_grad and lowering.col2im_taps is not None and dy_rows.ndim == 2:
        kh, kw, c = cols.shape[3:]  # tap-major windows (kh, kw, N, Ho, Wo, C) straight from BLAS
        dcols = (dy_rows @ tap_weight(W)).reshape(kh, kw, n, ho, wo, c)
        dx = lowering.col2im_taps(dcols, x_shape, stride, padding)
    elif input_grad:
        dcols = (dy_rows @ channels_last_weight(W)).reshape(cols.shape)
        dx = lowering.col2im(dcols, x_shape, stride, padding)
    if not weight_grad:
        return dx, None, None
    dW = channels_first_weight(dW, W.shape)
    return dx, dW, lowering.channel_sum(dy) if has_bias else None


def conv2d_input_grad(
    dy: np.ndarray, cache: ConvCache, lowering: Lowering = NUMPY_LOWERING
) -> np.ndarray:
    """``dx`` alone, the same arithmetic as :func:`conv2d_backward`'s: ``col2im(dy_rows @ W)``
    (no ``dW`` product, no bias sum)."""
    return conv2d_backward(dy, cache, True, lowering, weight_grad=False)[0]


class ConvTransposeCache(NamedTuple):
    """``x_gemm``, the input as the product saw it, for ``dW``: rows (N*H*W, C), or ``x``
    itself (N, C, H, W) for the per-sample form (fewer than :data:`PER_SAMPLE_CHANNELS` output
    channels); ``W`` for ``dx``."""

    x_gemm: np.ndarray
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
    lowering: Lowering = NUMPY_LOWERING,
) -> tuple[np.ndarray, ConvTransposeCache]:
    """Return ``y`` (N, O, Ho, Wo) and the cache. ``W`` is (C, O, kh, kw).

    ``y = col2im(x_rows @ W) + b``, ``W`` as (C, kh*kw*O): every input pixel scatters
    ``x[n, :, h, w] @ W`` into the window at (h*s - p, w*s - p) of the output.
    """
    n, _, h, w = x.shape
    _, o, kh, kw = W.shape
    ho = conv_transpose_output_size(h, kh, stride, padding, output_padding)
    wo = conv_transpose_output_size(w, kw, stride, padding, output_padding)
    if o < PER_SAMPLE_CHANNELS:  # per sample: x[n]^T (H*W, C) read from NCHW as it is
        x_gemm = x
        x_rows = x.reshape(n, x.shape[1], h * w).transpose(0, 2, 1)
    else:
        x_gemm = x_rows = lowering.nchw_to_rows(x)  # (N*H*W, C)
    if lowering.col2im_taps is not None and x_rows.ndim == 2:  # tap-major (kh, kw, N, H, W, O)
        cols = (x_rows @ tap_weight(W)).reshape(kh, kw, n, h, w, o)
        y = lowering.col2im_taps(cols, (n, o, ho, wo), stride, padding, b)
    else:
        cols = (x_rows @ channels_last_weight(W)).reshape(n, h, w, kh, kw, o)
        y = lowering.col2im(cols, (n, o, ho, wo), stride, padding, b)
    return y, ConvTransposeCache(x_gemm, W, x.shape, stride, padding, b is not None)


def conv_transpose2d_backward(
    dy: np.ndarray,
    cache: ConvTransposeCache,
    input_grad: bool = True,
    lowering: Lowering = NUMPY_LOWERING,
    weight_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Return ``(dx, dW, db)``: ``dcols = im2col(dy)`` (N*H*W, kh*kw*O), ``dx = dcols @ W^T``
    (None unless ``input_grad``), ``dW = x_rows^T @ dcols``, ``db = dy`` summed over N, H, W,
    ``W`` as (C, kh*kw*O); ``dW`` and ``db`` are None unless ``weight_grad``.

    The crop ``[:, :h, :w]``: the forward scattered one window per input pixel, (N, H, W, kh, kw,
    O), so only those H x W windows of ``dy`` map to input pixels. im2col of ``dy`` yields
    ``floor((Ho + 2p - kh) / s) + 1 = H + floor(output_padding / s)`` windows per row (likewise
    per column): exactly H when ``output_padding < s`` (the layer's range), more when a caller
    passes a larger ``output_padding`` and leaves extra rows/columns; those extra windows map to
    no input pixel and are dropped.
    """
    x_gemm, W, x_shape, stride, padding, has_bias = cache
    n, c, h, w = x_shape
    _, _, kh, kw = W.shape
    dcols = lowering.im2col(dy, kh, kw, stride, padding)[:, :h, :w]
    dx = dW = None
    if x_gemm.ndim == 4:  # per sample: dx[n] = W dcols[n]^T is (C, H*W), NCHW as it comes
        dcols = dcols.reshape(n, h * w, -1)
        if input_grad:
            dx = (channels_last_weight(W) @ dcols.transpose(0, 2, 1)).reshape(n, c, h, w)
        if weight_grad:
            dW = (x_gemm.reshape(n, c, h * w) @ dcols).sum(axis=0)
    else:
        dcols = dcols.reshape(n * h * w, -1)
        if input_grad:
            dx = lowering.rows_to_nchw(dcols @ channels_last_weight(W).T, n, h, w)
        if weight_grad:
            dW = x_gemm.T @ dcols
    if not weight_grad:
        return dx, None, None
    dW = channels_first_weight(dW, W.shape)
    return dx, dW, lowering.channel_sum(dy) if has_bias else None


def conv_transpose2d_input_grad(
    dy: np.ndarray, cache: ConvTransposeCache, lowering: Lowering = NUMPY_LOWERING
) -> np.ndarray:
    """``dx`` alone, the same arithmetic as :func:`conv_transpose2d_backward`'s:
    ``im2col(dy) @ W^T`` (no ``dW`` product, no bias sum)."""
    return conv_transpose2d_backward(dy, cache, True, lowering, weight_grad=False)[0]


def lowered_ops(lowering: Lowering) -> dict[Callable, Callable]:
    """The six convolution ops of this module bound to ``lowering``, keyed by the reference
    functions: what a kernel set registers (``KERNELS.update(lowered_ops(LOWERING))``)."""
    ops = (
        conv2d_forward, conv2d_backward, conv2d_input_grad,
        conv_transpose2d_forward, conv_transpose2d_backward, conv_transpose2d_input_grad,
    )  # fmt: skip
    return {op: functools.partial(op, lowering=lowering) for op in ops}
