"""Layers with parameters (``Linear``, ``Conv2d``, ``ConvTranspose2d``) and the shape layers.

Each holds its ``Parameter`` objects and the cache of its last forward; the math is in
:mod:`minigan.functional`: each layer names the reference function it runs, and
:func:`minigan.backend.kernel` hands back the fast version for the input's device and backend. Initialisation follows
PyTorch's defaults: weight and bias drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (what its
``kaiming_uniform_(a=sqrt(5))`` amounts to), with ``fan_in = in * kh * kw`` for a convolution and
``out * kh * kw`` for a transposed one (PyTorch reads it off the weight's axis 1).

>>> import numpy as np
>>> from minigan import nn
>>> conv = nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1)
>>> conv.weight.shape, conv(np.zeros((2, 128, 7, 7), np.float32)).shape
((128, 64, 4, 4), (2, 64, 14, 14))
"""

from __future__ import annotations

import math

import numpy as np

from minigan import backend
from minigan import functional as F
from minigan.functional.conv import conv_output_size
from minigan.nn.module import Module, Parameter, check_dy, check_input
from minigan.random import get_rng, uniform


def _check_sizes(layer: str, **sizes: int) -> None:
    """Refuse sizes that are not positive integers, naming each (``Linear(0, 2)`` would
    otherwise divide by zero in its initialisation)."""
    bad = [
        f"{name}={value!r}"
        for name, value in sizes.items()
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1
    ]
    if bad:
        raise ValueError(f"{layer}: sizes must be positive integers, got {', '.join(bad)}")


def _pair_to_int(value: int | tuple[int, int], name: str) -> int:
    """Square kernels, strides and paddings only: accept ``k`` or ``(k, k)``."""
    if isinstance(value, tuple):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"{name}={value}: only square values are supported")
        value = value[0]
    return int(value)


class _WeightLayer(Module):
    r"""What ``Linear``, ``Conv2d`` and ``ConvTranspose2d`` share: ``weight`` and ``bias``
    parameters, and a backward through their reference function ``_backward_op``,
    ``(dy, cache, input_grad) -> (dx, dW, db)``, that adds ``dW`` and ``db`` into the gradients
    and, for :meth:`backward_params`, skips the input-gradient product (``dx`` is None).
    :meth:`backward_input` and :meth:`input_grad` run ``_input_op``, ``(dy, cache) -> dx``: the
    same ``dx`` with no weight-gradient product and no bias sum.

    **Second order.** Each is affine, ``y = A_W x + b`` with ``A_W`` linear in ``x`` *and* in
    ``W``, so ``dx = A_W^T dy`` is bilinear in ``(W, dy)`` and free of ``b``. For a fixed ``v`` of
    ``x``'s shape, :math:`\langle v, A_W^T dy\rangle = \langle A_W v, dy\rangle`: the
    first-order loss of the layer run on ``v`` with no bias. Hence
    :math:`\partial \langle v, dx\rangle / \partial W` is the ``dW`` of the layer's own backward
    on ``dy`` with the cache of ``forward(v, W, None)`` (for ``Linear``, ``dy^T v``), and
    :math:`\partial \langle v, dx\rangle / \partial b = 0`: :meth:`tangent` runs
    ``_apply(v, None)`` then ``_backward_op`` with the ``dy`` kept by :meth:`input_grad`, through
    :func:`minigan.backend.kernel`, so it runs the same kernels as forward and backward.
    """

    weight: Parameter
    bias: Parameter | None
    _backward_op: staticmethod
    _input_op: staticmethod
    _second_order_refusal = None

    def _apply(self, x: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, object]:
        """The forward kernel on ``x`` with bias ``b``: ``(y, cache)``."""
        raise NotImplementedError

    def _b(self) -> np.ndarray | None:
        return None if self.bias is None else self.bias.data

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._backward(dy, input_grad=True)

    def backward_params(self, dy: np.ndarray) -> None:
        self._backward(dy, input_grad=False)

    def _backward(self, dy: np.ndarray, input_grad: bool) -> np.ndarray | None:
        check_dy(self, dy)
        dx, dW, db = backend.kernel(self._backward_op, dy)(dy, self._saved(), input_grad)
        self.weight.grad += dW
        if self.bias is not None:
            self.bias.grad += db
        return dx

    def backward_input(self, dy: np.ndarray) -> np.ndarray:
        check_dy(self, dy)
        return backend.kernel(self._input_op, dy)(dy, self._saved())

    def input_grad(self, dy: np.ndarray) -> np.ndarray:
        dx = self.backward_input(dy)
        object.__setattr__(self, "_dy", dy)
        return dx

    def tangent(self, v: np.ndarray) -> np.ndarray:
        dy = self._take_dy()
        t, cache = self._apply(v, None)  # A_W v: no bias
        _, dW, _ = backend.kernel(self._backward_op, dy)(dy, cache, False)
        self.weight.grad += dW
        return t


