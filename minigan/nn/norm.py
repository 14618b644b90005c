"""``BatchNorm1d`` and ``BatchNorm2d``, with PyTorch's eps, momentum, running statistics and
train/eval behaviour. The math is in :mod:`minigan.functional.batchnorm`.

**A non-finite batch leaves the running statistics untouched.** In training mode a channel
whose batch mean or variance is not finite (a NaN or inf in the batch) keeps its previous
``running_mean`` and ``running_var``, so one bad batch cannot poison the statistics that eval
mode (sampling) uses for good; the output of that batch is non-finite as it must be, which a
training run reports as divergence (:mod:`minigan.guards`). Checking the C running values costs
nothing next to the batch, and stays on the device (no synchronisation with a GPU).

>>> import numpy as np
>>> from minigan import nn
>>> bn = nn.BatchNorm2d(3)
>>> y = bn(np.random.default_rng(0).normal(5, 2, (8, 3, 4, 4)).astype(np.float32))
>>> bool(abs(y.mean()) < 1e-5), y.dtype
(True, dtype('float32'))
"""

from __future__ import annotations

import importlib

import numpy as np

from minigan import backend
from minigan import functional as F
from minigan.nn.module import Module, Parameter, check_dy, check_input


class _BatchNorm(Module):
    ndims: tuple[int, ...] = ()
    layout = ""
    # A gradient penalty is a sum of per-sample terms; in training BatchNorm's output for one
    # sample depends on the whole batch, so there is no per-sample input gradient to penalise.
    _second_order_refusal = (
        "BatchNorm couples the samples of a batch (each output depends on the batch's mean and "
        "variance), so the per-sample input gradient a gradient penalty constrains does not "
        "exist through it, and its second-order pass is not derived; the WGAN-GP paper removes "
        "BatchNorm from the critic: use a critic without it (e.g. --model dcgan28-nobn) or a "
        "per-sample normalisation such as layer norm"
    )

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float32
    ) -> None:
        super().__init__()
        if not isinstance(num_features, int | np.integer) or num_features < 1:
            raise ValueError(
                f"{type(self).__name__}: num_features must be a positive integer, got "
                f"{num_features!r}"
            )
        self.num_features, self.eps, self.momentum = num_features, float(eps), float(momentum)
        self.weight = Parameter(np.ones(num_features, dtype))
        self.bias = Parameter(np.zeros(num_features, dtype))
        self.register_buffer("running_mean", np.zeros(num_features, dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype))
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(self, x, self.ndims, self.num_features, self.layout)
        if self.training and x.size == x.shape[1]:
            raise ValueError(
                f"{self!r}: expected more than 1 value per channel when training, got input "
                f"shape {x.shape}"
            )
        if self.training:
            self.num_batches_tracked += 1
            before = self.running_mean.copy(), self.running_var.copy()
        y, self._cache = backend.kernel(F.batchnorm_forward, x)(
            x, self.weight.data, self.bias.data, self.running_mean, self.running_var,
            self.training, self.momentum, self.eps,
        )  # fmt: skip
        if self.training:  # a channel whose new statistics are not finite keeps the old ones
            xp = importlib.import_module(type(x).__module__.split(".")[0])
            ok = xp.isfinite(self.running_mean) & xp.isfinite(self.running_var)
            self.running_mean[...] = xp.where(ok, self.running_mean, before[0])
            self.running_var[...] = xp.where(ok, self.running_var, before[1])
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        check_dy(self, dy)
        return self._backward(dy)

    def backward_input(self, dy: np.ndarray) -> np.ndarray:
        """``dx`` alone: the same kernel (it needs the sums of ``dy`` and ``dy * xhat``
        anyway), its ``dgamma`` and ``dbeta`` dropped rather than added."""
        check_dy(self, dy)
        return backend.kernel(F.batchnorm_backward, dy)(dy, self._saved())[0]

    def _backward(self, dy: np.ndarray) -> np.ndarray:
        dx, dgamma, dbeta = backend.kernel(F.batchnorm_backward, dy)(dy, self._saved())
        self.weight.grad += dgamma
        self.bias.grad += dbeta
        return dx

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Normalises (N, C) or (N, C, L) per channel C."""

    ndims = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Normalises (N, C, H, W) per channel C."""

    ndims = (4,)
    layout = "(N, C, H, W)"
