"""The ``numba`` backend: importing this module registers every Numba CPU kernel.

Imported by :func:`minigan.backend.use` when the ``numba`` backend is selected; ops not
registered here run the NumPy reference, on purpose where measured: Linear (one BLAS GEMM and a
bias add, nothing else worth a kernel), Tanh (NumPy's SIMD ``tanh`` beats a Numba loop), and
BatchNorm on (N, C) inputs (inside :mod:`.batchnorm`); Sigmoid, Dropout and the public
im2col/col2im helpers are not on DCGAN-28's path. Importing it also applies
:func:`minigan.kernels.memory.keep_freed_memory` (process-wide, glibc only).

Threading layer: unless ``$NUMBA_THREADING_LAYER`` says otherwise, Numba's own ``workqueue``
pool runs the kernels. Its idle threads sleep, where OpenMP's spin: measured on 2 cores, a
step interleaves ~40 Numba kernels with ~30 OpenBLAS GEMMs, and spinning OpenMP workers took
cores from the next GEMM (and OpenBLAS's from the next kernel): 0.40 s per DCGAN-28 iteration
with ``omp`` against 0.18 s with ``workqueue`` in the same run (``benchmarks/RESULTS.md``).
The choice only holds if this module is imported before Numba starts its thread pool (the first
parallel kernel or ``numba.set_num_threads``): select the backend first.
"""

from __future__ import annotations

import os

import numba

from minigan import backend
from minigan.kernels import adam, batchnorm, conv, elementwise, memory

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

OPS = {
    "conv2d_forward": conv.conv2d_forward,
    "conv2d_backward": conv.conv2d_backward,
    "conv_transpose2d_forward": conv.conv_transpose2d_forward,
    "conv_transpose2d_backward": conv.conv_transpose2d_backward,
    "relu_forward": elementwise.relu_forward,
    "relu_backward": elementwise.relu_backward,
    "leaky_relu_forward": elementwise.leaky_relu_forward,
    "leaky_relu_backward": elementwise.leaky_relu_backward,
    "batchnorm_forward": batchnorm.batchnorm_forward,
    "batchnorm_backward": batchnorm.batchnorm_backward,
    "adam_update": adam.adam_update,
}

for _op, _fn in OPS.items():
    backend.register("numba", _op, _fn)
memory.keep_freed_memory()
