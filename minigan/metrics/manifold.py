r"""Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020):
the two sets' manifolds estimated with k-nearest-neighbour balls in feature space.

Real features :math:`X_1..X_M`, generated :math:`Y_1..Y_N`. :math:`r_k(X_i)` is the distance
from :math:`X_i` to its k-th nearest *other* real point; the ball
:math:`B(X_i) = \{u : \lVert u - X_i\rVert \le r_k(X_i)\}` (closed) and the union of all of them
is the estimated real manifold; likewise for the generated set.

.. math::
    \text{precision} &= \tfrac1N \textstyle\sum_j \big[\, Y_j \in \bigcup_i B(X_i) \big]
      \qquad \text{(generated samples that look real: quality)} \\
    \text{recall} &= \tfrac1M \textstyle\sum_i \big[\, X_i \in \bigcup_j B(Y_j) \big]
      \qquad \text{(real samples the generator can produce: diversity)} \\
    \text{density} &= \tfrac{1}{kN} \textstyle\sum_j \sum_i \big[\, Y_j \in B(X_i) \big] \\
    \text{coverage} &= \tfrac1M \textstyle\sum_i \big[\, \exists j : Y_j \in B(X_i) \big]

Precision and recall use ``k = 3`` (Kynkäänniemi et al.); density and coverage ``k = 5`` and
real balls only (Naeem et al.), which makes them robust to outliers in the generated set: an
outlier real point inflates the real manifold for precision, but adds little to density, which
counts how many real balls hold each sample (1 on average for samples like the real ones, more in
dense regions); coverage asks of each real point whether some sample lands near it, so a
collapsed generator scores low however good its few modes look.

Distances are Euclidean in float64, computed in blocks of rows (``|a|^2 + |b|^2 - 2 a.b``, never
the full N x M matrix at once) and compared squared: the radii are kept squared too
(:func:`knn_sq_radii`), so a point exactly on a ball's boundary (its own k-th neighbour) counts as
inside whatever the rounding of a square root.

>>> import numpy as np
>>> x = np.random.default_rng(0).standard_normal((200, 5))
>>> manifold_metrics(x, knn_sq_radii(x, 3), knn_sq_radii(x, 5), x)  # a set against itself
{'precision': 1.0, 'recall': 1.0, 'density': 1.2, 'coverage': 1.0}

A set against itself scores 1 for precision, recall and coverage, and :math:`(k+1)/k = 1.2` for
density, each point lying in its own ball and in those of the k points it is a neighbour of
(on average); a fresh sample of the real distribution scores about 1.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["K_DC", "K_PR", "knn_sq_radii", "manifold_metrics", "pairwise_sq_distances"]

K_PR = 3  # neighbours for precision and recall
K_DC = 5  # neighbours for density and coverage
BLOCK = 1024  # rows per block of distances


def pairwise_sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (m, n) between the rows of ``a`` (m, d) and ``b`` (n, d),
    float64, clipped at 0 (the expansion can round a hair below)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2 * (a @ b.T)
    return np.maximum(d2, 0, out=d2)


def _blocks(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, squared distances of a[rows] to all of b)``, ``BLOCK`` rows at a time."""
    for start in range(0, len(a), BLOCK):
        rows = slice(start, min(start + BLOCK, len(a)))
        yield rows, pairwise_sq_distances(a[rows], b)


def knn_sq_radii(x: np.ndarray, k: int) -> np.ndarray:
    """The squared distance from each row of ``x`` (N, d) to its k-th nearest other row, (N,)
    float64.

    The (k+1)-th smallest distance of each row, the row itself (distance 0) being the first; an
    exact duplicate of a row counts as another neighbour at distance 0.
    """
    if len(x) <= k:
        raise ValueError(f"knn_sq_radii: need more than k={k} points, got {len(x)}")
    radii = np.empty(len(x))
    for rows, d2 in _blocks(x, x):
        idx = np.arange(rows.start, rows.stop)
        d2[np.arange(len(idx)), idx] = 0.0  # the point itself, exactly
        radii[rows] = np.partition(d2, k, axis=1)[:, k]
    return radii


def manifold_metrics(
    real: np.ndarray,
    real_sq_radii_pr: np.ndarray,
    real_sq_radii_dc: np.ndarray,
    fake: np.ndarray,
    fake_sq_radii_pr: np.ndarray | None = None,
    k_dc: int = K_DC,
) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` (N, d) against ``real`` (M, d),
    given the real points' squared k-NN radii (:func:`knn_sq_radii`) for precision/recall
    (``K_PR``) and for density/coverage (``k_dc``, the ``k`` that density divides by); the
    generated set's radii for recall are computed unless given. One pass over blocks of the
    N x M distances.
    """
    if fake_sq_radii_pr is None:
        fake_sq_radii_pr = knn_sq_radii(fake, K_PR)
    r_pr, r_dc = real_sq_radii_pr[None, :], real_sq_radii_dc[None, :]
    in_real, in_real_balls = 0, 0
    recalled = np.zeros(len(real), bool)
    covered = np.zeros(len(real), bool)
    for rows, d2 in _blocks(fake, real):  # d2[j, i] = |Y_j - X_i|^2
        in_real += int((d2 <= r_pr).any(axis=1).sum())
        inside_dc = d2 <= r_dc
        in_real_balls += int(inside_dc.sum())
        covered |= inside_dc.any(axis=0)
        recalled |= (d2 <= fake_sq_radii_pr[rows, None]).any(axis=0)
    n = len(fake)
    return {
        "precision": in_real / n,
        "recall": float(recalled.mean()),
        "density": in_real_balls / (k_dc * n),
        "coverage": float(covered.mean()),
    }
