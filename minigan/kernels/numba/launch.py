"""Where a Numba kernel runs: on Numba's thread pool, or on the calling thread when the array is
small.

Starting a parallel kernel on Numba's ``workqueue`` pool (:mod:`minigan.tuning`) wakes its
threads and waits for them, 0.07-0.1 ms on a 2-core virtual machine (``docs/performance.md``):
more than the whole update of a bias or a BatchNorm scale, and more than one thread takes for
an activation of DCGAN-28's size. So each elementwise kernel is compiled twice from one loop,
parallel and serial (``prange`` is ``range`` there: the same operations in the same order, so the
results are identical), and :func:`pick` takes the serial one for arrays under
:data:`SERIAL_BELOW` values.

>>> from minigan.kernels.numba import activations
>>> pick(activations._forward, 100) is activations._forward[1]  # serial under SERIAL_BELOW
True
"""

from __future__ import annotations

import types
from collections.abc import Callable

from numba import njit

#: Arrays with fewer values than this run the serial compilation of a kernel (Adam's update).
SERIAL_BELOW = 2**15
#: The same for loops that only stream memory (the activations): one thread already goes at
#: the memory's pace, so they run serially up to far larger arrays.
STREAMING_SERIAL_BELOW = 2**22


def twins(loop: Callable) -> tuple[Callable, Callable]:
    """``(parallel, serial)``: ``loop`` (a ``prange`` loop) compiled for the pool and for the
    calling thread, both cached on disk.

    The serial one compiles a copy of ``loop`` named ``<name>_serial``: Numba's disk cache keys
    a function by its module, name and line, not by ``parallel``, so under one name each twin
    would load whichever was compiled first.
    """
    serial = types.FunctionType(
        loop.__code__, loop.__globals__, f"{loop.__name__}_serial", loop.__defaults__
    )
    serial.__qualname__ = f"{loop.__qualname__}_serial"
    return njit(parallel=True, cache=True)(loop), njit(cache=True)(serial)


def pick(kernels: tuple[Callable, Callable], size: int, streaming: bool = False) -> Callable:
    """The serial kernel of :func:`twins` for ``size`` under :data:`SERIAL_BELOW` (under
    :data:`STREAMING_SERIAL_BELOW` for a ``streaming`` loop), else the parallel one."""
    return (
        kernels[1] if size < (STREAMING_SERIAL_BELOW if streaming else SERIAL_BELOW) else kernels[0]
    )
