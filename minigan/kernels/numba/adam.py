r"""The Adam update on the CPU: one Numba pass over ``w``, ``g``, ``m``, ``v``.

Math: :func:`minigan.functional.adam.adam_update` (the bias-corrected update, its two scalar
factors from :func:`~minigan.functional.adam.adam_step_factors`); same signature, same in-place
contract. The only difference is fusion: per element, the reference's operations in its order
and in the array's dtype (no fastmath, no fused multiply-add, so float32 results match it bit
for bit), in one pass that reads four arrays and writes three, where the reference makes several
passes and temporaries over each parameter; small parameters run it on the calling thread
(:mod:`minigan.kernels.numba.launch`).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from minigan.functional.adam import adam_step_factors
from minigan.functional.adam import adam_update as reference_adam_update
from minigan.kernels.numba.launch import pick, twins


def _adam_loop(w, g, m, v, b1, c1, b2, c2, step_size, inv_sqrt_bc2, eps):  # pragma: no cover
    for i in prange(w.size):
        gi = g[i]
        mi = m[i] * b1 + c1 * gi
        vi = v[i] * b2 + c2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        w[i] -= step_size * (mi / (np.sqrt(vi) * inv_sqrt_bc2 + eps))


_adam = twins(_adam_loop)


def adam_update(
    w: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    t: int,
) -> None:
    """Fast :func:`minigan.functional.adam_update`: ``w``, ``m``, ``v`` updated in place.

    Arrays that are not C-contiguous (never the case for a ``Parameter``) go to the reference,
    since a flat view of them would be a copy.
    """
    arrays = (w, g, m, v)
    if not all(a.flags.c_contiguous and a.dtype == w.dtype for a in arrays):
        reference_adam_update(w, g, m, v, lr, beta1, beta2, eps, t)
        return
    f = w.dtype.type
    step_size, inv_sqrt_bc2 = adam_step_factors(lr, beta1, beta2, t)
    pick(_adam, w.size)(
        *(a.reshape(-1) for a in arrays),
        f(beta1), f(1 - beta1), f(beta2), f(1 - beta2), f(step_size), f(inv_sqrt_bc2), f(eps),
    )  # fmt: skip
