r"""Binary cross-entropy on logits on the GPU, loss and gradient in one kernel.

Math: :func:`minigan.functional.losses.bce_with_logits` (the stable
:math:`\max(x, 0) - x t + \log(1 + e^{-|x|})`, its first term written :math:`|x| w` with
:math:`w = 1 - t` for :math:`x > 0` and :math:`t` otherwise so that an infinite logit gives the
limit, and its gradient :math:`(\sigma(x) - t)/N`, the sigmoid never exponentiating a positive
number). Where it differs from the reference:

- **fusion**: one kernel, a **single block** (a GAN's batch of logits is small): thread ``t``
  handles ``k = t, t + blockDim, ...``, writes ``dx[k]`` and adds its loss terms to a float64
  partial sum, which :func:`~minigan.kernels.cuda.common.block_sum` combines;
- **the loss stays on the device**: a 0-d CuPy array, not a Python float, so nothing
  synchronises with the host and the kernel can sit in a CUDA graph (``float(loss)`` when the
  number is needed).
"""

from __future__ import annotations

import math
from typing import Any

from numba import cuda, float64

from minigan.kernels.cuda.common import (
    THREADS,
    block_sum,
    cupy,
    current_stream,
    numba_view,
    reduction_threads,
)


@cuda.jit
def _bce_with_logits_kernel(x, t, loss, dx):  # type: ignore[no-untyped-def]
    """See the module docstring; ``x``, ``t``, ``dx`` flat (N,), ``loss`` (1,)."""
    shared = cuda.shared.array(THREADS, float64)
    n = x.size
    partial = 0.0
    for k in range(cuda.threadIdx.x, n, cuda.blockDim.x):
        v, target = x[k], t[k]
        e = math.exp(-abs(v))
        w = 1 - target if v > 0 else target  # max(v, 0) - v t = |v| w: no inf - inf at |v| = inf
        partial += (0.0 if w == 0 else abs(v) * w) + math.log1p(e)
        sigmoid = 1 / (1 + e) if v >= 0 else e / (1 + e)
        dx[k] = (sigmoid - target) / n
    total = block_sum(partial, shared)
    if cuda.threadIdx.x == 0:
        loss[0] = total / n


def launch_bce_with_logits(x: Any, t: Any, loss: Any, dx: Any, stream: Any = 0) -> None:
    """Launch :func:`_bce_with_logits_kernel`: ``loss[0]`` and ``dx`` from flat ``x``, ``t``."""
    _bce_with_logits_kernel[1, reduction_threads(x.size), stream](x, t, loss, dx)


def bce_with_logits(logits: Any, targets: Any) -> tuple[Any, Any]:
    """:func:`minigan.functional.bce_with_logits` on CuPy arrays, the loss a 0-d device array."""
    if logits.shape != targets.shape or logits.size == 0:
        raise ValueError(
            f"bce_with_logits: input shape {logits.shape} and target shape {targets.shape} "
            "must be equal and non-empty"
        )
    x = cupy.ascontiguousarray(logits)
    t = cupy.ascontiguousarray(cupy.asarray(targets, dtype=x.dtype))
    loss, dx = cupy.empty(1, x.dtype), cupy.empty_like(x)
    launch_bce_with_logits(
        numba_view(x.ravel()), numba_view(t.ravel()), numba_view(loss), numba_view(dx.ravel()),
        current_stream(),
    )  # fmt: skip
    return loss.reshape(()), dx
