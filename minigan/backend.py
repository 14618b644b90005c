"""Which kernels run: one place, so that layers never branch on the backend.

Layers ask :func:`kernel` for an op by name (``"conv2d_forward"``, ``"adam_update"``, ...). The
``numpy`` backend answers with the reference implementations in :mod:`minigan.functional` (and
the optimizers); another backend overrides the ops it has fast kernels for and falls back to the
reference for the rest. Backends are chosen by :func:`use`, :func:`using` (a context manager), or
``$MINIGAN_BACKEND``; their packages are imported only then, so ``import minigan`` needs NumPy
alone.

>>> import minigan.backend as backend
>>> backend.current()
'numpy'
>>> backend.kernel("linear_forward").__module__
'minigan.functional.dense'
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

# backend -> (packages it needs, the extra that installs them, module that registers its kernels)
BACKENDS: dict[str, tuple[tuple[str, ...], str, str | None]] = {
    "numpy": ((), "", None),
    "numba": (("numba",), "numba", "minigan.kernels.numba_cpu"),
    "cupy": (("cupy", "numba"), "cuda", "minigan.kernels.cuda"),
}

_kernels: dict[str, dict[str, Callable]] = {name: {} for name in BACKENDS}
_reference: dict[str, Callable] = {}
_active: str | None = None


class BackendUnavailableError(ImportError):
    """A backend was asked for whose packages are not installed."""


def register(backend: str, op: str, fn: Callable) -> None:
    """Make ``fn`` the implementation of ``op`` on ``backend`` (called by kernel modules)."""
    _kernels[backend][op] = fn


def _load_reference() -> None:
    from minigan import functional, losses, optim

    for name in functional.__all__:
        _reference[name] = getattr(functional, name)
    _reference["adam_update"] = optim.adam_update
    _reference["bce_with_logits"] = losses.bce_with_logits


def use(name: str) -> None:
    """Select the backend for every layer from now on.

    Raises ``ValueError`` for an unknown name and :class:`BackendUnavailableError`, naming the
    extra to install, when the backend's packages are missing.
    """
    global _active
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}")
    packages, extra, module = BACKENDS[name]
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise BackendUnavailableError(
            f"backend {name!r} needs {', '.join(missing)}, which is not installed: "
            f"pip install 'minigan[{extra}]'"
        )
    if module is not None:
        importlib.import_module(module)
    _active = name


def current() -> str:
    """The active backend's name (``$MINIGAN_BACKEND`` on first use, else ``numpy``)."""
    if _active is None:
        use(os.environ.get("MINIGAN_BACKEND", "numpy") or "numpy")
    return _active  # type: ignore[return-value]


def available() -> list[str]:
    """Backends whose packages are installed."""
    return [
        name
        for name, (packages, _, _) in BACKENDS.items()
        if all(importlib.util.find_spec(p) is not None for p in packages)
    ]


@contextlib.contextmanager
def using(name: str) -> Iterator[None]:
    """Run a block with backend ``name``, restoring the previous one afterwards."""
    previous = current()
    use(name)
    try:
        yield
    finally:
        use(previous)


def kernel(op: str) -> Callable:
    """The active backend's implementation of ``op``, else the NumPy reference."""
    if not _reference:
        _load_reference()
    fast = _kernels[current()].get(op)
    if fast is not None:
        return fast
    try:
        return _reference[op]
    except KeyError:
        raise KeyError(f"no op named {op!r}; known ops: {sorted(_reference)}") from None


def device_of(a: Any) -> str | None:
    """``"numpy"`` for a NumPy array, ``"cupy"`` for a CuPy array, else None (cupy not imported)."""
    import numpy as np

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
    extra = BACKENDS["cupy"][1]
    if importlib.util.find_spec("cupy") is None:
        raise BackendUnavailableError(
            f"moving to the GPU needs cupy: pip install 'minigan[{extra}]'"
        )
    return importlib.import_module("cupy").asarray(a)
