"""The images the metrics accept, checked once: ``uint8`` in [0, 255] or floating point in
[-1, 1] (a ``tanh`` generator's range), shaped (N, 28, 28) or (N, 1, 28, 28).

>>> import numpy as np
>>> as_images(np.full((2, 28, 28), 255, np.uint8)).max(), as_images(np.zeros((2, 1, 28, 28))).dtype
(np.float32(1.0), dtype('float32'))
>>> as_images(np.zeros((2, 3, 28, 28)))
Traceback (most recent call last):
...
ValueError: images: the classifier is for 28x28 grayscale Fashion-MNIST images, shaped (N, 28, 28) or (N, 1, 28, 28); got shape (2, 3, 28, 28) (3 channels)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigan.backend import to_numpy
from minigan.data.loader import to_unit_range

SIZE = 28


def as_images(images: Any, what: str = "images") -> np.ndarray:
    """Check ``images`` and return them as float32 (N, 1, 28, 28) in [-1, 1].

    Raises ``TypeError`` for something that is not an array of ``uint8`` or floating point, and
    ``ValueError`` (its message starting with ``what``) for a wrong shape or channel count, no
    images, a NaN or infinity, or values outside [-1, 1].
    """
    images = to_numpy(images)
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{what}: expected a NumPy array, got {type(images).__name__}")
    shape = images.shape
    grayscale = (images.ndim == 3 and shape[1:] == (SIZE, SIZE)) or (
        images.ndim == 4 and shape[1:] == (1, SIZE, SIZE)
    )
    if not grayscale:
        channels = f" ({shape[1]} channels)" if images.ndim == 4 and shape[2:] == (28, 28) else ""
        raise ValueError(
            f"{what}: the classifier is for 28x28 grayscale Fashion-MNIST images, shaped "
            f"(N, 28, 28) or (N, 1, 28, 28); got shape {shape}{channels}"
        )
    if shape[0] == 0:
        raise ValueError(f"{what}: got no images (shape {shape})")
    images = images.reshape(shape[0], 1, SIZE, SIZE)
    if images.dtype == np.uint8:
        return to_unit_range(images)
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(
            f"{what}: expected uint8 pixels in [0, 255] or floating point in [-1, 1], got dtype "
            f"{images.dtype} (convert with .astype(np.uint8) or scale to [-1, 1])"
        )
    bad = ~np.isfinite(images)
    if bad.any():
        kind = "NaN" if np.isnan(images).any() else "infinite values"
        raise ValueError(f"{what}: {int(bad.sum())} entries are not finite ({kind})")
    low, high = float(images.min()), float(images.max())
    if low < -1 or high > 1:
        raise ValueError(
            f"{what}: floating-point images must lie in [-1, 1] (uint8 images in [0, 255]); "
            f"got values in [{low:g}, {high:g}]"
        )
    return images.astype(np.float32, copy=False)
