r"""Optimizers. They own their state and update ``Parameter.data`` in place from ``.grad``;
backward passes never touch weights.

**SGD** (PyTorch semantics): with weight decay :math:`\lambda`, :math:`g = \nabla + \lambda w`;
with momentum :math:`\mu`, :math:`b_1 = g`, :math:`b_t = \mu b_{t-1} + g`; then
:math:`w \leftarrow w - \eta\, b_t` (or :math:`w - \eta g` without momentum).

**Adam**: the update of :func:`minigan.functional.adam.adam_update` (bias-corrected, as
PyTorch computes it; the derivation is there), one call per parameter through the backend.

**RMSprop**: the update of :func:`minigan.functional.rmsprop.rmsprop_update` (PyTorch's, without
momentum or centring), one call per parameter through the backend.

>>> import numpy as np
>>> from minigan.nn import Parameter
>>> p = Parameter(np.array([1.0], np.float32)); p.grad[:] = 0.5
>>> opt = Adam([p], lr=0.1)
>>> opt.step(); p.data  # the first Adam step moves every weight by about lr
array([0.9], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from minigan import backend
from minigan.functional.adam import adam_update
from minigan.functional.rmsprop import rmsprop_update
from minigan.nn.module import Parameter


def _check_params(name: str, params: Iterable[Parameter]) -> list[Parameter]:
    params = list(params)
    if not params:
        raise ValueError(f"{name}: got an empty parameter list")
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(f"{name}: expected Parameter objects, got {type(p).__name__}")
    return params


def _host_copy(a) -> np.ndarray:
    """A NumPy copy of a state array, wherever it lives (checkpoints are written from the host)."""
    return np.array(backend.to_numpy(a), copy=True)


def _copy_into(target, value) -> None:
    """Copy a host array into a state array on the target's device."""
    target[...] = backend.to_device(np.asarray(value), backend.device_of(target))


class Optimizer:
    """Shared parts: the parameter list, ``zero_grad`` and state (de)serialisation."""

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        if not 0 < lr < float("inf"):  # also refuses NaN
            raise ValueError(f"{type(self).__name__}: lr must be a positive number, got {lr}")
        self.params = _check_params(type(self).__name__, params)
        self.lr = float(lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad.fill(0)

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every state array by name (``m.3``, ``v.3``, ``step``), ready for safetensors."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        mine = self.state_dict()
        if set(mine) != set(state):
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: expected keys {sorted(mine)}, "
                f"got {sorted(state)}"
            )
        for name, value in state.items():
            if np.shape(value) != mine[name].shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: {name!r} has shape "
                    f"{np.shape(value)}, expected {mine[name].shape}"
                )
        step = np.asarray(state["step"])
        if step.dtype.kind not in "iu" or not 0 <= step <= 2**53:  # 2**53: no run gets there
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: step must be a non-negative integer "
                f"(at most 2**53), got {step!r}"
            )
        for name, value in state.items():  # squared-gradient averages: square roots are taken
            if name.startswith(("v.", "square_avg.")) and not np.all(np.asarray(value) >= 0):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: {name!r} must be non-negative"
                )
        self._load(state)

    def state_arrays(self) -> list[tuple[str, object]]:
        """``(name, array)`` of every state array, on the device where it lives (no copy): what
        a divergence check reads (:mod:`minigan.guards`)."""
        raise NotImplementedError

    def _load(self, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and weight decay."""

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not (0 <= momentum < float("inf") and 0 <= weight_decay < float("inf")):
            raise ValueError(
                f"SGD: momentum and weight_decay must be non-negative numbers, got {momentum} "
                f"and {weight_decay}"
            )
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.buffers = [np.zeros_like(p.data) for p in self.params]
        self.t = 0

    def step(self) -> None:
        self.t += 1
        for p, buf in zip(self.params, self.buffers):
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                if self.t == 1:
                    buf[...] = g
                else:
                    buf *= self.momentum
                    buf += g
                g = buf
            p.data -= self.lr * g

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {f"momentum_buffer.{i}": _host_copy(b) for i, b in enumerate(self.buffers)}
        state["step"] = np.array(self.t, np.int64)
        return state

    def state_arrays(self) -> list[tuple[str, object]]:
        return [(f"momentum_buffer.{i}", b) for i, b in enumerate(self.buffers)]

    def _load(self, state: dict[str, np.ndarray]) -> None:
        for i, b in enumerate(self.buffers):
            _copy_into(b, state[f"momentum_buffer.{i}"])
        self.t = int(state["step"])


class Adam(Optimizer):
    """Adam with bias correction; ``m``, ``v`` per parameter and the step ``t`` shared."""

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {betas}")
        if not 0 <= eps < float("inf"):
            raise ValueError(f"Adam: eps must be a non-negative number, got {eps}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.t = 0

    def step(self) -> None:
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            update = backend.kernel(adam_update, p.data)
            update(p.data, p.grad, m, v, self.lr, *self.betas, self.eps, self.t)

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {f"m.{i}": _host_copy(m) for i, m in enumerate(self.m)}
        state.update({f"v.{i}": _host_copy(v) for i, v in enumerate(self.v)})
        state["step"] = np.array(self.t, np.int64)
        return state

    def state_arrays(self) -> list[tuple[str, object]]:
        return [(f"m.{i}", m) for i, m in enumerate(self.m)] + [
            (f"v.{i}", v) for i, v in enumerate(self.v)
        ]

    def _load(self, state: dict[str, np.ndarray]) -> None:
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            _copy_into(m, state[f"m.{i}"])
            _copy_into(v, state[f"v.{i}"])
        self.t = int(state["step"])


class RMSprop(Optimizer):
    """RMSprop as PyTorch's ``torch.optim.RMSprop`` with its defaults (``alpha`` 0.99, ``eps``
    1e-8, no momentum, not centred); the running mean square ``v`` per parameter."""

    def __init__(
        self, params: Iterable[Parameter], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8
    ) -> None:
        super().__init__(params, lr)
        if not 0 <= alpha < 1:
            raise ValueError(f"RMSprop: alpha must lie in [0, 1), got {alpha}")
        if not 0 <= eps < float("inf"):
            raise ValueError(f"RMSprop: eps must be a non-negative number, got {eps}")
        self.alpha, self.eps = float(alpha), float(eps)
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.t = 0

    def step(self) -> None:
        self.t += 1
        for p, v in zip(self.params, self.v):
            backend.kernel(rmsprop_update, p.data)(p.data, p.grad, v, self.lr, self.alpha, self.eps)

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {f"square_avg.{i}": _host_copy(v) for i, v in enumerate(self.v)}
        state["step"] = np.array(self.t, np.int64)
        return state

    def state_arrays(self) -> list[tuple[str, object]]:
        return [(f"square_avg.{i}", v) for i, v in enumerate(self.v)]

    def _load(self, state: dict[str, np.ndarray]) -> None:
        for i, v in enumerate(self.v):
            _copy_into(v, state[f"square_avg.{i}"])
        self.t = int(state["step"])


#: The optimizers a run can train with (``--optimizer``).
OPTIMIZERS = ("adam", "rmsprop")


def make_optimizer(
    name: str, params: Iterable[Parameter], lr: float, betas: tuple[float, float]
) -> Optimizer:
    """``Adam(params, lr, betas)`` or ``RMSprop(params, lr)`` (``betas`` unused) by name."""
    if name == "adam":
        return Adam(params, lr, betas)
    if name == "rmsprop":
        return RMSprop(params, lr)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")
