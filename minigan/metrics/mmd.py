r"""Kernel Inception Distance (KID, Bińkowski et al. 2018) on features, in float64.

KID is the squared maximum mean discrepancy between the two feature distributions under the
cubic polynomial kernel of dimension ``d``,

.. math::
    k(x, y) = \big(x \cdot y / d + 1\big)^3,

estimated without bias. For samples :math:`x_1..x_m` (real) and :math:`y_1..y_m` (generated),
with the kernel matrices :math:`K_{xx}`, :math:`K_{yy}`, :math:`K_{xy}`,

.. math::
    \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)} \sum_{i \ne j} k(x_i, x_j)
      + \frac{1}{m(m-1)} \sum_{i \ne j} k(y_i, y_j) - \frac{2}{m^2} \sum_{i, j} k(x_i, y_j).

Leaving out the diagonals (:math:`i = j`) makes each average an unbiased estimate of its
expectation, so :math:`E[\widehat{\mathrm{MMD}}^2_u] = \mathrm{MMD}^2` at any sample size; it is
0 in expectation for two samples of one distribution and can come out slightly negative. (FID,
by contrast, is biased upwards, more so for fewer samples.) As in the published protocol
(torch-fidelity's defaults), the estimate is averaged over ``subsets`` random subsets of
``subset_size`` samples from each set (drawn without replacement within a subset, from a seeded
generator), and the standard deviation over the subsets is reported with it.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> mean, std = kid(rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8)), rng=rng)
>>> bool(abs(mean) < std)  # two samples of one distribution
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["SUBSETS", "SUBSET_SIZE", "kid", "mmd2_unbiased", "polynomial_kernel"]

SUBSETS = 100
SUBSET_SIZE = 1000


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(x @ y.T / d + 1) ** 3`` for ``x`` (m, d) and ``y`` (n, d): (m, n), float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimate of MMD^2 above for ``x`` (m, d) and ``y`` (n, d), m, n >= 2 (the
    cross term's mean is over all m n pairs when the sizes differ)."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(xx + yy - 2 * kxy.mean())


def kid(
    real: np.ndarray,
    fake: np.ndarray,
    subsets: int = SUBSETS,
    subset_size: int = SUBSET_SIZE,
    rng: np.random.Generator | int | None = 0,
) -> tuple[float, float]:
    """KID between feature sets ``real`` (M, d) and ``fake`` (N, d): the mean and standard
    deviation of :func:`mmd2_unbiased` over ``subsets`` subsets of
    ``min(subset_size, M, N)`` rows of each (at least 2)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"kid: need at least 2 samples in each set, got {len(real)}, {len(fake)}")
    values = np.array(
        [
            mmd2_unbiased(
                real[rng.choice(len(real), size, replace=False)],
                fake[rng.choice(len(fake), size, replace=False)],
            )
            for _ in range(subsets)
        ]
    )
    return float(values.mean()), float(values.std())
