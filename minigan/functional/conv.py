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
(faster to copy and add than channels-first windows: see docs/performance.md). The data movement
around the products (im2col, col2im, the NCHW <-> rows transposes, the bias sum) goes through a
:class:`Lowering`: every backend runs the four ops below with its own kernels for those five
functions, and the same math.

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
from typing import Any, NamedTuple

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
    """Lower ``x`` (N, C, H, W) to channels-last windows (N, Ho, Wo, kh, kw, C):
    ``cols[n, a, b, i, j, c] = xp[n, c, a*s + i, b*s + j]``, ``xp`` the zero-padded input.

    One strided copy puts ``x`` into a zero-padded (N, Hp, Wp, C) buffer (rather than a
    transposing copy then ``np.pad``: see docs/performance.md); ``sliding_window_view`` of it is
    free, and the one ``ascontiguousarray`` copies each window pixel as a contiguous run of C
    values (channels-last: see docs/performance.md).
    """
    n, c, h, w = x.shape
    xp = np.zeros((n, h + 2 * padding, w + 2 * padding, c), x.dtype)
    xp[:, padding : padding + h, padding : padding + w] = x.transpose(0, 2, 3, 1)
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3))


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    stride: int,
    padding: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """Adjoint of :func:`im2col`: add windows (N, Ho, Wo, kh, kw, C) back into a contiguous
    (N, C, H, W), plus an optional per-channel ``bias`` (C,):
    ``x[n, c, a*s + i - p, b*s + j - p] += cols[n, a, b, i, j, c]`` (see the module docstring).

    The sum runs in a zero-padded channels-last (N, Hp, Wp, C) buffer, one strided slice-add of
    (N, Ho, Wo, C) per kernel offset (kh*kw of them), each over contiguous runs of C values
    (channels-last: see docs/performance.md); a bias is the buffer's starting value rather than
    zero, which spares a pass over the output. The crop to (H, W), which drops the entries that
    read padding, and the transpose to NCHW are one copy. Pixels past the last window get only
    the bias.
    """
    n, c, h, w = x_shape
    _, ho, wo, kh, kw, _ = cols.shape
    acc = np.empty((n, h + 2 * padding, w + 2 * padding, c), cols.dtype)
    acc[...] = 0 if bias is None else bias
    for i in range(kh):
        for j in range(kw):
            pixels = acc[:, i : i + stride * ho : stride, j : j + stride * wo : stride]
            pixels += cols[:, :, :, i, j]  # (N, Ho, Wo, C), a view: adds in place
    acc = acc[:, padding : padding + h, padding : padding + w]
    return np.ascontiguousarray(acc.transpose(0, 3, 1, 2))


def channels_last_weight(W: Any) -> Any:
    """(A, B, kh, kw) weights as a contiguous (A, kh*kw*B) matrix, columns in the (kh, kw, B)
    order of :func:`im2col`'s windows (the reshape of the transposed view copies; any array
    module).
    """
    return W.transpose(0, 2, 3, 1).reshape(W.shape[0], -1)


def channels_first_weight(W_perm: Any, shape: tuple[int, ...]) -> Any:
    """Inverse of :func:`channels_last_weight`: (A, kh*kw*B) back to a contiguous
    (A, B, kh, kw)."""
    a, b, kh, kw = shape
    return W_perm.reshape(a, kh, kw, b).transpose(0, 3, 1, 2).copy()


def nchw_to_rows(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) as the contiguous (N*H*W, C) rows a GEMM reads (one transposing copy)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(-1, x.shape[1])


