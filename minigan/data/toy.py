"""Seeded toy distributions in one and two dimensions, for GAN experiments that run in seconds.

Each distribution is a small object with ``name``, ``dim``, ``sample(n, rng)`` (float32
``(n, dim)``) and ``density(x)`` (float64 ``(n,)``; ``NotImplementedError`` where there is
no closed form). The Gaussian mixtures expose ``centers`` ``(k, dim)``, ``std`` ``(k,)``
and ``weights`` ``(k,)`` for mode-coverage metrics.

========== ================================================================= =========
name       distribution                                                      density
========== ================================================================= =========
gmm1d      1-D mixture, means (-2, 0, 2), std 0.25, weights (1/4, 1/2, 1/4)  yes
ring8      8 Gaussians on a circle of radius 2, std 0.05                     yes
grid25     25 Gaussians on the 5x5 grid {-4, -2, 0, 2, 4}^2, std 0.05        yes
moons      two interleaved half circles, Gaussian noise 0.05                 no
spiral     1.5-turn spiral out to radius 2, Gaussian noise 0.05              no
uniform    uniform on the square [-1, 1]^2                                   yes (1/4)
========== ================================================================= =========

The std of 0.05 for ``ring8`` and ``grid25`` (some papers use 0.02) keeps modes narrow
next to their spacing (≥ 1.5) while leaving a density grid of step 0.025 accurate.

>>> import numpy as np
>>> from minigan.data.toy import get_toy
>>> ring = get_toy("ring8")
>>> x = ring.sample(1000, np.random.default_rng(0))
>>> x.shape, x.dtype, ring.centers.shape
((1000, 2), dtype('float32'), (8, 2))
>>> bool(np.allclose(np.linalg.norm(x, axis=1), 2.0, atol=0.3))
True
>>> ring.density(np.array([[2.0, 0.0]])).round(2)
array([7.96])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "TOY_DISTRIBUTIONS",
    "GaussianMixture",
    "Spiral",
    "ToyDistribution",
    "TwoMoons",
    "UniformSquare",
    "gaussian_mixture_1d",
    "get_toy",
    "grid25",
    "ring8",
    "spiral",
    "two_moons",
    "uniform_square",
]


class ToyDistribution:
    """Base class: a distribution on ``R^dim`` with a seeded sampler.

    Subclasses set ``name`` and ``dim`` and implement :meth:`_draw`, and :meth:`_pdf` when
    the density has a closed form.
    """

    name: str = "toy"
    dim: int = 2

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` points as float32 ``(n, dim)``, using only ``rng`` for randomness."""
        if n < 0:
            raise ValueError(f"cannot draw {n} samples")
        return self._draw(int(n), rng).astype(np.float32)

    def density(self, x: np.ndarray) -> np.ndarray:
        """Probability density at points ``x`` ``(n, dim)`` (``(n,)`` also works when dim is 1).

        Returns float64 ``(n,)``.
        """
        x = np.asarray(x, dtype=np.float64)
        if self.dim == 1 and x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"{self.name}: expected points of shape (n, {self.dim}), got {x.shape}"
            )
        return self._pdf(x)

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.name} has no closed-form density")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


class GaussianMixture(ToyDistribution):
    """Mixture of isotropic Gaussians.

    Parameters
    ----------
    centers
        Mode centres ``(k, dim)``.
    std
        One standard deviation for all modes, or one per mode ``(k,)``.
    weights
        Mixture weights ``(k,)``, normalised to sum to 1; equal when omitted.
    name
        Registry name.
    """

    def __init__(
        self,
        centers: np.ndarray,
        std: float | Sequence[float],
        weights: Sequence[float] | None = None,
        name: str = "gmm",
    ) -> None:
        self.centers = np.array(centers, dtype=np.float64, ndmin=2)
        k = len(self.centers)
        self.std = np.broadcast_to(np.asarray(std, dtype=np.float64), (k,)).copy()
        w = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (k,) or (w < 0).any() or w.sum() <= 0 or (self.std <= 0).any():
            raise ValueError(f"{name}: need {k} non-negative weights and positive stds")
        self.weights = w / w.sum()
        self.name = name
        self.dim = self.centers.shape[1]

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        modes = rng.choice(len(self.centers), size=n, p=self.weights)
        noise = rng.standard_normal((n, self.dim))
        return self.centers[modes] + noise * self.std[modes, None]

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        total = np.zeros(len(x))
        for center, std, weight in zip(self.centers, self.std, self.weights, strict=True):
            sq_dist = ((x - center) ** 2).sum(axis=1)
            norm = (2 * np.pi * std**2) ** (self.dim / 2)
            total += weight * np.exp(-sq_dist / (2 * std**2)) / norm
        return total


