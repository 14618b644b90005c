"""``Embedding``: a table of learned vectors looked up by integer index (class labels).

PyTorch's layout and initialisation: ``weight`` (num_embeddings, embedding_dim), every entry
drawn from ``N(0, 1)``. The math is :mod:`minigan.functional.embedding`. The indices are data:
``backward(dy)`` adds into ``weight.grad`` and returns None.

>>> import numpy as np
>>> from minigan import nn
>>> emb = nn.Embedding(10, 4, rng=np.random.default_rng(0))
>>> y = emb(np.array([3, 3, 7]))
>>> y.shape, y.dtype, bool((y[0] == emb.weight.data[3]).all())
((3, 4), dtype('float32'), True)
>>> emb.backward(np.ones_like(y)) is None, emb.weight.grad[3]
(True, array([2., 2., 2., 2.], dtype=float32))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigan import backend
from minigan import functional as F
from minigan.nn.module import Module, Parameter
from minigan.random import get_rng


def check_indices(
    module: Module, idx: Any, num: int, what: str = "indices", of: str = "rows"
) -> None:
    """Raise a clear ``TypeError``/``ValueError`` naming ``module`` unless ``idx`` is an integer
    array (NumPy, or CuPy for a module on the GPU) with every value in ``[0, num - 1]`` (``num``
    ``of``, e.g. 10 rows of a table, 10 classes)."""
    device = backend.device_of(idx)
    if device is None:
        raise TypeError(
            f"{module!r}: expected an integer array of {what}, got {type(idx).__name__}"
        )
    params = module.parameters()
    if params and backend.device_of(params[0].data) != device:
        where = backend.device_of(params[0].data)
        raise TypeError(
            f"{module!r}: got {what} as a {device} array but the module's parameters are "
            f"{where} arrays; move one of them (minigan.backend.to_device)"
        )
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(
            f"{module!r}: {what} must be integers in [0, {num - 1}], got dtype {idx.dtype}"
        )
    if idx.size:
        low, high = int(idx.min()), int(idx.max())
        if low < 0 or high >= num:
            raise ValueError(
                f"{module!r}: {what} must be in [0, {num - 1}] ({num} {of}), got values "
                f"from {low} to {high}"
            )


class Embedding(Module):
    """``y = weight[idx]``: ``idx`` integers of any shape ``(...)`` -> ``(..., embedding_dim)``.

    ``dtype`` is the weight's (and output's) floating dtype; ``rng`` draws the ``N(0, 1)``
    initial weights.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"Embedding: {name} must be an integer >= 1, got {value!r}")
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise TypeError(f"Embedding: dtype must be a floating dtype, got {np.dtype(dtype)}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        draw = get_rng(rng).standard_normal((self.num_embeddings, self.embedding_dim))
        self.weight = Parameter(draw.astype(dtype))

    def forward(self, idx: np.ndarray) -> np.ndarray:
        check_indices(self, idx, self.num_embeddings)
        y, self._cache = backend.kernel(F.embedding_forward, idx)(idx, self.weight.data)
        return y

    def backward(self, dy: np.ndarray) -> None:
        """Add ``dW`` into ``weight.grad``; the indices get no gradient (returns None)."""
        idx = self._saved().idx
        expected = (*idx.shape, self.embedding_dim)
        if getattr(dy, "shape", None) != expected or dy.dtype != self.weight.data.dtype:
            got = f"{dy.shape} {dy.dtype}" if hasattr(dy, "dtype") else type(dy).__name__
            raise ValueError(
                f"{self!r}: expected dy of shape {expected} and dtype {self.weight.data.dtype}, "
                f"got {got}"
            )
        self.weight.grad += backend.kernel(F.embedding_backward, dy)(dy, self._saved())

    def backward_params(self, dy: np.ndarray) -> None:
        self.backward(dy)

    def backward_input(self, dy: np.ndarray) -> None:  # type: ignore[override]
        """The indices get no gradient and the weight's is not wanted: nothing to do (None)."""
        self._saved()

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
