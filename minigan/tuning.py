"""Process-wide tuning for training speed, applied only on request: the ``minigan`` commands and
the benchmarks call :func:`tune_process`; ``import minigan`` and ``minigan.use(...)`` change no
setting of the host process.

**Freed memory stays in the process** (:func:`keep_freed_memory`).

A training step allocates and frees the same few dozen arrays of 1-15 MB every iteration. With
glibc's default policy, blocks above the (dynamic) mmap threshold are mapped fresh and freed
blocks at the top of the heap are trimmed, so each new array is first touched page by page:
measured, a BatchNorm forward at batch 64 took 4.6 ms with fresh outputs against 1.5 ms with
reused ones (1536 page faults per call). :func:`keep_freed_memory` raises glibc's mmap
threshold to its maximum (32 MiB) and its trim threshold far above a step's working set, so
freed blocks are reused and resident memory stays at the step's high-water mark (flat over
iterations; see ``benchmarks/RESULTS.md``). It is process-wide and a no-op off glibc.

**Numba's own thread pool** (:func:`numba_workqueue`). Unless ``$NUMBA_THREADING_LAYER`` says
otherwise, the Numba kernels run on Numba's ``workqueue`` pool, whose idle threads sleep where
OpenMP's spin: a step interleaves Numba kernels with OpenBLAS GEMMs, and spinning workers of
either take cores from the other: on 2 cores, 0.40 s per DCGAN-28 iteration with OpenMP against 0.18 s
with ``workqueue`` in the same run (``benchmarks/RESULTS.md``). The choice only
holds before Numba starts its pool (its first parallel kernel or ``numba.set_num_threads``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 1 * 2**30


def keep_freed_memory() -> bool:
    """Tune glibc ``malloc`` as described above; returns whether it was applied."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def numba_workqueue() -> bool:
    """Run Numba's parallel kernels on its ``workqueue`` layer, unless
    ``$NUMBA_THREADING_LAYER`` chooses; returns whether the setting was made (False without
    Numba or when the variable is set)."""
    if "NUMBA_THREADING_LAYER" in os.environ or importlib.util.find_spec("numba") is None:
        return False
    import numba

    numba.config.THREADING_LAYER = "workqueue"
    return True


def tune_process(backend: str) -> list[str]:
    """The tuning that training on ``backend`` measured fastest with: freed memory kept (every
    backend), Numba's workqueue pool (``numba``). Returns what was applied, for the log."""
    applied = ["malloc keeps freed memory"] if keep_freed_memory() else []
    if backend == "numba" and numba_workqueue():
        applied.append("numba threading layer workqueue")
    return applied
