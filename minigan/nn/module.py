r"""``Parameter``, ``Module`` and ``Sequential``: the containers, with no math in them.

A module's ``forward(x)`` computes its output and keeps the cache its ``backward(dy)`` needs;
``backward`` returns ``dx`` and **adds** into each ``Parameter.grad`` until :meth:`zero_grad`
(a discriminator step runs backward on a real batch and then on a fake one). Parameter and
buffer names follow PyTorch (``0.weight``, ``1.running_mean``), so ``state_dict()`` keys and
shapes match PyTorch's.

>>> import numpy as np
>>> from minigan import nn
>>> model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
>>> list(model.state_dict())
['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']

**Input gradient only.** ``backward_input(dy)`` returns the same ``dx`` as ``backward(dy)``, by
the same arithmetic, and touches **no** ``Parameter.grad``: for a model whose input gradient is
wanted but whose weight gradients are not (D in a generator step: ``dloss_G / dfake``). Layers
with weights skip their weight-gradient products (``Linear``, ``Conv2d``, ``ConvTranspose2d``:
no ``dW`` GEMM, no bias sum; ``BatchNorm`` still forms the sums of ``dy`` and ``dy * xhat`` its
``dx`` needs, but adds nothing). The default, for a module that does not override it, runs
``backward`` and, if the module has parameters, puts their gradients back as they were (correct
for any module, but no faster); a parameter-free module (activations, ``Flatten``, pooling) runs
its ``backward`` as it is. Unlike ``input_grad`` below, it keeps nothing for a later pass.

>>> lin = nn.Linear(3, 2)
>>> _ = lin(np.ones((4, 3), np.float32))
>>> lin.backward_input(np.ones((4, 2), np.float32)).shape, float(np.abs(lin.weight.grad).max())
((4, 3), 0.0)

**Second order** (for a gradient penalty, :mod:`minigan.penalty`). After ``forward(x)``,

- ``input_grad(dy)`` returns the same ``dx`` as ``backward(dy)`` but adds **nothing** into the
  parameter gradients; it keeps ``dy`` for the next ``tangent``. ``dx`` is a function of the
  weights ``W``: :math:`dx = A_W^T\, dy`, with ``A_W`` the layer's linear part at ``x``.
- ``tangent(v)``, with ``v`` of ``x``'s shape, returns the output tangent ``A_W v`` (``y``'s
  shape: the layer's forward on ``v`` with no bias, the masks of the last forward) and adds
  :math:`\partial \langle v, dx\rangle / \partial W` (``dy`` held fixed) into ``W.grad``.
  It releases the kept ``dy``.

``Sequential`` runs ``input_grad`` backwards and ``tangent`` forwards, so that ``tangent(v)`` adds
:math:`\partial \langle v, dx\rangle / \partial W` for every weight of the chain: each layer
gets the tangent of its input, :math:`t_{l-1} = A_{l-1} \cdots A_1 v`, and the ``dy`` its
``input_grad`` received. Layers whose local derivative is constant almost everywhere have these
passes (``Linear``, ``Conv2d``, ``ConvTranspose2d``, ``Flatten``, ``Reshape``, ``ReLU``,
``LeakyReLU``, ``Dropout``); the others refuse with :class:`SecondOrderError`, and
:meth:`Module.second_order_refusal` says why beforehand (BatchNorm couples the samples of a batch;
Tanh and Sigmoid have a second derivative, which the tangent does not carry).

>>> net = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1))
>>> x = np.ones((2, 3), np.float32)
>>> dx = net.input_grad(np.ones_like(net(x)))  # (2, 3); no parameter gradient yet
>>> float(np.abs(net[0].weight.grad).max())
0.0
>>> net.tangent(np.ones_like(x)).shape  # adds d<v, dx>/dW into net[0].weight.grad, ...
(2, 1)
>>> print(nn.Sequential(nn.Linear(3, 4), nn.Tanh()).second_order_refusal())  # doctest: +ELLIPSIS
layer 1 (Tanh()): its derivative 1 - y**2 changes with its input ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from minigan import backend
from minigan.backend import to_numpy
from minigan.nn.checks import check_dy, check_input

__all__ = ["Module", "Parameter", "SecondOrderError", "Sequential", "check_dy", "check_input"]


class SecondOrderError(ValueError):
    """A second-order pass (:meth:`Module.input_grad`, :meth:`Module.tangent`) was asked of a
    module that has none; the message names the module and says why."""


class Parameter:
    """A trainable array ``data`` and the gradient ``grad`` accumulated into it (same shape)."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.grad = np.zeros_like(data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: registers parameters, buffers and submodules in assignment order."""

    training: bool
    #: Why this kind of module has no second-order pass; None where it has one (see above).
    _second_order_refusal: str | None = (
        "no second-order pass (the derivative of its input gradient with respect to the "
        "weights) is derived for it"
    )

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_cache", None)
        object.__setattr__(self, "_dy", None)  # the dy of the last input_grad, for tangent

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """A state array that is saved and loaded but not trained (BatchNorm's running stats)."""
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    # ---- forward / backward -------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward_params(self, dy: np.ndarray) -> None:
        """Like :meth:`backward`, but only the parameter gradients: for an input that is data
        (a discriminator's real images, the fakes of its step), whose gradient nobody reads.
        Layers whose input gradient costs a product of its own (``Linear``, ``Conv2d``,
        ``ConvTranspose2d``) skip it; the rest run :meth:`backward` and drop ``dx``.
        """
        self.backward(dy)

    def backward_input(self, dy: np.ndarray) -> np.ndarray:
        """``dx`` as :meth:`backward` returns it, leaving every ``Parameter.grad`` untouched (see
        the module docstring). This default runs :meth:`backward` and restores the gradients of
        the module's parameters, if it has any; layers override it to skip the weight-gradient
        work."""
        params = self.parameters()
        if not params:
            return self.backward(dy)
        saved = [p.grad.copy() for p in params]
        dx = self.backward(dy)
        for p, g in zip(params, saved):
            p.grad[...] = g
        return dx

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def _saved(self) -> Any:
        """The cache of the last forward; a clear error if there has been none."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return self._cache

    # ---- second order (gradient penalties) -------------------------------------------------------
    def second_order_refusal(self) -> str | None:
        """Why :meth:`input_grad` and :meth:`tangent` are refused, or None when they run."""
        return self._second_order_refusal

    def input_grad(self, dy: np.ndarray) -> np.ndarray:
        """``dx`` as :meth:`backward` returns it, adding nothing into the parameter gradients;
        keeps ``dy`` for :meth:`tangent` (see the module docstring)."""
        raise SecondOrderError(f"{self!r}: {self.second_order_refusal()}")

    def tangent(self, v: np.ndarray) -> np.ndarray:
        """The output tangent ``A_W v``; adds ``d<v, dx>/dW`` into ``W.grad`` (``dx`` from the
        last :meth:`input_grad`)."""
        raise SecondOrderError(f"{self!r}: {self.second_order_refusal()}")

    def _take_dy(self) -> Any:
        """The ``dy`` of the last :meth:`input_grad`, released; a clear error if there is none."""
        dy = self._dy
        if dy is None:
            raise RuntimeError(f"{self!r}: tangent() called without input_grad() before it")
        object.__setattr__(self, "_dy", None)
        return dy

    # ---- traversal ------------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for prefix, module in self.named_modules():
            for name, param in module._parameters.items():
                yield (f"{prefix}.{name}" if prefix else name), param

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for prefix, module in self.named_modules():
            for name in module._buffers:
                yield (f"{prefix}.{name}" if prefix else name), getattr(module, name)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad.fill(0)

    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    # ---- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """NumPy copies of every parameter and buffer (also of a model on the GPU), keyed and
        ordered as in PyTorch (module by module, parameters before buffers)."""
        state = {}
        for prefix, module in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name, p in module._parameters.items():
                state[dot + name] = np.array(to_numpy(p.data), copy=True)
            for name in module._buffers:
                state[dot + name] = np.array(to_numpy(getattr(module, name)), copy=True)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into this module's arrays in place; keys and shapes must match exactly.

        Values are cast to the existing arrays' dtypes, so float64 weights load into a float32
        model as float32.
        """
        targets = {name: p.data for name, p in self.named_parameters()}
        targets.update(self.named_buffers())
        missing = sorted(set(targets) - set(state))
        unexpected = sorted(set(state) - set(targets))
        if missing or unexpected:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        for name, target in targets.items():
            value = np.asarray(to_numpy(state[name]))
            if value.shape != target.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: {name!r} has shape {value.shape}, "
                    f"this model expects {target.shape}"
                )
        for name, target in targets.items():
            target[...] = backend.to_device(to_numpy(state[name]), backend.device_of(target))

    def to(self, target: Any) -> Module:
        """Move to a device or cast to a dtype; gradients are reset to zero.

        ``"cupy"``/``"numpy"`` move every parameter and buffer to the GPU (as CuPy arrays) or
        back; select the matching backend with :func:`minigan.use`. A dtype (e.g. ``np.float64``
        for gradient checks) casts every floating parameter and buffer.
        """
        if isinstance(target, str) and target in ("cupy", "numpy"):
            convert, keep = (lambda a: backend.to_device(a, target)), (lambda a: True)
        else:
            convert = lambda a: a.astype(target)  # noqa: E731
            keep = lambda a: np.issubdtype(a.dtype, np.floating)  # noqa: E731
        for module in self.modules():
            for p in module._parameters.values():
                p.data = convert(p.data)
                p.grad = np.zeros_like(p.data)  # CuPy's for CuPy data (__array_function__)
            for name, b in module._buffers.items():
                if keep(b):
                    module.register_buffer(name, convert(b))
        return self

    @property
    def dtype(self) -> np.dtype | None:
        """The dtype of the first parameter (None for parameter-free modules)."""
        params = self.parameters()
        return params[0].data.dtype if params else None

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = "".join(
            f"\n  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()
        )
        body = self.extra_repr() + (children + "\n" if children else "")
        return f"{type(self).__name__}({body})"


