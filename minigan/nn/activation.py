"""Activation layers and Dropout: thin wrappers over :mod:`minigan.functional.activations`.

>>> import numpy as np
>>> from minigan import nn
>>> act = nn.LeakyReLU(0.2)
>>> act(np.array([[-1.0, 2.0]], np.float32))
array([[-0.2,  2. ]], dtype=float32)
>>> act.backward(np.ones((1, 2), np.float32))
array([[0.2, 1. ]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from minigan import backend
from minigan import functional as F
from minigan.nn.module import Module, check_dy, check_input
from minigan.random import get_rng

_ANY_SHAPE = tuple(range(1, 9))


def _remember_dtype(module: Module, x: np.ndarray) -> None:
    """Check the input (any shape) and keep its dtype: a layer without parameters has no other
    dtype to hold its upstream gradient to."""
    check_input(module, x, _ANY_SHAPE, None, "(any shape)")
    object.__setattr__(module, "_input_dtype", x.dtype)


def _check_dy(module: Module, dy: np.ndarray) -> None:
    """A clear ``TypeError`` when ``dy`` is not an array of the last input's dtype (a float64
    ``dy`` would turn a float32 network's gradients float64 from here down)."""
    check_dy(module, dy, getattr(module, "_input_dtype", None))


class _MaskSecondOrder:
    """The second-order passes of a layer whose backward multiplies ``dy`` by a mask fixed by the
    last forward (ReLU's ``y > 0``, LeakyReLU's 1-or-slope, Dropout's mask): ``dx = m * dy``.
    The mask is piecewise constant in ``x``, so its derivative is zero almost everywhere (away
    from the kink at 0) and ``dx`` depends on the weights below only through ``dy``: the layer
    adds no gradient, and its linear part at ``x`` is the same product, so the tangent of ``v``
    is ``m * v``, the backward op run on ``v`` with the forward's cache.
    """

    _second_order_refusal = None

    def input_grad(self, dy: np.ndarray) -> np.ndarray:
        return self.backward(dy)  # type: ignore[attr-defined]

    def tangent(self, v: np.ndarray) -> np.ndarray:
        return self.backward(v)  # type: ignore[attr-defined]


_SMOOTH_REFUSAL = (
    "its derivative {} changes with its input (a non-zero second derivative), a term the "
    "tangent pass does not carry: its second-order pass is not derived"
)


class _Elementwise(Module):
    """Runs the reference pair ``_forward`` / ``_backward`` (or their fast versions) on an array
    of any shape."""

    _forward: staticmethod
    _backward: staticmethod

    def forward(self, x: np.ndarray) -> np.ndarray:
        _remember_dtype(self, x)
        y, self._cache = backend.kernel(self._forward, x)(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        _check_dy(self, dy)
        return backend.kernel(self._backward, dy)(dy, self._saved())


class ReLU(_MaskSecondOrder, _Elementwise):
    """``max(x, 0)``."""

    _forward = staticmethod(F.relu_forward)
    _backward = staticmethod(F.relu_backward)


class Tanh(_Elementwise):
    """``tanh(x)``, the generator's last layer for images in [-1, 1]."""

    _forward = staticmethod(F.tanh_forward)
    _backward = staticmethod(F.tanh_backward)
    _second_order_refusal = _SMOOTH_REFUSAL.format("1 - y**2")


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))``; a discriminator should output logits and use
    :func:`minigan.losses.bce_with_logits` instead, which is stable.
    """

    _forward = staticmethod(F.sigmoid_forward)
    _backward = staticmethod(F.sigmoid_backward)
    _second_order_refusal = _SMOOTH_REFUSAL.format("y * (1 - y)")


class LeakyReLU(_MaskSecondOrder, Module):
    """``x if x > 0 else negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: np.ndarray) -> np.ndarray:
        _remember_dtype(self, x)
        y, self._cache = backend.kernel(F.leaky_relu_forward, x)(x, self.negative_slope)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        _check_dy(self, dy)
        return backend.kernel(F.leaky_relu_backward, dy)(dy, self._saved())

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Dropout(_MaskSecondOrder, Module):
    """Inverted dropout: in training, zero each value with probability ``p`` and scale the rest
    by ``1 / (1 - p)``; identity in eval mode. Masks come from ``rng`` (seeded, default: the
    global generator of :mod:`minigan.random`).
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = get_rng(rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        _remember_dtype(self, x)
        if not self.training or self.p == 0:
            self._cache = np.ones((), x.dtype)
            return x.copy()
        mask = F.dropout_mask(x.shape, self.p, self.rng, x.dtype)  # drawn on the host
        mask = backend.to_device(mask, backend.device_of(x))
        y, self._cache = backend.kernel(F.dropout_forward, x)(x, mask)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        _check_dy(self, dy)
        return backend.kernel(F.dropout_backward, dy)(dy, self._saved())

    def extra_repr(self) -> str:
        return f"p={self.p}"
