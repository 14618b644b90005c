r"""The WGAN-GP gradient penalty (Gulrajani et al. 2017), its gradient written out by hand.

The critic's loss gets the term

.. math::
    P = \lambda\, \frac1N \sum_i \big(\lVert g_i \rVert - 1\big)^2, \qquad
    g_i = \nabla_x D(\hat x_i), \qquad
    \hat x_i = \epsilon_i\, x_i + (1 - \epsilon_i)\, G(z_i), \quad \epsilon_i \sim U(0, 1),

one :math:`\epsilon_i` per sample, at random points between a real and a fake sample. Its
gradient with respect to D's weights is the derivative of an *input gradient* (what autograd
computes with ``create_graph=True``). Here it is derived layer by layer.

**The input gradient.** Write the critic as :math:`D = f_L \circ \dots \circ f_1`. At
:math:`\hat x` each layer's local derivative is a linear map :math:`A_l`: the weight's map for
``Linear`` and ``Conv2d`` (``W`` acting on the input, without the bias), the mask ``m`` (1 or 0,
1 or the slope) for ReLU and LeakyReLU, the reshape for ``Flatten``. One backward from
``dy_L = 1`` (N, 1) gives :math:`dy_{l-1} = A_l^T dy_l` and :math:`g = dy_0`, of the images'
shape, row ``i`` being :math:`g_i` (the samples never mix: no BatchNorm, see below). A bias does
not enter any :math:`A_l`; it only moves the points where a mask switches, and a mask is
constant almost everywhere: :math:`g` does not depend on the biases (a.e.).

**Its derivative.** With :math:`v = \partial P / \partial g`, per sample

.. math::
    v_i = \frac{2\lambda}{N}\, \big(\lVert g_i \rVert - 1\big)\, \frac{g_i}{\lVert g_i \rVert}

(0 where :math:`g_i = 0`, as PyTorch takes it), :math:`dP/dW_l = \partial \langle v, g\rangle /
\partial W_l` with ``v`` held fixed. A weight :math:`W_l` enters
:math:`g = A_1^T \cdots A_{l-1}^T A_l^T\, dy_l` only through :math:`A_l`: :math:`dy_l` is made by
the layers above, and the masks' derivatives vanish (a.e.). Moving the maps below ``l`` to the
other side of the product,

.. math::
    \frac{dP}{dW_l} = \frac{\partial}{\partial W_l} \langle t_{l-1},\, A_l^T dy_l\rangle
      = \frac{\partial}{\partial W_l} \langle A_l\, t_{l-1},\, dy_l\rangle, \qquad
    t_0 = v,\; t_l = A_l\, t_{l-1},

a *tangent* pushed forward from the input side. :math:`\langle A_l t, dy_l\rangle` is layer
``l``'s own first-order loss on the input ``t`` with no bias, so its ``W``-gradient is the ``dW``
of the layer's backward with the saved :math:`dy_l` (for ``Linear``, :math:`dy_l^T\, t_{l-1}`,
summed over the batch), and :math:`dP/db_l = 0`. The whole second-order pass is one forward of
the tangent through the linear parts and one weight-gradient product per weight layer:
``D.input_grad(dy_L)`` then ``D.tangent(v)`` (:mod:`minigan.nn.module`), running the same
kernels as forward and backward on every backend. Each layer's derivation is in its
:mod:`minigan.functional` module.

**What is refused.** BatchNorm in training couples the samples of a batch, so there is no
per-sample :math:`g_i` to constrain (the paper removes it from the critic); Tanh and Sigmoid have a
non-zero second derivative, not derived here; a conditional critic (labels) is not derived either.
:func:`check_critic` raises before training starts.

>>> import numpy as np
>>> from minigan import nn
>>> rng = np.random.default_rng(0)
>>> D = nn.Sequential(nn.Flatten(), nn.Linear(16, 8, rng=rng), nn.LeakyReLU(0.2),
...                   nn.Linear(8, 1, rng=rng))
>>> real = rng.uniform(-1, 1, (4, 1, 4, 4)).astype(np.float32)
>>> fake = rng.uniform(-1, 1, (4, 1, 4, 4)).astype(np.float32)
>>> check_critic(D)  # passes silently
>>> penalty = GradientPenalty(10.0, rng=np.random.default_rng(1))
>>> D.zero_grad()
>>> value = penalty(D, real, fake, None)  # adds dP/dW into D's parameter gradients
>>> type(value), value > 0, D[1].weight.grad.dtype, float(np.abs(D[1].bias.grad).max())
(<class 'float'>, True, dtype('float32'), 0.0)
>>> import textwrap
>>> try:
...     check_critic(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)))
... except ValueError as error:
...     print(textwrap.fill(str(error), 96))
gradient penalty: critic Sequential, layer 1 (BatchNorm2d(4, eps=1e-05, momentum=0.1)):
BatchNorm couples the samples of a batch (each output depends on the batch's mean and variance),
so the per-sample input gradient a gradient penalty constrains does not exist through it, and
its second-order pass is not derived; the WGAN-GP paper removes BatchNorm from the critic: use a
critic without it (e.g. --model dcgan28-nobn) or a per-sample normalisation such as layer norm
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigan import backend
from minigan.nn.module import Module, SecondOrderError, Sequential
from minigan.random import get_rng

__all__ = ["GradientPenalty", "SecondOrderError", "check_critic"]


def check_critic(D: Module) -> None:
    """Raise :class:`SecondOrderError` (a ``ValueError``) when the gradient penalty cannot run
    through ``D``, naming the first layer without a second-order pass (by its index) and why;
    return None otherwise. Cheap: call it before training."""
    if not isinstance(D, Module):
        raise TypeError(f"check_critic: expected a minigan Module, got {type(D).__name__}")
    reason = D.second_order_refusal()
    if reason is not None:
        sep = ", " if isinstance(D, Sequential) else ": "
        raise SecondOrderError(f"gradient penalty: critic {type(D).__name__}{sep}{reason}")


def _check_batches(real: Any, fake: Any) -> None:
    """A clear error unless ``real`` and ``fake`` are floating arrays of one shape, dtype, device."""
    for name, a in (("real", real), ("fake", fake)):
        if backend.device_of(a) is None:
            raise TypeError(f"GradientPenalty: {name} must be an array, got {type(a).__name__}")
        if not np.issubdtype(a.dtype, np.floating) or a.ndim < 2 or a.shape[0] < 1:
            raise ValueError(
                f"GradientPenalty: {name} must be a floating batch (N, ...) with N >= 1, got "
                f"dtype {a.dtype} and shape {a.shape}"
            )
    if (real.shape, real.dtype) != (fake.shape, fake.dtype):
        raise ValueError(
            f"GradientPenalty: real {real.shape} {real.dtype} and fake {fake.shape} {fake.dtype} "
            "must have the same shape and dtype"
        )
    if backend.device_of(real) != backend.device_of(fake):
        raise TypeError("GradientPenalty: real and fake must be on the same device")


class GradientPenalty:
    """``penalty(D, real, fake, labels) -> P``, the :data:`minigan.step.Penalty` of WGAN-GP.

    Called after D's backward passes and before ``opt_D.step()``: draws
    :math:`\\epsilon` (N, 1, ..., 1) as ``rng.random`` in float64 cast to the data's dtype (and
    moved to its device), runs ``D`` on ``x_hat = eps * real + (1 - eps) * fake``, **adds**
    :math:`dP/dW` into D's parameter gradients (nothing into the biases') and returns ``P`` as a
    Python float. D's caches are overwritten: the step has finished with them. ``grad_norm``
    keeps the mean :math:`\\lVert g_i \\rVert` of the last call, a 0-d array on the data's
    device (``float()`` it), free to compute; 1 is the penalty's target.

    ``weight`` is :math:`\\lambda` (10 in the paper); ``rng`` the generator of the
    :math:`\\epsilon` draws (default: the global one of :mod:`minigan.random`).
    """

    def __init__(self, weight: float = 10.0, rng: np.random.Generator | None = None) -> None:
        weight = float(weight)
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"GradientPenalty: weight must be finite and >= 0, got {weight}")
        self.weight = weight
        self.rng = get_rng(rng)
        self.grad_norm: Any = None

    def __call__(self, D: Module, real: Any, fake: Any, labels: Any = None) -> float:
        if labels is not None:
            raise ValueError(
                "the gradient penalty of a conditional critic is not derived (labels were "
                "given): use an unconditional critic with the wgan-gp objective"
            )
        _check_batches(real, fake)
        check_critic(D)
        n = real.shape[0]
        eps = self.rng.random((n,) + (1,) * (real.ndim - 1)).astype(real.dtype)
        eps = backend.to_device(eps, backend.device_of(real))
        x_hat = eps * real + (1 - eps) * fake  # (N, ...)
        out = D.forward(x_hat)
        if out.size != n:
            raise ValueError(
                f"GradientPenalty: the critic must output one value per sample, got shape "
                f"{out.shape} for a batch of {n}"
            )
        g = D.input_grad(np.ones_like(out))  # g_i = grad_x D(x_hat_i): (N, ...)
        norms = ((g * g).reshape(n, -1).sum(axis=1)) ** 0.5  # (N,)
        gap = norms - 1
        # v = dP/dg; a zero g_i gives v_i = 0 (dividing it by 1 instead of by its norm, 0)
        scale = (2 * self.weight / n) * gap / (norms + (norms == 0))
        D.tangent(g * scale.reshape((n,) + (1,) * (g.ndim - 1)))
        self.grad_norm = norms.mean()
        return float(self.weight * (gap * gap).mean())

    def __repr__(self) -> str:
        return f"GradientPenalty(weight={self.weight:g})"