def rows_to_nchw(
    rows: np.ndarray, n: int, h: int, w: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """(N*H*W, C) GEMM rows to a contiguous (N, C, H, W), plus ``bias[c]``."""
    y = np.ascontiguousarray(rows.reshape(n, h, w, -1).transpose(0, 3, 1, 2))
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def channel_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=(0, 2, 3))``: a bias gradient."""
    return x.sum(axis=(0, 2, 3))


class Lowering(NamedTuple):
    """The data movement around a convolution's GEMMs, with the signatures of this module's
    functions of the same names. It is what each backend writes its own kernels for (Numba
    loops on the CPU, CUDA kernels on the GPU); the GEMMs and the math below are shared by all.
    """

    im2col: Callable[..., Any]
    col2im: Callable[..., Any]
    nchw_to_rows: Callable[[Any], Any]
    rows_to_nchw: Callable[..., Any]
    channel_sum: Callable[[Any], Any]


#: The NumPy reference's lowering: the functions above.
NUMPY_LOWERING = Lowering(im2col, col2im, nchw_to_rows, rows_to_nchw, channel_sum)


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
    n = x.shape[0]
    _, _, kh, kw = W.shape
    cols = lowering.im2col(x, kh, kw, stride, padding)
    _, ho, wo = cols.shape[:3]
    y_rows = cols.reshape(n * ho * wo, -1) @ channels_last_weight(W).T  # (N*Ho*Wo, O)
    y = lowering.rows_to_nchw(y_rows, n, ho, wo, b)
    return y, ConvCache(cols, W, x.shape, stride, padding, b is not None)


def conv2d_backward(
    dy: np.ndarray,
    cache: ConvCache,
    input_grad: bool = True,
    lowering: Lowering = NUMPY_LOWERING,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Return ``(dx, dW, db)`` with the shapes of ``x``, ``W`` and ``b``, from ``dy_rows``
    (N*Ho*Wo, O) and ``W`` as (O, kh*kw*C): ``dW = dy_rows^T @ cols`` back to (O, C, kh, kw),
    ``dx = col2im(dy_rows @ W)``, ``db = dy`` summed over N, H, W. ``dx`` is None when
    ``input_grad`` is false (the input is data: its product and col2im are skipped).
    """
    cols, W, x_shape, stride, padding, has_bias = cache
    dy_rows = lowering.nchw_to_rows(dy)  # (N*Ho*Wo, O)
    dW = channels_first_weight(dy_rows.T @ cols.reshape(dy_rows.shape[0], -1), W.shape)
    dx = None
    if input_grad:
        dcols = (dy_rows @ channels_last_weight(W)).reshape(cols.shape)
        dx = lowering.col2im(dcols, x_shape, stride, padding)
    return dx, dW, lowering.channel_sum(dy) if has_bias else None


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
    x_rows = lowering.nchw_to_rows(x)  # (N*H*W, C)
    cols = (x_rows @ channels_last_weight(W)).reshape(n, h, w, kh, kw, o)
    y = lowering.col2im(cols, (n, o, ho, wo), stride, padding, b)
    return y, ConvTransposeCache(x_rows, W, x.shape, stride, padding, b is not None)


def conv_transpose2d_backward(
    dy: np.ndarray,
    cache: ConvTransposeCache,
    input_grad: bool = True,
    lowering: Lowering = NUMPY_LOWERING,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Return ``(dx, dW, db)``: ``dcols = im2col(dy)`` (N*H*W, kh*kw*O), ``dx = dcols @ W^T``
    (None unless ``input_grad``), ``dW = x_rows^T @ dcols``, ``db = dy`` summed over N, H, W,
    ``W`` as (C, kh*kw*O).

    The crop ``[:, :h, :w]``: the forward scattered one window per input pixel, (N, H, W, kh, kw,
    O), so only those H x W windows of ``dy`` map to input pixels. im2col of ``dy`` yields
    ``floor((Ho + 2p - kh) / s) + 1 = H + floor(output_padding / s)`` windows per row (likewise
    per column): exactly H when ``output_padding < s`` (the layer's range), more when a caller
    passes a larger ``output_padding`` and leaves extra rows/columns; those extra windows map to
    no input pixel and are dropped.
    """
    x_rows, W, x_shape, stride, padding, has_bias = cache
    n, _, h, w = x_shape
    _, _, kh, kw = W.shape
    dcols = lowering.im2col(dy, kh, kw, stride, padding)[:, :h, :w].reshape(n * h * w, -1)
    dx = None
    if input_grad:
        dx = lowering.rows_to_nchw(dcols @ channels_last_weight(W).T, n, h, w)
    dW = channels_first_weight(x_rows.T @ dcols, W.shape)
    return dx, dW, lowering.channel_sum(dy) if has_bias else None


def lowered_ops(lowering: Lowering) -> dict[Callable, Callable]:
    """The four convolution ops of this module bound to ``lowering``, keyed by the reference
    functions: what a kernel set registers (``KERNELS.update(lowered_ops(LOWERING))``)."""
    ops = (conv2d_forward, conv2d_backward, conv_transpose2d_forward, conv_transpose2d_backward)
    return {op: functools.partial(op, lowering=lowering) for op in ops}
