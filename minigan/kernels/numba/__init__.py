"""The ``numba`` kernel set: Numba CPU kernels (``@njit(parallel=True, cache=True)``, float32).

:data:`KERNELS` maps each reference function of :mod:`minigan.functional` this set accelerates
to its fast version (same signature, same cache type); :func:`minigan.backend.kernel` reads it
when the ``numba`` backend is selected. One module per reference module: :mod:`.conv` (the
convolution lowering, registered through :func:`minigan.functional.conv.lowered_ops`),
:mod:`.activations`, :mod:`.batchnorm`, :mod:`.adam`; :mod:`.launch` compiles each of their
loops for Numba's thread pool and for the calling thread, and picks one by the array's size.

Ops left out run the reference, on purpose: Linear (one BLAS GEMM and a bias add, nothing else
worth a kernel), Tanh (NumPy's SIMD ``tanh`` is faster), the losses (a few logits), and
Sigmoid, Dropout and the public im2col/col2im helpers (not on DCGAN-28's path). Importing this
package changes no process-wide setting (threading layer, allocator): :mod:`minigan.tuning`
does that, on request.

>>> from minigan import functional as F
>>> from minigan.kernels.numba import KERNELS, activations
>>> KERNELS[F.relu_forward] is activations.relu_forward
True
"""

from __future__ import annotations

from collections.abc import Callable

from minigan import functional as F
from minigan.functional.conv import lowered_ops
from minigan.kernels.numba import activations, adam, batchnorm, conv

KERNELS: dict[Callable, Callable] = {
    F.relu_forward: activations.relu_forward,
    F.relu_backward: activations.relu_backward,
    F.leaky_relu_forward: activations.leaky_relu_forward,
    F.leaky_relu_backward: activations.leaky_relu_backward,
    F.batchnorm_forward: batchnorm.batchnorm_forward,
    F.batchnorm_backward: batchnorm.batchnorm_backward,
    F.adam_update: adam.adam_update,
}
KERNELS.update(lowered_ops(conv.LOWERING))
