"""Fast kernels, one module per hot kernel family, each beside a pointer to its NumPy reference.

- :mod:`.conv`: the parts of the Conv2d and ConvTranspose2d lowering where Numba beats NumPy
  (col2im, and GEMM rows to NCHW, each with the bias fused) around the reference's own BLAS
  GEMMs; reference :mod:`minigan.functional.conv`.
- :mod:`.elementwise`: ReLU and LeakyReLU forward and backward, one pass each; reference
  :mod:`minigan.functional.activations`.
- :mod:`.batchnorm`: BatchNorm forward and backward, one task per channel ((N, C) inputs run
  the reference); reference :mod:`minigan.functional.batchnorm`.
- :mod:`.adam`: the Adam update in one pass; reference :func:`minigan.optim.adam_update`.
- :mod:`.memory`: glibc ``malloc`` tuning, so that a step's arrays reuse freed memory.

Each module holds the Numba CPU version (``@njit(parallel=True, cache=True)``, float32); the
``numba.cuda`` versions are in the ``cuda_*.py`` modules, registered by :mod:`.cuda` for the
``cupy`` backend. Nothing here is imported by ``import
minigan``: selecting the ``numba`` backend imports :mod:`minigan.kernels.numba_cpu`, which
registers every op it accelerates with :func:`minigan.backend.register`. The fast ops keep the
reference's signatures and cache types, so fast and reference caches are interchangeable.
"""