class Sequential(Module):
    """Modules applied in order; ``backward`` runs them in reverse."""

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self:
            x = layer(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        for layer in reversed(list(self)):
            dy = layer.backward(dy)
        return dy

    def backward_input(self, dy: np.ndarray) -> np.ndarray:
        """Each layer's :meth:`Module.backward_input`, last to first: ``dx`` with no parameter
        gradient touched."""
        for layer in reversed(list(self)):
            dy = layer.backward_input(dy)
        return dy

    def backward_params(self, dy: np.ndarray) -> None:
        """:meth:`backward` without the input gradient: the first layer runs its own
        ``backward_params``."""
        layers = list(self)
        for layer in reversed(layers[1:]):
            dy = layer.backward(dy)
        if layers:
            layers[0].backward_params(dy)

    def second_order_refusal(self) -> str | None:
        """None when every layer has a second-order pass; else why the first one that does not
        refuses, naming it by its index (``layer 2.1`` for a nested ``Sequential``)."""
        for name, layer in self._modules.items():
            reason = layer.second_order_refusal()
            if reason is not None:
                if isinstance(layer, Sequential):
                    return f"layer {name}.{reason.removeprefix('layer ')}"
                return f"layer {name} ({layer!r}): {reason}"
        return None

    def input_grad(self, dy: np.ndarray) -> np.ndarray:
        """Each layer's :meth:`Module.input_grad`, last to first (refused up front, before any
        layer runs, when one of them has no second-order pass)."""
        reason = self.second_order_refusal()
        if reason is not None:
            raise SecondOrderError(f"{type(self).__name__}: {reason}")
        for layer in reversed(list(self)):
            dy = layer.input_grad(dy)
        return dy

    def tangent(self, v: np.ndarray) -> np.ndarray:
        """Each layer's :meth:`Module.tangent`, first to last: layer ``l`` gets
        ``t_{l-1} = A_{l-1} ... A_1 v`` and adds its weights' share of ``d<v, dx>/dW``."""
        for layer in self:
            v = layer.tangent(v)
        return v
