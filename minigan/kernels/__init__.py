"""Fast kernel sets for the references of :mod:`minigan.functional`, one package per device.

- :mod:`minigan.kernels.numba`: Numba CPU kernels (``@njit(parallel=True, cache=True)``), the
  ``numba`` backend's set, run on NumPy arrays;
- :mod:`minigan.kernels.cuda`: ``numba.cuda`` kernels with CuPy wrappers, run on CuPy arrays
  (GEMMs in cuBLAS).

Both mirror :mod:`minigan.functional` file for file (``conv.py``, ``activations.py``,
``batchnorm.py``, ``adam.py``, ...), so reading one op means opening three files of the same
name. Each kernel module points at its reference's derivation and says only where and why it
differs (layout, fusion, accumulation precision); what the kernels measured is in
``docs/performance.md``.

**Registration.** A set is a package exposing ``KERNELS: dict[Callable, Callable]``, from a
reference function (``F.relu_forward``, ``F.adam_update``, ...) to a fast function with the
same signature and the same cache type, so fast and reference caches are interchangeable.
The convolutions register through :func:`minigan.functional.conv.lowered_ops`: the reference's
four ops bound to the set's ``LOWERING``. :func:`minigan.backend.table` imports a set on first
use and :func:`minigan.backend.kernel` reads it; an op missing from a table runs the reference.
Nothing here is imported by ``import minigan``, no module here imports :mod:`minigan.backend`,
and importing a set changes no process-wide setting.
"""
