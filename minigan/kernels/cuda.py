"""The ``cupy`` backend: every op on CuPy arrays, GEMMs in cuBLAS, the rest in ``numba.cuda``.

Imported by ``minigan.use("cupy")``; the import registers, with :func:`minigan.backend.register`,
every op the layers and optimizers ask for (``minigan.functional.__all__`` and
``"adam_update"``), plus ``"bce_with_logits"``. Each op keeps its NumPy reference's signature
and cache type (:mod:`minigan.functional`), takes and returns CuPy arrays, and:

- runs matrix products as ``cupy.matmul`` (cuBLAS) on the layouts the references use; the
  convolutions are the reference functions themselves, run with this module's
  :data:`LOWERING` (CUDA im2col, col2im, transposes and bias sums);
- launches the kernels of ``cuda_*.py`` through the same launch helpers the simulator tests
  call, on **CuPy's current stream** (so ``stream.begin_capture()`` records them into a CUDA
  graph), allocating outputs from CuPy's memory pool;
- never synchronises with the host (``bce_with_logits`` returns its loss as a 0-d device array).

CuPy arrays are handed to Numba with ``cuda.as_cuda_array(a, sync=False)``: Numba would otherwise
synchronise CuPy's stream on every argument, needless here since both use the same stream.
"""

from __future__ import annotations

from typing import Any

import cupy
import numpy as np
from numba import cuda

from minigan import backend
from minigan import functional as F
from minigan.functional.activations import LeakyReLUCache
from minigan.functional.batchnorm import BatchNormCache
from minigan.functional.conv import ConvCache, ConvTransposeCache, Lowering
from minigan.functional.dense import LinearCache
from minigan.kernels import cuda_adam, cuda_batchnorm, cuda_conv, cuda_losses
from minigan.kernels import cuda_elementwise as ew

_streams: dict[int, Any] = {}


def _stream() -> Any:
    """Numba's handle on CuPy's current stream (0, the legacy default stream, stays 0)."""
    ptr = cupy.cuda.get_current_stream().ptr
    if ptr == 0:
        return 0
    if ptr not in _streams:
        _streams[ptr] = cuda.external_stream(ptr)
    return _streams[ptr]


def _dev(a: cupy.ndarray | None) -> Any:
    """A Numba view of a CuPy array (any strides), without a stream synchronisation."""
    return None if a is None else cuda.as_cuda_array(a, sync=False)


# ---- bias + activation ---------------------------------------------------------------------------
def _add_bias(x3: cupy.ndarray, b: cupy.ndarray | None, out: cupy.ndarray) -> cupy.ndarray:
    """``out[n, c, s] = x3[n, c, s] + b[c]``: ``x3`` any (N, C, S) view, ``out`` (N, C, S)."""
    ew.bias_act_forward(_dev(x3), _dev(b), _dev(out), ew.IDENTITY, stream=_stream())
    return out


def _bias_grad(dy: cupy.ndarray, has_bias: bool) -> cupy.ndarray | None:
    """``db[c] = sum of dy[:, c, ...]`` (None without bias)."""
    if not has_bias:
        return None
    dy3 = cupy.ascontiguousarray(dy).reshape(dy.shape[0], dy.shape[1], -1)
    db = cupy.empty(dy.shape[1], dy.dtype)
    ew.bias_backward(_dev(dy3), _dev(db), stream=_stream())
    return db


def _activation(x: cupy.ndarray, act: int, slope: float = 0.0, mask: bool = False) -> tuple:
    """``(y, positive)``: ``y = f(x)``, and the bool mask ``x > 0`` when ``mask``."""
    x = cupy.ascontiguousarray(x)
    y = cupy.empty_like(x)
    positive = cupy.empty(x.shape, bool) if mask else None
    ew.bias_act_forward(
        _dev(x.reshape(1, 1, -1)), None, _dev(y.reshape(1, 1, -1)), act, slope,
        _dev(None if positive is None else positive.reshape(1, 1, -1)), _stream(),
    )  # fmt: skip
    return y, positive


def _activation_backward(dy: cupy.ndarray, saved: cupy.ndarray, act: int, slope: float = 0.0):
    dy = cupy.ascontiguousarray(dy)
    dx = cupy.empty_like(dy)
    ew.act_backward(
        _dev(dy.ravel()), _dev(cupy.ascontiguousarray(saved).ravel()), _dev(dx.ravel()), act,
        slope, _stream(),
    )  # fmt: skip
    return dx


def relu_forward(x: cupy.ndarray) -> tuple[cupy.ndarray, cupy.ndarray]:
    y, _ = _activation(x, ew.RELU)
    return y, y


