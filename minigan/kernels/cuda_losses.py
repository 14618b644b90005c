r"""Binary cross-entropy on logits, loss and gradient in one kernel.

NumPy reference: :func:`minigan.losses.bce_with_logits`. For ``N`` logits ``x`` and targets ``t``,

.. math::
    L = \frac1N \sum_k \max(x_k, 0) - x_k t_k + \log(1 + e^{-|x_k|}), \qquad
    dx_k = (\sigma(x_k) - t_k) / N,

with the stable sigmoid :math:`\sigma(x) = 1/(1+e)` for :math:`x \ge 0` and :math:`e/(1+e)`
otherwise, :math:`e = e^{-|x|}`: no positive number is exponentiated.

Thread mapping: a **single block** (a GAN's batch of logits is small); thread ``t`` handles
``k = t, t + blockDim, ...``, writes ``dx[k]`` and adds its loss terms to a float64 partial sum;
:func:`~minigan.kernels.cuda_common.block_sum` combines them and thread 0 writes ``loss[0]``. The
loss stays on the device (no host synchronisation, so the kernel can sit in a CUDA graph).
"""

from __future__ import annotations

import math
from typing import Any

from numba import cuda, float64

from minigan.kernels.cuda_common import THREADS, block_sum, reduction_threads


@cuda.jit
def _bce_with_logits_kernel(x, t, loss, dx):  # type: ignore[no-untyped-def]
    """See the module docstring; ``x``, ``t``, ``dx`` flat (N,), ``loss`` (1,)."""
    shared = cuda.shared.array(THREADS, float64)
    n = x.size
    partial = 0.0
    for k in range(cuda.threadIdx.x, n, cuda.blockDim.x):
        v, target = x[k], t[k]
        e = math.exp(-abs(v))
        partial += max(v, 0) - v * target + math.log1p(e)
        sigmoid = 1 / (1 + e) if v >= 0 else e / (1 + e)
        dx[k] = (sigmoid - target) / n
    total = block_sum(partial, shared)
    if cuda.threadIdx.x == 0:
        loss[0] = total / n


def bce_with_logits(x: Any, t: Any, loss: Any, dx: Any, stream: Any = 0) -> None:
    """Launch :func:`_bce_with_logits_kernel`: ``loss[0]`` and ``dx`` from flat ``x``, ``t``."""
    _bce_with_logits_kernel[1, reduction_threads(x.size), stream](x, t, loss, dx)
