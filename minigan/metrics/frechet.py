r"""The Fréchet distance between Gaussians fitted to two sets of features (FID, Heusel et al.
2017), in float64.

Fit :math:`\mathcal N(\mu_1, \Sigma_1)` and :math:`\mathcal N(\mu_2, \Sigma_2)` to the features
(rows) of the two sets, by their means and covariance matrices (``ddof=1``, as pytorch-fid).
The Fréchet (2-Wasserstein) distance between them, squared, is

.. math::
    d^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
          - 2 \operatorname{tr}\big( (\Sigma_1 \Sigma_2)^{1/2} \big).

**The matrix square root, stably.** :math:`\Sigma_1 \Sigma_2` is not symmetric, and a general
``sqrtm`` of it can come out complex or inaccurate when the covariances are near singular (a
collapsed generator gives exactly that). Only the *trace* of its square root is needed, and
that is the sum of the square roots of its eigenvalues. With :math:`R = \Sigma_1^{1/2}` (the
symmetric square root of a symmetric positive semi-definite matrix, from its eigen-decomposition
:math:`\Sigma_1 = V \Lambda V^T`, :math:`R = V \Lambda^{1/2} V^T`, negative rounding noise in
:math:`\Lambda` set to 0),

.. math::
    \Sigma_1 \Sigma_2 = R\,(R\,\Sigma_2) \quad\text{and}\quad M = (R\,\Sigma_2)\,R = R\,\Sigma_2 R

have the same eigenvalues (:math:`AB` and :math:`BA` always do), and :math:`M` is symmetric
positive semi-definite, so its eigenvalues are real and non-negative and ``eigvalsh`` finds them
accurately: :math:`\operatorname{tr}\big((\Sigma_1\Sigma_2)^{1/2}\big) = \sum_i \sqrt{\lambda_i(M)}`.
No inverse is taken, so singular covariances are fine. Rounding can leave :math:`d^2` a hair
below 0 for two equal sets: it is reported as 0.

>>> import numpy as np
>>> x = np.random.default_rng(0).standard_normal((500, 4))
>>> fid(x, x) < 1e-12
True
>>> round(fid(x, x + 1.0), 6)  # a shift by (1, 1, 1, 1): ||mu1 - mu2||^2 = 4
4.0
"""

from __future__ import annotations

import numpy as np

__all__ = ["fid", "frechet_distance", "gaussian_stats", "sqrtm_psd", "trace_sqrt_product"]


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d), ``ddof=1``, of ``features`` (N, d), in float64."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"gaussian_stats: need features (N, d) with N >= 2, got {x.shape}")
    mu = x.mean(axis=0)
    centred = x - mu
    return mu, centred.T @ centred / (len(x) - 1)


def sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix ``a`` (d, d):
    ``V sqrt(max(L, 0)) V^T`` from ``a = V L V^T`` (eigenvalues below 0 are rounding noise)."""
    a = np.asarray(a, np.float64)
    vals, vecs = np.linalg.eigh((a + a.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((sigma1 sigma2)^(1/2))`` for symmetric PSD matrices, as the sum of the square roots
    of the eigenvalues of the symmetric ``R sigma2 R``, ``R = sqrtm_psd(sigma1)`` (see above)."""
    r = sqrtm_psd(sigma1)
    m = r @ np.asarray(sigma2, np.float64) @ r
    vals = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(vals, 0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """The squared Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` (above),
    never below 0."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    square = (len(mu1), len(mu1))
    if mu1.shape != mu2.shape or np.shape(sigma1) != square or np.shape(sigma2) != square:
        raise ValueError(
            f"frechet_distance: shapes differ: mu {mu1.shape}, {mu2.shape}, sigma "
            f"{np.shape(sigma1)}, {np.shape(sigma2)}"
        )
    diff = mu1 - mu2
    d2 = (
        float(diff @ diff)
        + float(np.trace(sigma1))
        + float(np.trace(sigma2))
        - 2 * trace_sqrt_product(sigma1, sigma2)
    )
    return max(d2, 0.0)


def fid(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two feature sets (N1, d) and (N2, d): :func:`frechet_distance` of their
    :func:`gaussian_stats`."""
    return frechet_distance(*gaussian_stats(features1), *gaussian_stats(features2))
