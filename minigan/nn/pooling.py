"""``MaxPool2d`` and ``AvgPool2d``, with PyTorch's arguments and semantics (``stride`` defaults to
``kernel_size``; padding at most half the kernel; ``AvgPool2d`` counts padded zeros). The math is
in :mod:`minigan.functional.pooling`.

>>> import numpy as np
>>> from minigan import nn
>>> pool = nn.MaxPool2d(2)
>>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
>>> pool(x)
array([[[[ 5.,  7.],
         [13., 15.]]]], dtype=float32)
>>> pool.backward(np.ones((1, 1, 2, 2), np.float32))[0, 0]
array([[0., 0., 0., 0.],
       [0., 1., 0., 1.],
       [0., 0., 0., 0.],
       [0., 1., 0., 1.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from minigan import backend
from minigan.functional import pooling as P
from minigan.nn.layers import _pair_to_int
from minigan.nn.module import Module, check_dy, check_input


class _Pool2d(Module):
    """Shared arguments and checks; subclasses name their reference pair."""

    _forward: staticmethod
    _backward: staticmethod

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.kernel_size = _pair_to_int(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair_to_int(stride, "stride")
        self.padding = _pair_to_int(padding, "padding")
        name = type(self).__name__
        if self.kernel_size < 1 or self.stride < 1 or self.padding < 0:
            raise ValueError(
                f"{name}: need kernel_size >= 1, stride >= 1, padding >= 0; got "
                f"{self.kernel_size}, {self.stride}, {self.padding}"
            )
        if 2 * self.padding > self.kernel_size:
            raise ValueError(
                f"{name}: padding ({self.padding}) must be at most half of kernel_size "
                f"({self.kernel_size}), as in PyTorch"
            )

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(self, x, (4,), None, "(N, C, H, W)")
        for size in x.shape[2:]:
            if P.pool_output_size(size, self.kernel_size, self.stride, self.padding) < 1:
                raise ValueError(
                    f"{self!r}: input of spatial size {x.shape[2:]} is smaller than the kernel "
                    f"({self.kernel_size}) after padding ({self.padding})"
                )
        y, self._cache = backend.kernel(self._forward, x)(
            x, self.kernel_size, self.stride, self.padding
        )
        object.__setattr__(self, "_input_dtype", x.dtype)  # dy must match it
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = self._saved()
        check_dy(self, dy, self._input_dtype)
        expected = (
            *cache.x_shape[:2],
            *(P.pool_output_size(s, cache.kernel, cache.stride, cache.padding)
              for s in cache.x_shape[2:]),
        )  # fmt: skip
        if getattr(dy, "shape", None) != expected:
            raise ValueError(f"{self!r}: expected dy of shape {expected}, got {dy.shape}")
        return backend.kernel(self._backward, dy)(dy, cache)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum of each ``kernel_size`` window; (N, C, H, W) -> (N, C, Ho, Wo),
    ``Ho = floor((H + 2 padding - kernel_size) / stride) + 1``. Backward sends ``dy`` to each
    window's maximum (the first one at a tie, as PyTorch does on the CPU)."""

    _forward = staticmethod(P.max_pool2d_forward)
    _backward = staticmethod(P.max_pool2d_backward)


class AvgPool2d(_Pool2d):
    """The mean of each ``kernel_size`` window, padded zeros included (PyTorch's default
    ``count_include_pad=True``); shapes as :class:`MaxPool2d`."""

    _forward = staticmethod(P.avg_pool2d_forward)
    _backward = staticmethod(P.avg_pool2d_backward)


def distinct_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """float64 values in [-1, 1) at least ``2 / size`` apart, in random order: no two entries of
    a max-pooling window tie, and a finite-difference step (1e-6) cannot change which wins."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) * 2.0 / size - 1.0).astype(np.float64)


def gradcheck_cases(rng: np.random.Generator, n: int) -> list[tuple[Module, np.ndarray, str]]:
    """``(layer, x, name)`` for :func:`minigan.gradcheck.suite`: max and average pooling,
    non-overlapping and overlapping with padding, on inputs without ties."""
    c = int(rng.integers(1, 4))
    return [
        (MaxPool2d(2), distinct_values(rng, (n, c, 6, 6)), "MaxPool2d(2)"),
        (MaxPool2d(3, 2, 1), distinct_values(rng, (n, c, 7, 7)), "MaxPool2d(3, 2, 1)"),
        (AvgPool2d(2), rng.standard_normal((n, c, 6, 6)), "AvgPool2d(2)"),
        (AvgPool2d(3, 2, 1), rng.standard_normal((n, c, 7, 7)), "AvgPool2d(3, 2, 1)"),
    ]
