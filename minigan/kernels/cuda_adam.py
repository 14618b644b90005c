r"""The Adam update, fused: one thread per weight reads ``w, g, m, v`` once and writes
``w, m, v`` once.

NumPy reference: :func:`minigan.optim.adam_update` (same signature, plus ``stream``). At step
``t``, with :math:`\eta_t = \eta / (1 - \beta_1^t)` and :math:`c_t = 1/\sqrt{1 - \beta_2^t}`
computed once on the host,

.. math::
    m \leftarrow \beta_1 m + (1-\beta_1) g, \quad v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
    w \leftarrow w - \eta_t\, m / (\sqrt{v}\, c_t + \epsilon).

Thread mapping: grid-stride over the flat index of ``w`` (arrays 1-D and contiguous). The
scalars are kernel arguments, so a captured CUDA graph replays the ``t`` it was captured with.
"""

from __future__ import annotations

import math
from typing import Any

from numba import cuda

from minigan.kernels.cuda_common import elementwise_config
from minigan.optim import adam_step_factors


@cuda.jit
def _adam_kernel(w, g, m, v, beta1, beta2, eps, step_size, inv_sqrt_bc2):  # type: ignore[no-untyped-def]
    """Element ``k``: the three updates of the module docstring, in registers."""
    for k in range(cuda.grid(1), w.size, cuda.gridsize(1)):
        gk = g[k]
        mk = beta1 * m[k] + (1 - beta1) * gk
        vk = beta2 * v[k] + (1 - beta2) * gk * gk
        m[k] = mk
        v[k] = vk
        w[k] -= step_size * mk / (math.sqrt(vk) * inv_sqrt_bc2 + eps)


def adam_update(
    w: Any,
    g: Any,
    m: Any,
    v: Any,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    t: int,
    stream: Any = 0,
) -> None:
    """Launch :func:`_adam_kernel` on flat ``w``, ``g``, ``m``, ``v``: one update, in place."""
    step_size, inv_sqrt_bc2 = adam_step_factors(lr, beta1, beta2, t)
    blocks, threads = elementwise_config(w.size)
    _adam_kernel[blocks, threads, stream](w, g, m, v, beta1, beta2, eps, step_size, inv_sqrt_bc2)
