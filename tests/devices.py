"""What the test machine has, for skips: a CuPy that sees a CUDA device."""

from __future__ import annotations

import importlib.util


def cupy_runs_here() -> bool:
    """Whether CuPy imports and sees a CUDA device."""
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver, a broken CUDA install
        return False
