"""What the ``numba.cuda`` kernels of this package share: launch geometry, the block-wide sum,
and the hand-over of CuPy arrays and streams to Numba.

Two thread mappings are used:

- **grid-stride** (elementwise kernels): thread ``k = blockIdx.x * blockDim.x + threadIdx.x``
  handles elements ``k, k + G, k + 2G, ...`` with ``G`` the number of threads in the grid, so a
  grid capped at :data:`MAX_BLOCKS` blocks covers an array of any size;
- **one block per channel** (reductions): block ``c`` reduces channel ``c``; its threads stride
  over the channel's values, accumulate in float64 and combine their partial sums with
  :func:`block_sum`, a shared-memory tree (no atomics, so results are deterministic).

Block sizes shrink for small arrays (never below a warp): a 64-value channel gets 64 threads,
not 256, and the simulator, which runs every thread as a Python thread, stays fast.

The wrappers beside each kernel take and return CuPy arrays. They launch on **CuPy's current
stream** (:func:`current_stream`, so ``stream.begin_capture()`` records the kernels into a CUDA
graph), allocate from CuPy's memory pool, and never synchronise with the host. CuPy arrays
reach Numba through :func:`numba_view`, ``cuda.as_cuda_array(a, sync=False)``: Numba would
otherwise synchronise CuPy's stream on every argument, needless since both use the same stream.

CuPy is optional here: without it (CI runs the kernels under ``NUMBA_ENABLE_CUDASIM=1`` with no
CuPy) :data:`cupy` is None, the kernels, their launch helpers and the ``KERNELS`` table still
import, and only the wrappers, which are called with CuPy arrays, need it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

try:
    import cupy
except ImportError:  # the kernels run without CuPy; only the wrappers need it
    cupy = None

THREADS = 256
"""Largest block; a power of two, as :func:`block_sum`'s halving tree needs."""
MAX_BLOCKS = 65536
"""Grid cap of the grid-stride kernels (a grid-stride loop covers the rest)."""
WARP = 32


def elementwise_config(n: int) -> tuple[int, int]:
    """``(blocks, threads)`` for a grid-stride kernel over ``n`` elements."""
    threads = min(THREADS, max(WARP, -(-n // WARP) * WARP))
    return max(1, min(MAX_BLOCKS, -(-n // threads))), threads


def reduction_threads(m: int) -> int:
    """Threads of a block that reduces ``m`` values: the power of two ``>= m`` in [32, 256]."""
    threads = WARP
    while threads < min(m, THREADS):
        threads *= 2
    return threads


@cuda.jit(device=True)
def block_sum(partial, shared):  # type: ignore[no-untyped-def]
    """Sum ``partial`` over the threads of the block; every thread gets the total.

    ``shared`` is the calling kernel's ``cuda.shared.array(THREADS, float64)``; the block
    size must be a power of two. Level ``k`` of the tree has thread ``t < blockDim/2**k`` add
    ``shared[t + blockDim/2**k]`` into ``shared[t]``. The last barrier lets the caller reuse
    ``shared`` at once.
    """
    t = cuda.threadIdx.x
    shared[t] = partial
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if t < step:
            shared[t] += shared[t + step]
        cuda.syncthreads()
        step //= 2
    total = shared[0]
    cuda.syncthreads()
    return total


_absent: dict[tuple[str, int], object] = {}


def absent(dtype: np.dtype | type, ndim: int = 1) -> object:
    """A cached empty device array standing for an optional argument (``b=None``): kernels
    test ``arr.size`` to see whether it was given. Allocated once per (dtype, ndim).
    """
    key = (np.dtype(dtype).str, ndim)
    if key not in _absent:
        _absent[key] = cuda.device_array((0,) * ndim, dtype=dtype)
    return _absent[key]


_streams: dict[int, Any] = {}


def current_stream() -> Any:
    """Numba's handle on CuPy's current stream (0, the legacy default stream, stays 0)."""
    ptr = cupy.cuda.get_current_stream().ptr
    if ptr == 0:
        return 0
    if ptr not in _streams:
        _streams[ptr] = cuda.external_stream(ptr)
    return _streams[ptr]


def numba_view(a: Any) -> Any:
    """A Numba view of a CuPy array (any strides), without a stream synchronisation; None
    stays None."""
    return None if a is None else cuda.as_cuda_array(a, sync=False)
