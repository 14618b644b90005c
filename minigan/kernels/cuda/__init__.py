"""The ``cupy`` kernel set: every op on CuPy arrays, GEMMs in cuBLAS, the rest in ``numba.cuda``.

:data:`KERNELS` maps reference functions of :mod:`minigan.functional` to versions that take and
return CuPy arrays, with the reference's signature and cache type; :func:`minigan.backend.kernel`
reads it for CuPy arrays. One module per reference module, each kernel beside its wrapper:
:mod:`.activations`, :mod:`.dense`, :mod:`.conv` (the lowering the four convolution ops run
with, registered through :func:`minigan.functional.conv.lowered_ops`), :mod:`.batchnorm`,
:mod:`.adam`, :mod:`.losses`; :mod:`.common` holds the launch geometry, the block sum and the
hand-over of CuPy arrays and streams to Numba.

Ops left out run the reference: the shape arithmetic (``conv_output_size``, ...), the Dropout
products and ``adam_step_factors`` work on any array module (Dropout draws its mask on the
host, from its seeded generator, and moves it to the array's device); the losses other than
``bce_with_logits`` are not on a GAN step's path.

This package imports without CuPy (CI runs the kernels under ``NUMBA_ENABLE_CUDASIM=1`` with no
CuPy): only the wrappers need it, and they are called with CuPy arrays.
"""

from __future__ import annotations

from collections.abc import Callable

from minigan import functional as F
from minigan.functional.conv import lowered_ops
from minigan.kernels.cuda import activations, adam, batchnorm, conv, dense, losses

KERNELS: dict[Callable, Callable] = {
    F.relu_forward: activations.relu_forward,
    F.relu_backward: activations.relu_backward,
    F.leaky_relu_forward: activations.leaky_relu_forward,
    F.leaky_relu_backward: activations.leaky_relu_backward,
    F.tanh_forward: activations.tanh_forward,
    F.tanh_backward: activations.tanh_backward,
    F.sigmoid: activations.sigmoid,
    F.sigmoid_forward: activations.sigmoid_forward,
    F.sigmoid_backward: activations.sigmoid_backward,
    F.linear_forward: dense.linear_forward,
    F.linear_backward: dense.linear_backward,
    F.im2col: conv.im2col,
    F.col2im: conv.col2im,
    F.batchnorm_forward: batchnorm.batchnorm_forward,
    F.batchnorm_backward: batchnorm.batchnorm_backward,
    F.bce_with_logits: losses.bce_with_logits,
    F.adam_update: adam.adam_update,
}
KERNELS.update(lowered_ops(conv.LOWERING))
