r"""The terms of a variational autoencoder's loss, each with its hand-written gradient
(``docs/vae.md`` derives them at length; notation of ``docs/notation.md``).

The encoder gives, per image, a Gaussian :math:`q(z|x) = \mathcal N(\mu, \operatorname{diag}
e^{\lambda})` (``mu``, ``logvar`` :math:`\lambda`, both (N, k)); the decoder gives Bernoulli
logits :math:`l` for every pixel. The loss is the negative ELBO per image (nats), a batch mean:

.. math::
    \mathcal L = \underbrace{-\mathbb E_q \log p(x|z)}_{\text{recon}}
               + \underbrace{\mathrm{KL}(q(z|x)\,\|\,\mathcal N(0, I))}_{\text{kl}},

the expectation estimated with one draw :math:`z = \mu + e^{\lambda/2}\varepsilon`,
:math:`\varepsilon \sim \mathcal N(0, I)` (the reparameterisation: :math:`\varepsilon` is data,
so :math:`z` is a differentiable function of :math:`\mu, \lambda`).

Values are scalars (NumPy or Python floats; 0-d arrays on the GPU: ``float()`` them);
gradients have the inputs' shapes and dtypes. float32 stays float32.

>>> import numpy as np
>>> mu, logvar = np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)
>>> value, dmu, dlogvar = kl_standard_normal(mu, logvar)
>>> float(value), dmu.dtype, float(abs(dlogvar).max())  # q = p: no divergence, no gradient
(0.0, dtype('float32'), 0.0)
>>> z = reparameterise(mu, logvar, np.ones((2, 3), np.float32))
>>> z.tolist()[0]
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigan import backend
from minigan.functional.losses import bce_with_logits

__all__ = [
    "bernoulli_nll",
    "kl_standard_normal",
    "reparameterise",
    "reparameterise_backward",
]


def _check(name: str, **arrays: Any) -> None:
    """The same 2-D shape and one floating dtype for every array, or a clear error."""
    shapes = {k: tuple(a.shape) for k, a in arrays.items()}
    dtypes = {k: np.dtype(a.dtype) for k, a in arrays.items()}
    first = next(iter(arrays.values()))
    if first.ndim != 2 or first.size == 0 or len(set(shapes.values())) != 1:
        raise ValueError(f"{name}: expected arrays of one non-empty shape (N, k), got {shapes}")
    if len(set(dtypes.values())) != 1 or next(iter(dtypes.values())).kind != "f":
        raise TypeError(f"{name}: expected arrays of one floating dtype, got {dtypes}")


def reparameterise(mu: Any, logvar: Any, eps: Any) -> Any:
    r"""``z = mu + exp(logvar / 2) * eps`` (N, k): a draw from :math:`\mathcal N(\mu,
    e^{\lambda})` as a function of ``mu`` and ``logvar``, given the noise ``eps`` (data)."""
    _check("reparameterise", mu=mu, logvar=logvar, eps=eps)
    return mu + np.exp(logvar * 0.5) * eps


def reparameterise_backward(dz: Any, logvar: Any, eps: Any) -> tuple[Any, Any]:
    r"""``(dmu, dlogvar)`` from ``dz`` (N, k): :math:`\partial z/\partial\mu = 1` and
    :math:`\partial z/\partial\lambda = \tfrac12 e^{\lambda/2}\varepsilon`, elementwise, so
    ``dmu = dz`` (a copy) and ``dlogvar = dz * eps * exp(logvar / 2) / 2``."""
    _check("reparameterise_backward", dz=dz, logvar=logvar, eps=eps)
    return dz.copy(), dz * eps * np.exp(logvar * 0.5) * 0.5


def kl_standard_normal(mu: Any, logvar: Any) -> tuple[Any, Any, Any]:
    r"""KL of :math:`\mathcal N(\mu, \operatorname{diag} e^{\lambda})` from :math:`\mathcal N(0,
    I)`, summed over the k latent dimensions, averaged over the N images, and its gradients:

    .. math::
        \mathrm{KL} = \frac1{2N}\sum_{n,j} \big(\mu_{nj}^2 + e^{\lambda_{nj}} - 1 - \lambda_{nj}\big),
        \quad \text{dmu} = \mu / N, \quad \text{dlogvar} = (e^{\lambda} - 1) / (2N).

    Each term is :math:`\ge 0` (:math:`e^u \ge 1 + u`), zero exactly at :math:`\mu = 0,
    \lambda = 0`. Returns ``(value, dmu, dlogvar)``.
    """
    _check("kl_standard_normal", mu=mu, logvar=logvar)
    n = mu.shape[0]
    var = np.exp(logvar)
    value = (mu * mu + var - 1 - logvar).sum() * (0.5 / n)
    return value, mu * (1.0 / n), (var - 1) * (0.5 / n)


def bernoulli_nll(logits: Any, x: Any) -> tuple[Any, Any]:
    r"""The reconstruction term: :math:`-\log p(x|z)` of Bernoulli pixels with ``logits``
    :math:`l` against the images ``x`` (N, C, H, W) in [-1, 1] read as probabilities
    :math:`p = (x + 1)/2`, summed over the P pixels of an image and averaged over the N images:

    .. math::
        \text{recon} = \frac1N\sum_{n,i}\big(\operatorname{softplus}(l_{ni}) - l_{ni}p_{ni}\big),
        \qquad \text{dlogits} = (\sigma(l) - p) / N,

    which is P times :func:`~minigan.functional.losses.bce_with_logits` (a mean over all N P
    values, gradient :math:`(\sigma(l) - p)/(NP)`): its stable evaluation is reused, through the
    backend (the CUDA loss kernel on CuPy arrays). Returns ``(value, dlogits)``.
    """
    if logits.shape != x.shape or logits.ndim < 2 or logits.size == 0:
        raise ValueError(
            f"bernoulli_nll: logits {tuple(logits.shape)} and images {tuple(x.shape)} must have "
            "one non-empty shape (N, ...)"
        )
    if np.dtype(logits.dtype).kind != "f" or logits.dtype != x.dtype:
        raise TypeError(
            f"bernoulli_nll: expected logits and images of one floating dtype, got "
            f"{logits.dtype} and {x.dtype}"
        )
    pixels = logits.size // logits.shape[0]
    p = (x + 1) * 0.5
    mean, dmean = backend.kernel(bce_with_logits, logits)(logits, p)
    return mean * pixels, dmean * pixels
