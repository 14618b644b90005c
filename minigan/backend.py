"""Which kernel runs an op: one place, so that layers never branch on the backend.

A layer names the reference function of its math and passes an array of the call;
:func:`kernel` answers with the implementation to run::

    y, cache = backend.kernel(F.conv2d_forward, x)(x, W, b, stride, padding)

so go-to-definition from the layer lands on the derivation in :mod:`minigan.functional`.

- **The array decides the device.** A CuPy array runs the ``numba.cuda`` kernels of
  :mod:`minigan.kernels.cuda` (CuPy's ``get_array_module`` idea); a NumPy array runs on the host.
- **The backend switch picks the host kernels**: ``numpy`` (the references themselves) or
  ``numba`` (:mod:`minigan.kernels.numba`), by :func:`use`, :func:`using` (a context manager)
  or ``$MINIGAN_BACKEND``. ``cupy`` is accepted too: the host kernels stay the references, and
  :class:`minigan.train.Trainer` places its models on the GPU.

A kernel set is a table ``KERNELS`` from reference function to fast function; an op missing from
it runs the reference (on purpose, where the reference measured as fast). Kernel packages are
imported on first use only, so ``import minigan`` needs NumPy alone. Choosing a backend changes
no process-wide setting (threads, allocator): :mod:`minigan.tuning` does that, on request.

>>> import numpy as np
>>> import minigan.backend as backend
>>> from minigan import functional as F
>>> backend.current()
'numpy'
>>> backend.kernel(F.linear_forward, np.zeros(2)) is F.linear_forward
True
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

# backend -> (packages it needs, the extra that installs them, package holding its KERNELS)
BACKENDS: dict[str, tuple[tuple[str, ...], str, str | None]] = {
    "numpy": ((), "", None),
    "numba": (("numba",), "numba", "minigan.kernels.numba"),
    "cupy": (("cupy", "numba"), "cuda", "minigan.kernels.cuda"),
}
#: The backend whose kernels run on CuPy arrays, whatever the host backend.
DEVICE_BACKEND = "cupy"

_tables: dict[str, dict[Callable, Callable]] = {}
_active: str | None = None
_explicit = False  # _active came from use()/using(), not from current()'s default


class BackendUnavailableError(ImportError):
    """A backend was asked for whose packages are not installed."""


def _missing(name: str) -> list[str]:
    return [p for p in BACKENDS[name][0] if importlib.util.find_spec(p) is None]


def _check(name: str) -> None:
    """A clear error for an unknown backend or one whose packages are missing."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}")
    missing = _missing(name)
    if missing:
        raise BackendUnavailableError(
            f"backend {name!r} needs {', '.join(missing)}, which is not installed: "
            f"pip install 'minigan[{BACKENDS[name][1]}]'"
        )


def table(name: str) -> dict[Callable, Callable]:
    """Backend ``name``'s kernels by reference function (imports its package the first time)."""
    if name not in _tables:
        _check(name)
        module = BACKENDS[name][2]
        _tables[name] = {} if module is None else importlib.import_module(module).KERNELS
    return _tables[name]


def use(name: str) -> None:
    """Select the host backend from now on (``numpy``, ``numba``, or ``cupy``: see above).

    Raises ``ValueError`` for an unknown name and :class:`BackendUnavailableError`, naming the
    extra to install, when the backend's packages are missing.
    """
    global _active, _explicit
    _check(name)
    if name != DEVICE_BACKEND:
        table(name)  # import the kernels now: a broken install fails here, not mid-step
    _active, _explicit = name, True


def current() -> str:
    """The selected backend's name (``$MINIGAN_BACKEND`` on first use, else ``numpy``)."""
    global _explicit
    if _active is None:
        use(os.environ.get("MINIGAN_BACKEND", "numpy") or "numpy")
        _explicit = False
    return _active  # type: ignore[return-value]


def chosen() -> str | None:
    """The backend the program chose, by :func:`use`/:func:`using` or ``$MINIGAN_BACKEND``
    (checked by :func:`use` later, not here); None when it chose none."""
    if _active is not None and _explicit:
        return _active
    return os.environ.get("MINIGAN_BACKEND") or None


def fastest_cpu() -> str:
    """The fastest host backend that imports and works here: ``numba`` if its kernels import,
    else ``numpy``. Never ``cupy`` (a GPU is chosen on purpose, not implicitly).

    What the commands that train (``minigan train``, ``minigan toy``) run when neither
    ``--backend`` nor the program chose one: numba's iteration measured faster than numpy's
    (``benchmarks/bench_step.py``). A numba that fails to import is no error, just numpy.

    >>> fastest_cpu() in ("numba", "numpy")
    True
    """
    if _missing("numba"):
        return "numpy"
    try:
        table("numba")
    except Exception:  # a broken install (e.g. a NumPy newer than Numba supports): the reference
        return "numpy"
    return "numba"


def available() -> list[str]:
    """Backends whose packages are installed."""
    return [name for name in BACKENDS if not _missing(name)]


@contextlib.contextmanager
def using(name: str) -> Iterator[None]:
    """Run a block with backend ``name``, restoring the previous one afterwards."""
    global _explicit
    previous, explicit = current(), _explicit
    use(name)
    try:
        yield
    finally:
        use(previous)
        _explicit = explicit


def kernel(reference: Callable, like: Any = None) -> Callable:
    """The implementation of ``reference`` to run on arrays like ``like``.

    A CuPy ``like`` gets the CUDA kernel; anything else the selected host backend's kernel;
    either falls back to ``reference`` itself when its backend has no kernel for it.
    """
    if device_of(like) == DEVICE_BACKEND:
        return table(DEVICE_BACKEND).get(reference, reference)
    host = current()
    return reference if host == DEVICE_BACKEND else table(host).get(reference, reference)


def device_of(a: Any) -> str | None:
    """``"numpy"`` for a NumPy array, ``"cupy"`` for a CuPy array, else None (cupy not imported)."""
    if isinstance(a, np.ndarray):
        return "numpy"
    return "cupy" if type(a).__module__.split(".")[0] == "cupy" else None


def to_numpy(a: Any) -> Any:
    """A CuPy array copied to the host; anything else unchanged."""
    return a.get() if device_of(a) == "cupy" else a


def to_device(a: Any, device: str) -> Any:
    """``a`` as an array of ``device`` (``"numpy"`` or ``"cupy"``); no copy when it already is.
    Moving to ``"cupy"`` needs the backend's packages (:class:`BackendUnavailableError` if not).
    """
    if device == "numpy":
        return to_numpy(a)
    if device != "cupy":
        raise ValueError(f"unknown device {device!r}; choose 'numpy' or 'cupy'")
    if importlib.util.find_spec("cupy") is None:
        raise BackendUnavailableError(
            f"moving to the GPU needs cupy: pip install 'minigan[{BACKENDS['cupy'][1]}]'"
        )
    return importlib.import_module("cupy").asarray(a)
