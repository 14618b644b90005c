"""Input checks shared by the layers: clear ``TypeError``/``ValueError`` messages naming the
module, raised before any math runs (re-exported by :mod:`minigan.nn.module`).

>>> import numpy as np
>>> from minigan import nn
>>> check_input(nn.Linear(3, 2), np.ones((4, 2), np.float32), (2,), 3, "(N, 3)")
Traceback (most recent call last):
...
ValueError: Linear(3, 2, bias=True): expected input of shape (N, 3) with 3 at axis 1, got shape (4, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigan import backend


def check_input(
    module: Any, x: Any, ndims: tuple[int, ...], channels: int | None, what: str
) -> None:
    """Raise a clear ``TypeError``/``ValueError`` naming ``module`` when ``x`` does not fit.

    ``ndims`` are the accepted numbers of dimensions, ``channels`` the required size of axis 1
    (None for any), ``what`` the expected shape in words, e.g. ``"(N, 3, H, W)"``. A floating
    input must have the dtype of the module's parameters, so float32 never turns float64 silently.
    An empty batch (N = 0) is refused.
    """
    device = backend.device_of(x)
    if device is None:
        raise TypeError(f"{module!r}: expected a NumPy array {what}, got {type(x).__name__}")
    params = module.parameters()
    if params and backend.device_of(params[0].data) != device:
        where = backend.device_of(params[0].data)
        raise TypeError(
            f"{module!r}: got a {device} array but the module's parameters are {where} arrays; "
            f"move one of them (module.to({device!r}) or minigan.backend.to_device)"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{module!r}: expected a floating-point array, got dtype {x.dtype}")
    if module.dtype is not None and x.dtype != module.dtype:
        raise TypeError(
            f"{module!r}: expected {module.dtype} input (the dtype of its parameters), "
            f"got {x.dtype}; cast the input or call .to({x.dtype}) on the module"
        )
    if x.ndim not in ndims:
        raise ValueError(f"{module!r}: expected input of shape {what}, got shape {x.shape}")
    if x.shape[0] == 0:  # one behaviour for every layer: PyTorch's BatchNorm refuses it too
        raise ValueError(
            f"{module!r}: expected a batch of at least one sample, got shape {x.shape}"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{module!r}: expected input of shape {what} with {channels} at axis 1, "
            f"got shape {x.shape}"
        )


def check_dy(module: Any, dy: Any, dtype: Any = None) -> None:
    """Raise a clear ``TypeError`` naming ``module`` when the upstream gradient ``dy`` is not an
    array of the module's parameter dtype (or of ``dtype``, for a layer without parameters: the
    dtype of its last input): a float64 ``dy`` into a float32 layer would otherwise come back
    as a float64 ``dx``."""
    if backend.device_of(dy) is None:
        raise TypeError(f"{module!r}: expected an array dy, got {type(dy).__name__}")
    expected, of = (module.dtype, "its parameters") if dtype is None else (dtype, "its input")
    if expected is not None and dy.dtype != expected:
        raise TypeError(
            f"{module!r}: expected a {expected} dy (the dtype of {of}), got {dy.dtype}; "
            "float32 stays float32 end to end"
        )
