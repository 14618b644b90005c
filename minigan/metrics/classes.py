r"""What the classifier's predictions say about a sample set: the classifier inception score and
the class histogram, the mode-collapse detector.

**Inception score** (Salimans et al. 2016) with the classifier's class probabilities
:math:`p(y \mid x)` in place of Inception-v3's, and :math:`p(y) = \frac1N \sum_x p(y \mid x)`
the marginal over the set:

.. math::
    \mathrm{IS} = \exp\Big( \tfrac1N \textstyle\sum_x \mathrm{KL}\big(p(y \mid x) \,\Vert\,
    p(y)\big) \Big) \in [1, K].

It is high when each image is classified confidently (peaked :math:`p(y \mid x)`) *and* the
classes are balanced (flat :math:`p(y)`): at most :math:`K = 10`. It never looks at real images,
so it cannot tell a sharp but unrealistic sample from a real one.

**Class histogram.** The share of samples predicted as each class (argmax of the logits); its
entropy :math:`H = -\sum_c s_c \log s_c` in nats (:math:`\log 10 \approx 2.303` when balanced, 0
for one class), the number of classes *covered* (a share of at least a quarter of the uniform
share, ``1 / (4 K)``: 2.5% for Fashion-MNIST), and the largest share (0.1 when balanced, 1 when
collapsed to one class). The threshold is set by the classifier's own confusions: real images of
one class are predicted as another up to 9% of the time for shirts and T-shirts, but under 2.5%
for trousers, sandals, sneakers and bags, so a set of real trousers covers one class and a set
of real shirts five (docs/evaluation.md has the confusion matrix).

>>> import numpy as np
>>> probs = np.eye(10)[np.arange(100) % 10]  # confident and balanced
>>> round(inception_score(probs), 6)
10.0
>>> class_summary(np.zeros(50, np.int64))["classes_covered"]
1
"""

from __future__ import annotations

import numpy as np

__all__ = ["COVERED_FRACTION", "class_summary", "inception_score"]

COVERED_FRACTION = 0.25  # a class is covered with at least this fraction of its uniform share


def inception_score(probabilities: np.ndarray) -> float:
    """``exp(mean KL(p(y|x) || p(y)))`` for class probabilities (N, K) (rows summing to 1);
    float64, with ``0 log 0 = 0``."""
    p = np.asarray(probabilities, np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))


def class_summary(predicted: np.ndarray, num_classes: int = 10) -> dict[str, object]:
    """``class_histogram`` (the share of each class, a list of ``num_classes`` floats),
    ``classes_covered``, ``class_entropy`` (nats) and ``max_class_share`` of predicted labels
    (N,)."""
    predicted = np.asarray(predicted)
    counts = np.bincount(predicted, minlength=num_classes)[:num_classes]
    shares = counts / len(predicted)
    nonzero = shares[shares > 0]
    return {
        "class_histogram": [float(s) for s in shares],
        "classes_covered": int((shares >= COVERED_FRACTION / num_classes).sum()),
        "class_entropy": 0.0 - float((nonzero * np.log(nonzero)).sum()),  # 0.0, not -0.0
        "max_class_share": float(shares.max()),
    }
