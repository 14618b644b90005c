r"""The data movement around a convolution's GEMMs (the math: :mod:`minigan.functional.conv`):
im2col and its adjoint col2im on channels-last windows (N, Ho, Wo, kh, kw, C), the weight
layouts that match them, the NCHW <-> GEMM-rows transposes and the bias sum, and the
:class:`Lowering` that bundles them per backend (:data:`NUMPY_LOWERING` is the reference's).

:func:`col2im_taps` is col2im for windows laid out *tap-major*, (kh, kw, N, Ho, Wo, C): the
product ``rows @ tap_weight(W)``, (kh*kw, N*Ho*Wo, C), gives them directly, one kernel offset
per slab, and each slab is added as one block of contiguous (Wo*C) runs (see its docstring).

>>> import numpy as np
>>> x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
>>> cols = im2col(x, 2, 2, 2, 0)  # (1, 2, 2, 2, 2, 2): windows, channels last
>>> np.array_equal(col2im(cols, x.shape, 2, 0), x)  # non-overlapping windows: back to x
True
>>> taps = np.ascontiguousarray(cols.transpose(3, 4, 0, 1, 2, 5))  # (kh, kw, N, Ho, Wo, C)
>>> np.array_equal(col2im_taps(taps, x.shape, 2, 0), x)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


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
    ``x[n, c, a*s + i - p, b*s + j - p] += cols[n, a, b, i, j, c]`` (the derivation:
    :mod:`minigan.functional.conv`).

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


def col2im_taps(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    stride: int,
    padding: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`col2im` of tap-major windows ``cols`` (kh, kw, N, Ho, Wo, C): the same sum,
    ``x[n, c, a*s + i - p, b*s + j - p] += cols[i, j, n, a, b, c]``, plus ``bias[c]``.

    Write the padded row ``a*s + i`` as ``s*(a + u) + phi`` with ``(u, phi) = divmod(i, s)``.
    The sum runs in a buffer split by output parity, (N, s, s, Hc, Wc, C), whose entry
    ``[n, phi, psi, A, B, c]`` is padded pixel ``(s*A + phi, s*B + psi)``: the slab of offset
    ``(i, j)`` adds onto the block ``[:, phi, psi, u:u+Ho, v:v+Wo]``, runs of Wo*C contiguous
    values on both sides (1.4-1.6x faster than col2im's strided runs of C: see
    docs/performance.md). The s*s parity planes are then interleaved into NCHW, the padding
    cropped.
    """
    n, c, h, w = x_shape
    kh, kw, _, ho, wo, _ = cols.shape
    s, p = stride, padding
    hc = max(ho + (kh - 1) // s, (h + p - 1) // s + 1)
    wc = max(wo + (kw - 1) // s, (w + p - 1) // s + 1)
    acc = np.empty((n, s, s, hc, wc, c), cols.dtype)
    acc[...] = 0 if bias is None else bias
    for i in range(kh):
        u, phi = divmod(i, s)
        for j in range(kw):
            v, psi = divmod(j, s)
            acc[:, phi, psi, u : u + ho, v : v + wo] += cols[i, j]
    out = np.empty(x_shape, cols.dtype)
    for phi in range(s):
        r0 = (phi - p) % s  # the first output row of this parity, and its place in the plane
        nr, a0 = len(range(r0, h, s)), (r0 + p) // s
        for psi in range(s):
            q0 = (psi - p) % s
            nq, b0 = len(range(q0, w, s)), (q0 + p) // s
            plane = acc[:, phi, psi, a0 : a0 + nr, b0 : b0 + nq]
            out[:, :, r0::s, q0::s] = plane.transpose(0, 3, 1, 2)
    return out


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


def tap_weight(W: Any) -> Any:
    """(A, B, kh, kw) weights as a contiguous (kh*kw, A, B): one (A, B) matrix per kernel
    offset, so that ``rows @ tap_weight(W)`` gives tap-major windows (any array module)."""
    a, b, kh, kw = W.shape
    return W.transpose(2, 3, 0, 1).reshape(kh * kw, a, b)


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
    """``x.sum(axis=(0, 2, 3))``: a bias gradient, by ``np.einsum`` over (N, C, H*W), which
    walks the array in memory order (3.4x faster on DCGAN-28's 64-channel ``dy``: see
    docs/performance.md)."""
    return np.einsum("nci->c", x.reshape(x.shape[0], x.shape[1], -1))


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
    #: :func:`col2im_taps` where the backend has one: the wide products then give tap-major
    #: windows (``rows @ tap_weight(W)``) and col2im reads them as they are.
    col2im_taps: Callable[..., Any] | None = None


#: The NumPy reference's lowering: the functions above.
NUMPY_LOWERING = Lowering(im2col, col2im, nchw_to_rows, rows_to_nchw, channel_sum, col2im_taps)
