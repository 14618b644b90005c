r"""Losses, each returning ``(loss, dinput)``: a Python float (mean over the batch) and the
gradient of that mean with respect to the input, in the input's dtype.

**Binary cross-entropy on logits.** With :math:`p = \sigma(x)` and target :math:`t`,
:math:`\ell = -t\log p - (1-t)\log(1-p)`. Since :math:`\log\sigma(x) = -\operatorname{softplus}(-x)`
and :math:`\operatorname{softplus}(z) = \max(z,0) + \log(1+e^{-|z|})`,

.. math::
    \ell(x, t) = \max(x, 0) - x t + \log\!\big(1 + e^{-|x|}\big), \qquad
    \frac{\partial \ell}{\partial x} = \sigma(x) - t,

which never exponentiates a positive number: finite for logits of any size.

**The GAN objectives.** The discriminator :math:`D(x) = \sigma(\text{logit})` maximises
:math:`V(D, G) = \mathbb E_x \log D(x) + \mathbb E_z \log(1 - D(G(z)))`; minimising its negation is
BCE with target 1 on real and 0 on fake logits (:func:`discriminator_loss`). The generator
minimises :math:`V`: in the original *minimax* form that is :math:`\mathbb E \log(1 - D(G(z)))`,
whose gradient :math:`-\sigma(x)` vanishes when D confidently rejects fakes (:math:`x \to -\infty`).
The *non-saturating* form minimises :math:`-\mathbb E \log D(G(z))` instead, with gradient
:math:`\sigma(x) - 1 \to -1` there (:func:`generator_loss`).

>>> import numpy as np
>>> loss, d = bce_with_logits(np.array([1e4, -1e4], np.float32), np.array([0.0, 1.0], np.float32))
>>> loss, d
(10000.0, array([ 0.5, -0.5], dtype=float32))
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from minigan.functional.activations import sigmoid

GeneratorLossKind = Literal["nonsaturating", "minimax"]
GENERATOR_LOSSES: tuple[str, ...] = ("nonsaturating", "minimax")


def _softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + exp(x))`` without overflow."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _check_pair(name: str, x: np.ndarray, t: np.ndarray) -> None:
    if x.shape != t.shape:
        raise ValueError(f"{name}: input shape {x.shape} and target shape {t.shape} differ")
    if x.size == 0:
        raise ValueError(f"{name}: empty input")


def bce_with_logits(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean of ``max(x, 0) - x t + log1p(exp(-|x|))``; gradient ``(sigmoid(x) - t) / N``.

    ``logits`` and ``targets`` have the same shape (any); ``N`` is their number of elements.
    """
    _check_pair("bce_with_logits", logits, targets)
    targets = targets.astype(logits.dtype, copy=False)
    loss = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    return float(loss.mean()), (sigmoid(logits) - targets) / logits.size


def bce(probs: np.ndarray, targets: np.ndarray, eps: float = 1e-7) -> tuple[float, np.ndarray]:
    """BCE on probabilities: mean of ``-t log p - (1-t) log(1-p)``.

    ``p`` is **clamped** to ``[eps, 1 - eps]`` first, so the loss stays finite at 0 and 1; the
    gradient ``(p - t) / (p (1 - p) N)`` is that of the clamped expression (zero where the
    clamp is active). Prefer :func:`bce_with_logits`, which needs no clamp.
    """
    _check_pair("bce", probs, targets)
    targets = targets.astype(probs.dtype, copy=False)
    p = np.clip(probs, eps, 1 - eps)
    loss = -(targets * np.log(p) + (1 - targets) * np.log1p(-p))
    inside = (probs >= eps) & (probs <= 1 - eps)
    grad = np.where(inside, (p - targets) / (p * (1 - p)), 0) / probs.size
    return float(loss.mean()), grad.astype(probs.dtype, copy=False)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Mean over N of :math:`-\log \operatorname{softmax}(x_n)_{y_n}`; ``logits`` (N, K), integer
    ``labels`` (N,). Gradient ``(softmax(x) - onehot(y)) / N``. Shifting by the row max keeps
    ``exp`` finite.
    """
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(
            f"softmax_cross_entropy: expected logits (N, K) and labels (N,), got {logits.shape} "
            f"and {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"softmax_cross_entropy: labels must be integers, got {labels.dtype}")
    n, k = logits.shape
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"softmax_cross_entropy: labels must lie in [0, {k}), got {labels}")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_z
    rows = np.arange(n)
    grad = np.exp(log_probs)
    grad[rows, labels] -= 1
    return float(-log_probs[rows, labels].mean()), grad / n


def discriminator_loss(
    real_logits: np.ndarray, fake_logits: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    r""":math:`-\mathbb E \log D(x) - \mathbb E \log(1 - D(G(z)))`, the negated value for D.

    Returns ``(loss, d_real, d_fake)``: the sum of the two batch means, and the gradients with
    respect to each batch of logits (``(sigmoid - 1)/N`` and ``sigmoid/N``).
    """
    loss_real, d_real = bce_with_logits(real_logits, np.ones_like(real_logits))
    loss_fake, d_fake = bce_with_logits(fake_logits, np.zeros_like(fake_logits))
    return loss_real + loss_fake, d_real, d_fake


def generator_loss(
    fake_logits: np.ndarray, kind: GeneratorLossKind = "nonsaturating"
) -> tuple[float, np.ndarray]:
    r"""The generator's loss on the logits ``x`` that D gives its samples, and its gradient.

    - ``"nonsaturating"``: :math:`-\mathbb E \log \sigma(x)` = BCE with target 1; gradient
      :math:`(\sigma(x) - 1)/N`, about :math:`-1/N` when D rejects the fakes.
    - ``"minimax"``: :math:`\mathbb E \log(1 - \sigma(x)) = -\mathbb E\,\mathrm{softplus}(x)`, the
      original objective; gradient :math:`-\sigma(x)/N`, which vanishes as :math:`x \to -\infty`.
    """
    if kind == "nonsaturating":
        return bce_with_logits(fake_logits, np.ones_like(fake_logits))
    if kind == "minimax":
        if fake_logits.size == 0:
            raise ValueError("generator_loss: empty input")
        return (
            float(-_softplus(fake_logits).mean()),
            -sigmoid(fake_logits) / fake_logits.size,
        )
    raise ValueError(f"generator_loss: kind must be one of {GENERATOR_LOSSES}, got {kind!r}")
