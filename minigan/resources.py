"""How much memory a request would take, measured against what the machine has, so that a size
that cannot fit is refused with a sentence instead of a ``MemoryError`` traceback (or the
kernel's out-of-memory killer).

:func:`available_memory` reads ``MemAvailable`` from ``/proc/meminfo`` (memory that can be
handed out without swapping), falling back to the physical memory where there is no
``/proc``; :func:`check_memory` compares an estimate with it; :func:`format_bytes` writes sizes
as people read them.

>>> format_bytes(3 * 2**30), format_bytes(1536)
('3.0 GiB', '1.5 KiB')
>>> check_memory(1024, "a tiny array")  # fits: returns the estimate
1024
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

__all__ = ["available_memory", "check_memory", "format_bytes", "samples_bytes"]


def available_memory() -> int:
    """Bytes of memory available to a new allocation without swapping (``MemAvailable``), or
    the physical memory where that cannot be read; a very large number where neither can."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return 1 << 62


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps the number at least 1: ``3.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory(nbytes: float, what: str, available: int | None = None) -> float:
    """Return ``nbytes`` if it fits in the memory available (``available``, default
    :func:`available_memory`); else a ``ValueError`` saying that ``what`` needs about that much
    and how much there is."""
    available = available_memory() if available is None else available
    if nbytes > available:
        raise ValueError(
            f"{what} needs about {format_bytes(nbytes)} of memory, more than the "
            f"{format_bytes(available)} available"
        )
    return nbytes


def samples_bytes(
    n: int, z_dim: int, image_shape: Sequence[int], itemsize: int = 4, grid: bool = False
) -> int:
    """About the memory that drawing ``n`` samples of ``image_shape`` (C, H, W) takes with
    :func:`minigan.sampling.generate` (which runs the generator in chunks, so its activations do
    not grow with ``n``): the noise, the images in floating point (twice: the chunks and their
    concatenation) and as uint8 pixels; with ``grid``, a PNG grid at scale 2 in RGB as well.

    >>> format_bytes(samples_bytes(10**6, 100, (1, 28, 28), grid=True))
    '15.7 GiB'
    """
    pixels = math.prod(image_shape)
    per_sample = z_dim * itemsize + pixels * (2 * itemsize + 1) + (12 * pixels if grid else 0)
    return n * per_sample
