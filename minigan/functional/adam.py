r"""The Adam update (Kingma & Ba, bias-corrected, as PyTorch computes it), in place.

At step :math:`t` (counted from 1, incremented before use), with gradient :math:`g`,

.. math::
    m_t = \beta_1 m_{t-1} + (1-\beta_1) g, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g^2,

.. math::
    w \leftarrow w - \frac{\eta}{1-\beta_1^t}\, \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}.

The bias corrections undo the zero start of :math:`m` and :math:`v`: with a constant gradient,
:math:`m_t = (1-\beta_1^t) g`, so :math:`m_t / (1-\beta_1^t) = g` at every step. Writing them as
two scalars (:func:`adam_step_factors`) keeps the per-element work to one expression, the same in
every implementation (:mod:`minigan.kernels.numba.adam`, :mod:`minigan.kernels.cuda.adam`).

>>> import numpy as np
>>> w, g = np.array([1.0], np.float32), np.array([0.5], np.float32)
>>> m, v = np.zeros(1, np.float32), np.zeros(1, np.float32)
>>> adam_update(w, g, m, v, 0.1, 0.9, 0.999, 1e-8, 1); w  # the first step moves w by about lr
array([0.9], dtype=float32)
"""

from __future__ import annotations

import math

import numpy as np


def adam_step_factors(lr: float, beta1: float, beta2: float, t: int) -> tuple[float, float]:
    """Adam's bias corrections at step ``t`` as two scalars:
    ``(lr / (1 - beta1**t), 1 / sqrt(1 - beta2**t))``.
    """
    return lr / (1 - beta1**t), 1 / math.sqrt(1 - beta2**t)


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
    """One bias-corrected Adam update of ``w``, ``m`` and ``v`` (same shape) **in place**, from
    the gradient ``g``. The scalar factors are Python floats, so float32 arrays stay float32.
    """
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * (g * g)
    step_size, inv_sqrt_bc2 = adam_step_factors(lr, beta1, beta2, t)
    w -= step_size * (m / (np.sqrt(v) * inv_sqrt_bc2 + eps))
