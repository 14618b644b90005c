"""One seeded source of randomness for the whole library.

Every random draw in minigan (weight initialisation, Dropout masks, noise, shuffling) either takes
an explicit ``np.random.Generator`` or falls back to the global one kept here, which
:func:`seed` resets.

>>> import minigan
>>> minigan.seed(123)
>>> a = minigan.random.get_rng().standard_normal(2)
>>> minigan.seed(123)
>>> bool((a == minigan.random.get_rng().standard_normal(2)).all())
True
"""

from __future__ import annotations

import numpy as np

_global_rng = np.random.default_rng(0)


def seed(value: int) -> None:
    """Reset the global generator to ``np.random.default_rng(value)``."""
    global _global_rng
    _global_rng = np.random.default_rng(value)


def get_rng(rng: np.random.Generator | None = None) -> np.random.Generator:
    """Return ``rng`` when given, else the global generator."""
    return _global_rng if rng is None else rng


def uniform(
    rng: np.random.Generator, bound: float, shape: tuple[int, ...], dtype=np.float32
) -> np.ndarray:
    """Draw ``U(-bound, bound)`` of ``shape`` and return it in ``dtype`` (drawn in float64)."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)