def relu_backward(dy: cupy.ndarray, y: cupy.ndarray) -> cupy.ndarray:
    return _activation_backward(dy, y, ew.RELU)


def leaky_relu_forward(x: cupy.ndarray, slope: float) -> tuple[cupy.ndarray, LeakyReLUCache]:
    y, positive = _activation(x, ew.LEAKY_RELU, slope, mask=True)
    return y, LeakyReLUCache(positive, slope)


def leaky_relu_backward(dy: cupy.ndarray, cache: LeakyReLUCache) -> cupy.ndarray:
    return _activation_backward(dy, cache.positive, ew.LEAKY_RELU, cache.slope)


def tanh_forward(x: cupy.ndarray) -> tuple[cupy.ndarray, cupy.ndarray]:
    y, _ = _activation(x, ew.TANH)
    return y, y


def tanh_backward(dy: cupy.ndarray, y: cupy.ndarray) -> cupy.ndarray:
    return _activation_backward(dy, y, ew.TANH)


def sigmoid(x: cupy.ndarray) -> cupy.ndarray:
    return _activation(x, ew.SIGMOID)[0]


def sigmoid_forward(x: cupy.ndarray) -> tuple[cupy.ndarray, cupy.ndarray]:
    y = sigmoid(x)
    return y, y


def sigmoid_backward(dy: cupy.ndarray, y: cupy.ndarray) -> cupy.ndarray:
    return _activation_backward(dy, y, ew.SIGMOID)


def dropout_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator, dtype) -> cupy.ndarray:
    """The reference mask, drawn from the same seeded host generator, copied to the device."""
    return cupy.asarray(F.dropout_mask(shape, p, rng, dtype))


# ---- dense and convolutions ------------------------------------------------------------------------
def linear_forward(
    x: cupy.ndarray, W: cupy.ndarray, b: cupy.ndarray | None
) -> tuple[cupy.ndarray, LinearCache]:
    y = x @ W.T
    if b is not None:
        y3 = y.reshape(*y.shape, 1)
        _add_bias(y3, b, y3)
    return y, LinearCache(x, W, b is not None)


def linear_backward(dy: cupy.ndarray, cache: LinearCache, input_grad: bool = True) -> tuple:
    x, W, has_bias = cache
    return dy @ W if input_grad else None, dy.T @ x, _bias_grad(dy, has_bias)


def im2col(x: cupy.ndarray, kh: int, kw: int, stride: int, padding: int) -> cupy.ndarray:
    """The reference's channels-last windows (N, Ho, Wo, kh, kw, C), one thread per entry."""
    n, c, h, w = x.shape
    ho, wo = F.conv_output_size(h, kh, stride, padding), F.conv_output_size(w, kw, stride, padding)
    cols = cupy.empty((n, ho, wo, kh, kw, c), x.dtype)
    cuda_conv.im2col(_dev(cupy.ascontiguousarray(x)), _dev(cols), stride, padding, _stream())
    return cols


def col2im(
    cols: cupy.ndarray,
    x_shape: tuple[int, int, int, int],
    stride: int,
    padding: int,
    bias: cupy.ndarray | None = None,
) -> cupy.ndarray:
    """The reference's col2im with its optional per-channel bias, gathered per output pixel."""
    x = cupy.empty(x_shape, cols.dtype)
    cuda_conv.col2im(
        _dev(cupy.ascontiguousarray(cols)), _dev(x), stride, padding, _dev(bias), _stream()
    )
    return x


def nchw_to_rows(x: cupy.ndarray) -> cupy.ndarray:
    """(N, C, H, W) as contiguous (N*H*W, C) GEMM rows."""
    return cupy.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(-1, x.shape[1])


def rows_to_nchw(
    rows: cupy.ndarray, n: int, h: int, w: int, bias: cupy.ndarray | None = None
) -> cupy.ndarray:
    """(N*H*W, C) GEMM rows to NCHW plus ``bias[c]``, one bias-add kernel pass over a view."""
    c = rows.shape[1]
    y = cupy.empty((n, c, h, w), rows.dtype)
    _add_bias(rows.reshape(n, h * w, c).transpose(0, 2, 1), bias, y.reshape(n, c, h * w))
    return y


def channel_sum(x: cupy.ndarray) -> cupy.ndarray:
    """``x.sum(axis=(0, 2, 3))`` by the bias-gradient kernel."""
    return _bias_grad(x, True)


#: The CUDA lowering the shared convolution functions run with.
LOWERING = Lowering(im2col, col2im, nchw_to_rows, rows_to_nchw, channel_sum)


