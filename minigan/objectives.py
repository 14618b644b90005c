r"""The GAN games as values: each objective gives D's loss and G's loss on D's outputs, with
their gradients, and :func:`minigan.step.train_step` takes one as an argument.

D outputs a logit :math:`a`; for the games on this page its probability that the input is real
is :math:`D(x) = \sigma(a)`. Goodfellow et al.'s value function is

.. math::
    V(D, G) = \mathbb E_{x \sim p_\text{data}} \log D(x)
            + \mathbb E_{z \sim \mathcal N(0, I)} \log\big(1 - D(G(z))\big).

**D** maximises V, i.e. minimises :math:`-V`: binary cross-entropy with target 1 on the real
logits and 0 on the fake ones (:func:`minigan.functional.losses.bce_with_logits`), returned as
``(loss, d_real_out, d_fake_out)``; D's outputs are logits, so these are ``d_real_logits``
:math:`(\sigma(a_\text{real}) - 1)/N` and ``d_fake_logits`` :math:`\sigma(a_\text{fake})/N`.
**G** minimises V's second term, returned as ``(loss, d_fake_out)``:

- ``"minimax"``: :math:`\mathbb E \log(1 - \sigma(a)) = -\mathbb E\,\mathrm{softplus}(a)`,
  which is minus BCE with target 0; gradient ``d_fake_logits`` :math:`-\sigma(a)/N`, which
  vanishes as :math:`a \to -\infty`, exactly when D confidently rejects the fakes (saturation);
- ``"nonsaturating"``: :math:`-\mathbb E \log \sigma(a)`, BCE with target 1, the same fixed
  point with gradient ``d_fake_logits`` :math:`(\sigma(a) - 1)/N \to -1/N` there.

Gradients are of the batch mean (divided by N), in the names of ``docs/notation.md``. Every loss runs through
:func:`minigan.backend.kernel`, so the fused CUDA loss kernel runs on CuPy arrays.

>>> import numpy as np
>>> logits = np.array([[-20.0], [0.0]], np.float32)
>>> OBJECTIVES["minimax"].g_loss(logits)[1].ravel()       # no gradient at a = -20
array([-1.0305768e-09, -2.5000000e-01], dtype=float32)
>>> OBJECTIVES["nonsaturating"].g_loss(logits)[1].ravel()  # -1/N there
array([-0.5 , -0.25], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigan import backend
from minigan.functional.activations import sigmoid
from minigan.functional.losses import bce_with_logits

__all__ = ["OBJECTIVES", "Minimax", "NonSaturating", "Objective", "get_objective"]


def _bce(logits: Any, target: float) -> tuple[Any, Any]:
    """BCE of ``logits`` against a constant ``target``, through the backend."""
    targets = np.full_like(logits, target)
    return backend.kernel(bce_with_logits, logits)(logits, targets)


class Objective:
    """A GAN game: D's loss and G's loss on D's outputs, and their gradients.

    D's loss is a sum of a term on the real batch and a term on the fake batch (true of every
    game here; a gradient penalty is a separate term of the step), so the step can finish each
    batch, forward and backward, before the next: D keeps one cache per layer.

    - :meth:`d_loss_real` ``(real_out) -> (loss, d_real_out)``, :meth:`d_loss_fake`
      ``(fake_out) -> (loss, d_fake_out)``, and their sum :meth:`d_loss`;
    - :meth:`g_loss` ``(fake_out) -> (loss, d_fake_out)``;
    - :attr:`probabilities`: whether ``sigmoid`` of D's output is a probability (then the step
      reports the mean D(x) and D(G(z))).

    Losses are batch means (floats, or 0-d device arrays on the GPU); gradients have the shape
    and dtype of the outputs.
    """

    name = ""
    probabilities = True

    def d_loss_real(self, real_out: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def d_loss_fake(self, fake_out: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def g_loss(self, fake_out: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def d_loss(self, real_out: Any, fake_out: Any) -> tuple[Any, Any, Any]:
        """``(loss, d_real_out, d_fake_out)``: D's whole loss, the sum of its two terms."""
        loss_real, d_real = self.d_loss_real(real_out)
        loss_fake, d_fake = self.d_loss_fake(fake_out)
        return loss_real + loss_fake, d_real, d_fake

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NonSaturating(Objective):
    r"""D: :math:`-\mathbb E\log\sigma(a_\text{real}) - \mathbb E\log(1 - \sigma(a_\text{fake}))`;
    G: :math:`-\mathbb E\log\sigma(a_\text{fake})` (the DCGAN paper's choice)."""

    name = "nonsaturating"

    def d_loss_real(self, real_out: Any) -> tuple[Any, Any]:
        return _bce(real_out, 1.0)

    def d_loss_fake(self, fake_out: Any) -> tuple[Any, Any]:
        return _bce(fake_out, 0.0)

    def g_loss(self, fake_out: Any) -> tuple[Any, Any]:
        return _bce(fake_out, 1.0)


class Minimax(NonSaturating):
    r"""D as :class:`NonSaturating`; G: :math:`\mathbb E\log(1 - \sigma(a_\text{fake}))
    = -\,\mathrm{BCE}(a_\text{fake}, 0)`, the original minimax game."""

    name = "minimax"

    def g_loss(self, fake_out: Any) -> tuple[Any, Any]:
        loss, d_fake = _bce(fake_out, 0.0)
        return -loss, -d_fake


#: Every objective by its ``--loss`` name.
OBJECTIVES: dict[str, Objective] = {o.name: o for o in (NonSaturating(), Minimax())}


def get_objective(name: str | Objective) -> Objective:
    """The objective named ``name`` (an :class:`Objective` is returned as it is); a clear error
    listing the names for an unknown one."""
    if isinstance(name, Objective):
        return name
    try:
        return OBJECTIVES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown objective {name!r}; choose one of {tuple(OBJECTIVES)}") from None


def mean_probability(out: Any) -> Any:
    """The mean of ``sigmoid(out)``: what D says on average of a batch (through the backend)."""
    return backend.kernel(sigmoid, out)(out).mean()
