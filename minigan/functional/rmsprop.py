r"""The RMSprop update (Tieleman & Hinton 2012), as PyTorch computes it (no momentum, not
centred), in place.

With gradient :math:`g` and a running mean of its square :math:`v` (zero at the start),

.. math::
    v \leftarrow \alpha v + (1 - \alpha) g^2, \qquad
    w \leftarrow w - \eta\, \frac{g}{\sqrt{v} + \epsilon}.

Each weight's step is its gradient divided by the root of its recent mean square: a scale-free
step of about :math:`\eta` whatever the gradient's size, without Adam's momentum (WGAN's paper
trains its clipped critic with it, having found momentum unstable there). Unlike Adam there is
no bias correction: the first step divides by :math:`\sqrt{1-\alpha}\,|g|` and moves each weight
by about :math:`\eta / \sqrt{1 - \alpha} = 10\,\eta` for :math:`\alpha = 0.99`.

>>> import numpy as np
>>> w, g, v = np.array([1.0], np.float32), np.array([0.5], np.float32), np.zeros(1, np.float32)
>>> rmsprop_update(w, g, v, 0.01, 0.99, 1e-8); w.round(6)  # 1 - 0.01 / sqrt(0.01)
array([0.9], dtype=float32)
"""

from __future__ import annotations

import numpy as np


def rmsprop_update(
    w: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float, alpha: float, eps: float
) -> None:
    """One RMSprop update of ``w`` and ``v`` (same shape as ``g``) **in place**; the scalars
    are Python floats, so float32 arrays stay float32."""
    v *= alpha
    v += (1 - alpha) * (g * g)
    w -= lr * (g / (np.sqrt(v) + eps))