def conv2d_forward(
    x: cupy.ndarray, W: cupy.ndarray, b: cupy.ndarray | None, stride: int = 1, padding: int = 0
) -> tuple[cupy.ndarray, ConvCache]:
    return F.conv2d_forward(x, W, b, stride, padding, LOWERING)


def conv2d_backward(dy: cupy.ndarray, cache: ConvCache, input_grad: bool = True) -> tuple:
    return F.conv2d_backward(dy, cache, input_grad, LOWERING)


def conv_transpose2d_forward(
    x: cupy.ndarray,
    W: cupy.ndarray,
    b: cupy.ndarray | None,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
) -> tuple[cupy.ndarray, ConvTransposeCache]:
    return F.conv_transpose2d_forward(x, W, b, stride, padding, output_padding, LOWERING)


def conv_transpose2d_backward(
    dy: cupy.ndarray, cache: ConvTransposeCache, input_grad: bool = True
) -> tuple:
    return F.conv_transpose2d_backward(dy, cache, input_grad, LOWERING)


# ---- BatchNorm, loss, optimizer ----------------------------------------------------------------------
def _ncs(a: cupy.ndarray) -> cupy.ndarray:
    a = cupy.ascontiguousarray(a)
    return a.reshape(a.shape[0], a.shape[1], -1)


def batchnorm_forward(
    x: cupy.ndarray,
    gamma: cupy.ndarray,
    beta: cupy.ndarray,
    running_mean: cupy.ndarray,
    running_var: cupy.ndarray,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[cupy.ndarray, BatchNormCache]:
    x3 = _ncs(x)
    x_hat, y = cupy.empty_like(x3), cupy.empty_like(x3)
    inv_std = cupy.empty(x.shape[1], x.dtype)
    cuda_batchnorm.batchnorm_forward(
        _dev(x3), _dev(gamma), _dev(beta), _dev(running_mean), _dev(running_var), training,
        momentum, eps, _dev(x_hat), _dev(y), _dev(inv_std), _stream(),
    )  # fmt: skip
    return y.reshape(x.shape), BatchNormCache(x_hat.reshape(x.shape), inv_std, gamma, training)


def batchnorm_backward(dy: cupy.ndarray, cache: BatchNormCache) -> tuple:
    x_hat, inv_std, gamma, training = cache
    dy3 = _ncs(dy)
    dx = cupy.empty_like(dy3)
    dgamma, dbeta = cupy.empty_like(gamma), cupy.empty_like(gamma)
    cuda_batchnorm.batchnorm_backward(
        _dev(dy3), _dev(_ncs(x_hat)), _dev(gamma), _dev(inv_std), training, _dev(dx),
        _dev(dgamma), _dev(dbeta), _stream(),
    )  # fmt: skip
    return dx.reshape(dy.shape), dgamma, dbeta


def bce_with_logits(logits: cupy.ndarray, targets: Any) -> tuple[cupy.ndarray, cupy.ndarray]:
    """As :func:`minigan.losses.bce_with_logits`, but the loss is a 0-d device array:
    ``float(loss)`` when the number is needed (that synchronises).
    """
    if logits.shape != targets.shape or logits.size == 0:
        raise ValueError(
            f"bce_with_logits: input shape {logits.shape} and target shape {targets.shape} "
            "must be equal and non-empty"
        )
    x = cupy.ascontiguousarray(logits)
    t = cupy.ascontiguousarray(cupy.asarray(targets, dtype=x.dtype))
    loss, dx = cupy.empty(1, x.dtype), cupy.empty_like(x)
    cuda_losses.bce_with_logits(
        _dev(x.ravel()), _dev(t.ravel()), _dev(loss), _dev(dx.ravel()), _stream()
    )
    return loss.reshape(()), dx


def adam_update(
    w: cupy.ndarray,
    g: cupy.ndarray,
    m: cupy.ndarray,
    v: cupy.ndarray,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    t: int,
) -> None:
    """:func:`minigan.optim.adam_update` in one fused kernel (contiguous arrays, in place)."""
    cuda_adam.adam_update(
        _dev(w.ravel()), _dev(g.ravel()), _dev(m.ravel()), _dev(v.ravel()), lr, beta1, beta2,
        eps, t, _stream(),
    )  # fmt: skip


# Shape arithmetic and the dropout products work on any array module: the reference serves.
_GENERIC = (
    "conv_output_size",
    "conv_transpose_output_size",
    "dropout_forward",
    "dropout_backward",
)
for _name in F.__all__:
    backend.register("cupy", _name, getattr(F, _name) if _name in _GENERIC else globals()[_name])
backend.register("cupy", "adam_update", adam_update)
backend.register("cupy", "bce_with_logits", bce_with_logits)
del _name
