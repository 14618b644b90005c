r"""Losses, each returning ``(loss, d_input)``: the mean over the batch (a Python float; a 0-d
device array from the CUDA kernels) and the gradient **of that mean** with respect to the input,
in the input's dtype (``d_logits`` for a loss on logits). Symbols as in ``docs/notation.md``:
:math:`a` is a logit (a real number, D's raw output) and :math:`\sigma(a)` its probability.

**Binary cross-entropy on logits.** With :math:`\sigma(a) = 1/(1+e^{-a})` and target
:math:`t \in [0, 1]`, :math:`\ell = -t\log \sigma(a) - (1-t)\log(1-\sigma(a))`. With
:math:`\operatorname{softplus}(u) = \log(1+e^{u})`:

.. math::
    \log \sigma(a) = -\log(1 + e^{-a}) = -\operatorname{softplus}(-a), \qquad
    \log(1 - \sigma(a)) = \log\frac{e^{-a}}{1+e^{-a}} = -\operatorname{softplus}(a),

and :math:`\operatorname{softplus}(-a) = \log(e^{-a}(e^{a} + 1)) = \operatorname{softplus}(a) - a`, so

.. math::
    \ell = t\operatorname{softplus}(-a) + (1-t)\operatorname{softplus}(a)
         = \operatorname{softplus}(a) - a t.

Evaluated as :math:`\operatorname{softplus}(a) = \max(a, 0) + \log(1 + e^{-|a|})`, it never
exponentiates a positive number: finite for logits of any finite size. For an infinite logit
it gives the limit: 0 for a right answer (:math:`a = +\infty, t = 1`), :math:`+\infty` for
a wrong one, never NaN (``max(a, 0) - a t`` is computed as :math:`|a| w`, with
:math:`w = 1 - t` for :math:`a > 0` and :math:`w = t` otherwise, and 0 where :math:`w = 0`). Its derivative, from
:math:`\operatorname{softplus}'(a) = e^{a}/(1+e^{a}) = \sigma(a)`, is

.. math::
    \frac{\partial \ell}{\partial a} = \sigma(a) - t,

so the gradient of the mean over ``N`` values is :math:`(\sigma(a) - t)/N`: a per-sample
gradient divided by N.

>>> import numpy as np
>>> loss, d_logits = bce_with_logits(
...     np.array([1e4, -1e4], np.float32), np.array([0.0, 1.0], np.float32)
... )
>>> loss, d_logits
(10000.0, array([ 0.5, -0.5], dtype=float32))
"""

from __future__ import annotations

import numpy as np

from minigan.functional.activations import sigmoid


def softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + exp(x))`` as ``max(x, 0) + log1p(exp(-|x|))``: no overflow."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _check_pair(name: str, x: np.ndarray, t: np.ndarray) -> None:
    if x.shape != t.shape:
        raise ValueError(f"{name}: input shape {x.shape} and target shape {t.shape} differ")
    if x.size == 0:
        raise ValueError(f"{name}: empty input")


def bce_with_logits(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean of ``softplus(a) - a t`` over the logits ``a``; returns it and ``d_logits``
    ``(sigmoid(a) - t) / N``, the gradient of the mean (see above).

    ``logits`` and ``targets`` have the same shape (any); ``N`` is their number of elements.
    """
    _check_pair("bce_with_logits", logits, targets)
    targets = targets.astype(logits.dtype, copy=False)
    # max(a, 0) - a t is |a| w with w = 1 - t for a > 0 and w = t otherwise; written so, an
    # infinite logit gives the limit (0 where w = 0: a confident right answer, inf where not)
    # instead of inf - inf = NaN.
    w = np.where(logits > 0, 1 - targets, targets)
    linear = np.multiply(np.abs(logits), w, out=np.zeros_like(logits), where=w != 0)
    loss = linear + np.log1p(np.exp(-np.abs(logits)))
    return float(loss.mean()), (sigmoid(logits) - targets) / logits.size


def bce(probs: np.ndarray, targets: np.ndarray, eps: float = 1e-7) -> tuple[float, np.ndarray]:
    """BCE on probabilities ``p`` (``probs``): mean of ``-t log p - (1-t) log(1-p)``.

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
    r"""Mean over N of :math:`-\log \operatorname{softmax}(a_n)_{y_n}` for the logits
    :math:`a_n` (``logits`` (N, K)) and integer ``labels`` :math:`y_n` (N,). Gradient of the
    mean ``(softmax(a) - onehot(y)) / N``. Shifting by the row max keeps ``exp`` finite.
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
