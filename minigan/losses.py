r"""The losses under their public names, each returning the loss (the mean over the batch) and
the gradient of that mean with respect to its inputs (divided by N; symbols and names as in
``docs/notation.md``).

- :func:`bce_with_logits`, :func:`bce`, :func:`softmax_cross_entropy`: the reference math of
  :mod:`minigan.functional.losses` (derivations there);
- :func:`discriminator_loss` and :func:`generator_loss`: the GAN objectives of
  :mod:`minigan.objectives` as two functions, for code that writes its own loop. D outputs
  logits, so their gradients are ``d_real_logits`` and ``d_fake_logits``: the
  ``d_real_out`` and ``d_fake_out`` of :mod:`minigan.step`.

>>> import numpy as np
>>> loss, d_fake_logits = generator_loss(np.zeros((4, 1), np.float32))  # D undecided: log 2
>>> round(loss, 4), d_fake_logits.ravel()
(0.6931, array([-0.125, -0.125, -0.125, -0.125], dtype=float32))
"""

from __future__ import annotations

from typing import Any

from minigan.functional.losses import bce, bce_with_logits, softmax_cross_entropy
from minigan.objectives import OBJECTIVES, get_objective

__all__ = [
    "GENERATOR_LOSSES",
    "bce",
    "bce_with_logits",
    "discriminator_loss",
    "generator_loss",
    "softmax_cross_entropy",
]

#: The generator losses of the BCE game (``--loss`` values).
GENERATOR_LOSSES: tuple[str, ...] = ("nonsaturating", "minimax")


def discriminator_loss(real_logits: Any, fake_logits: Any) -> tuple[Any, Any, Any]:
    r""":math:`-\mathbb E \log D(x) - \mathbb E \log(1 - D(G(z)))` with :math:`D = \sigma(a)`:
    ``(loss, d_real_logits, d_fake_logits)``, the sum of the two batch means and its gradients
    with respect to ``real_logits`` :math:`a_\text{real}` and ``fake_logits``
    :math:`a_\text{fake}` (N, 1): :math:`(\sigma(a_\text{real}) - 1)/N` and
    :math:`\sigma(a_\text{fake})/N`."""
    return OBJECTIVES["nonsaturating"].d_loss(real_logits, fake_logits)


def generator_loss(fake_logits: Any, kind: str = "nonsaturating") -> tuple[Any, Any]:
    r"""The generator's loss ``kind`` (``"nonsaturating"`` or ``"minimax"``, see
    :mod:`minigan.objectives`) on the logits D gives its samples: ``(loss, d_fake_logits)``,
    the batch mean and its gradient with respect to ``fake_logits`` (N, 1),
    :math:`(\sigma(a) - 1)/N` or :math:`-\sigma(a)/N`."""
    if kind not in GENERATOR_LOSSES:
        raise ValueError(f"generator_loss: kind must be one of {GENERATOR_LOSSES}, got {kind!r}")
    return get_objective(kind).g_loss(fake_logits)