class Linear(_WeightLayer):
    """``y = x W^T + b``; ``weight`` (out_features, in_features), input (N, in_features)."""

    _backward_op = staticmethod(F.linear_backward)
    _input_op = staticmethod(F.linear_input_grad)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_sizes("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        rng = get_rng(rng)
        bound = 1 / math.sqrt(in_features)
        self.weight = Parameter(uniform(rng, bound, (out_features, in_features), dtype))
        self.bias = Parameter(uniform(rng, bound, (out_features,), dtype)) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(self, x, (2,), self.in_features, f"(N, {self.in_features})")
        y, self._cache = self._apply(x, self._b())
        return y

    def _apply(self, x: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, object]:
        return backend.kernel(F.linear_forward, x)(x, self.weight.data, b)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class _ConvBase(_WeightLayer):
    """Shared parameters and checks of ``Conv2d`` and ``ConvTranspose2d``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int],
        padding: int | tuple[int, int],
        bias: bool,
        weight_shape: tuple[int, ...],
        fan_in: int,
        dtype,
        rng: np.random.Generator | None,
    ) -> None:
        super().__init__()
        _check_sizes(type(self).__name__, in_channels=in_channels, out_channels=out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair_to_int(kernel_size, "kernel_size")
        self.stride = _pair_to_int(stride, "stride")
        self.padding = _pair_to_int(padding, "padding")
        if self.kernel_size < 1 or self.stride < 1 or self.padding < 0:
            raise ValueError(
                f"{type(self).__name__}: need kernel_size >= 1, stride >= 1, padding >= 0; got "
                f"{self.kernel_size}, {self.stride}, {self.padding}"
            )
        rng = get_rng(rng)
        bound = 1 / math.sqrt(fan_in)
        self.weight = Parameter(uniform(rng, bound, weight_shape, dtype))
        self.bias = Parameter(uniform(rng, bound, (out_channels,), dtype)) if bias else None

    def _check(self, x: np.ndarray) -> None:
        check_input(self, x, (4,), self.in_channels, f"(N, {self.in_channels}, H, W)")

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )


class Conv2d(_ConvBase):
    """2-D convolution; ``weight`` (out, in, k, k); input (N, in, H, W) -> (N, out, Ho, Wo)
    with ``Ho = floor((H + 2 padding - k) / stride) + 1``.
    """

    _backward_op = staticmethod(F.conv2d_backward)
    _input_op = staticmethod(F.conv2d_input_grad)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        k = _pair_to_int(kernel_size, "kernel_size")
        super().__init__(
            in_channels, out_channels, k, stride, padding, bias,
            (out_channels, in_channels, k, k), in_channels * k * k, dtype, rng,
        )  # fmt: skip

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        for size in x.shape[2:]:
            if conv_output_size(size, self.kernel_size, self.stride, self.padding) < 1:
                raise ValueError(
                    f"{self!r}: input of spatial size {x.shape[2:]} is smaller than the kernel "
                    f"({self.kernel_size}) after padding ({self.padding})"
                )
        y, self._cache = self._apply(x, self._b())
        return y

    def _apply(self, x: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, object]:
        return backend.kernel(F.conv2d_forward, x)(
            x, self.weight.data, b, self.stride, self.padding
        )


class ConvTranspose2d(_ConvBase):
    """Transposed 2-D convolution (the adjoint of ``Conv2d``); ``weight`` (in, out, k, k);
    input (N, in, H, W) -> (N, out, Ho, Wo), ``Ho = (H - 1) stride - 2 padding + k +
    output_padding``.
    """

    _backward_op = staticmethod(F.conv_transpose2d_backward)
    _input_op = staticmethod(F.conv_transpose2d_input_grad)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        bias: bool = True,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        k = _pair_to_int(kernel_size, "kernel_size")
        super().__init__(
            in_channels, out_channels, k, stride, padding, bias,
            (in_channels, out_channels, k, k), out_channels * k * k, dtype, rng,
        )  # fmt: skip
        self.output_padding = _pair_to_int(output_padding, "output_padding")
        if not 0 <= self.output_padding < self.stride:
            raise ValueError(
                f"ConvTranspose2d: output_padding ({self.output_padding}) must be in "
                f"[0, stride={self.stride})"
            )

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        y, self._cache = self._apply(x, self._b())
        if min(y.shape[2:]) < 1:
            raise ValueError(f"{self!r}: input {x.shape} gives an empty output {y.shape}")
        return y

    def _apply(self, x: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, object]:
        return backend.kernel(F.conv_transpose2d_forward, x)(
            x, self.weight.data, b, self.stride, self.padding, self.output_padding
        )

    def extra_repr(self) -> str:
        return super().extra_repr() + f", output_padding={self.output_padding}"


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...); backward restores the shape. A linear map with no
    weight: its tangent is the same reshape and adds no gradient."""

    _second_order_refusal = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(self, x, tuple(range(2, 9)), None, "(N, ...)")
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self._saved())

    def backward_input(self, dy: np.ndarray) -> np.ndarray:
        return self.backward(dy)

    def input_grad(self, dy: np.ndarray) -> np.ndarray:
        return self.backward(dy)

    def tangent(self, v: np.ndarray) -> np.ndarray:
        return v.reshape(v.shape[0], -1)


class Reshape(Module):
    """(N, ...) -> (N, *shape), e.g. ``Reshape(128, 7, 7)`` after a ``Linear(100, 6272)``. Like
    ``Flatten``, its tangent is the same reshape and adds no gradient."""

    _second_order_refusal = None

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        size = math.prod(self.shape)
        if backend.device_of(x) is None or x.ndim < 2 or math.prod(x.shape[1:]) != size:
            got = getattr(x, "shape", type(x).__name__)
            raise ValueError(
                f"{self!r}: expected (N, ...) with {size} values per sample, got {got}"
            )
        self._cache = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self._saved())

    def backward_input(self, dy: np.ndarray) -> np.ndarray:
        return self.backward(dy)

    def input_grad(self, dy: np.ndarray) -> np.ndarray:
        return self.backward(dy)

    def tangent(self, v: np.ndarray) -> np.ndarray:
        return v.reshape(v.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return ", ".join(map(str, self.shape))