class TwoMoons(ToyDistribution):
    """Two interleaved half circles (as scikit-learn's ``make_moons``) plus Gaussian noise.

    Each point picks a moon with probability 1/2 and an angle uniform in [0, π]: the upper
    moon is ``(cos t, sin t)``, the lower ``(1 - cos t, 0.5 - sin t)``.
    """

    name = "moons"
    dim = 2

    def __init__(self, noise: float = 0.05) -> None:
        self.noise = noise

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        t = rng.uniform(0.0, np.pi, n)
        lower = rng.random(n) < 0.5
        x = np.where(lower, 1.0 - np.cos(t), np.cos(t))
        y = np.where(lower, 0.5 - np.sin(t), np.sin(t))
        return np.stack([x, y], axis=1) + self.noise * rng.standard_normal((n, 2))


class Spiral(ToyDistribution):
    """One-armed Archimedean spiral plus Gaussian noise.

    With ``s = sqrt(u)``, ``u ~ U(0, 1)``, a point is ``radius * s * (cos θ, sin θ)`` at
    ``θ = 2π * turns * s``; the square root spreads points roughly evenly along the arm.
    """

    name = "spiral"
    dim = 2

    def __init__(self, turns: float = 1.5, radius: float = 2.0, noise: float = 0.05) -> None:
        self.turns, self.radius, self.noise = turns, radius, noise

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        s = np.sqrt(rng.random(n))
        theta = 2 * np.pi * self.turns * s
        arm = self.radius * s[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
        return arm + self.noise * rng.standard_normal((n, 2))


class UniformSquare(ToyDistribution):
    """Uniform distribution on ``[-1, 1]^2``: density 1/4 inside (edges included), 0 outside."""

    name = "uniform"
    dim = 2

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, (n, 2))

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        return np.where((np.abs(x) <= 1.0).all(axis=1), 0.25, 0.0)


def gaussian_mixture_1d(
    means: Sequence[float] = (-2.0, 0.0, 2.0),
    stds: float | Sequence[float] = 0.25,
    weights: Sequence[float] | None = (0.25, 0.5, 0.25),
) -> GaussianMixture:
    """1-D Gaussian mixture ``"gmm1d"``; ``centers`` has shape ``(k, 1)``."""
    return GaussianMixture(np.asarray(means, dtype=np.float64)[:, None], stds, weights, "gmm1d")


def ring8(radius: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """``"ring8"``: 8 equally weighted Gaussians at angles ``2πk/8`` on a circle."""
    angles = 2 * np.pi * np.arange(8) / 8
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return GaussianMixture(centers, std, name="ring8")


def grid25(spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """``"grid25"``: 25 equally weighted Gaussians on a 5x5 grid centred at the origin."""
    ticks = spacing * np.arange(-2, 3)
    centers = np.stack(np.meshgrid(ticks, ticks, indexing="ij"), axis=-1).reshape(-1, 2)
    return GaussianMixture(centers, std, name="grid25")


def two_moons(noise: float = 0.05) -> TwoMoons:
    """``"moons"``: see :class:`TwoMoons`."""
    return TwoMoons(noise)


def spiral(turns: float = 1.5, radius: float = 2.0, noise: float = 0.05) -> Spiral:
    """``"spiral"``: see :class:`Spiral`."""
    return Spiral(turns, radius, noise)


def uniform_square() -> UniformSquare:
    """``"uniform"``: see :class:`UniformSquare`."""
    return UniformSquare()


#: Registry name -> factory taking the distribution's keyword parameters.
TOY_DISTRIBUTIONS: dict[str, Callable[..., ToyDistribution]] = {
    "gmm1d": gaussian_mixture_1d,
    "ring8": ring8,
    "grid25": grid25,
    "moons": two_moons,
    "spiral": spiral,
    "uniform": uniform_square,
}


def get_toy(name: str, **kwargs) -> ToyDistribution:
    """Build the toy distribution called ``name``, passing ``kwargs`` to its factory.

    Raises
    ------
    ValueError
        If ``name`` is not in :data:`TOY_DISTRIBUTIONS`; the message lists the valid names.
    """
    if name not in TOY_DISTRIBUTIONS:
        raise ValueError(
            f"unknown toy distribution {name!r}; valid names: {', '.join(TOY_DISTRIBUTIONS)}"
        )
    return TOY_DISTRIBUTIONS[name](**kwargs)
