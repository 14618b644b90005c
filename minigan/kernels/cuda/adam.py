r"""The Adam update on the GPU, fused: one thread per weight reads ``w, g, m, v`` once and
writes ``w, m, v`` once.

Math: :func:`minigan.functional.adam.adam_update` (the bias-corrected update; its two scalar
factors :math:`\eta_t = \eta / (1 - \beta_1^t)` and :math:`c_t = 1/\sqrt{1 - \beta_2^t}` come from
:func:`~minigan.functional.adam.adam_step_factors`, computed once on the host). Where it differs
from the reference:

- **fusion**: the three updates of an element in registers, one kernel (grid-stride over the
  flat index of ``w``; arrays 1-D and contiguous), where the reference makes several passes;
- **precision**: the scalars are float64 kernel arguments, so each element's expression is
  evaluated in float64 and rounded to float32 on the store (the reference rounds after every
  operation): results differ by rounding only.

The scalars are kernel arguments, so a captured CUDA graph replays the ``t`` it was captured with.
"""

from __future__ import annotations

import math
from typing import Any

from numba import cuda

from minigan.functional.adam import adam_step_factors
from minigan.kernels.cuda.common import current_stream, elementwise_config, numba_view


@cuda.jit
def _adam_kernel(  # type: ignore[no-untyped-def]
    w, g, m, v, beta1, beta2, eps, step_size, inv_sqrt_bc2
):
    """Element ``k``: the three updates of the module docstring, in registers."""
    for k in range(cuda.grid(1), w.size, cuda.gridsize(1)):
        gk = g[k]
        mk = beta1 * m[k] + (1 - beta1) * gk
        vk = beta2 * v[k] + (1 - beta2) * gk * gk
        m[k] = mk
        v[k] = vk
        w[k] -= step_size * mk / (math.sqrt(vk) * inv_sqrt_bc2 + eps)


def launch_adam(
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
    """Launch :func:`_adam_kernel` on flat ``w``, ``g``, ``m``, ``v`` (Numba device arrays): one
    update, in place."""
    step_size, inv_sqrt_bc2 = adam_step_factors(lr, beta1, beta2, t)
    blocks, threads = elementwise_config(w.size)
    _adam_kernel[blocks, threads, stream](w, g, m, v, beta1, beta2, eps, step_size, inv_sqrt_bc2)


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
) -> None:
    """:func:`minigan.functional.adam_update` on contiguous CuPy arrays, in place, in one kernel."""
    view = numba_view
    launch_adam(
        view(w.ravel()), view(g.ravel()), view(m.ravel()), view(v.ravel()), lr, beta1, beta2,
        eps, t, current_stream(),
    )  # fmt: skip
