r"""Small MLP GANs on 1-D and 2-D toy data, trained in seconds on a CPU.

One iteration of :class:`ToyGAN` is the iteration every minigan GAN trains with
(:mod:`minigan.step`, the two moves of the minimax game): a **D step** on a real and a fresh
fake batch (it minimises the objective's D loss, :math:`-V`), then a **G step** on fresh noise
(it minimises the objective's G loss, ``"minimax"`` :math:`\mathbb E\log(1-D(G(z)))` or
``"nonsaturating"`` :math:`-\mathbb E\log D(G(z))`; see :mod:`minigan.objectives`).

The gradient that reaches each generated point :math:`x_i = G(z_i)` is what
``D.backward(d_fake_logits)`` returns (``d_fake`` in :func:`minigan.step.g_step`), the gradient
of the batch-mean G loss; :func:`point_gradients` scales it by N to the gradient of the
*per-sample* loss :math:`\ell(x_i)`, so that its norm does not depend on the batch size.
Symbols as in ``docs/notation.md``.

>>> import numpy as np
>>> gan = ToyGAN("ring8", rng=np.random.default_rng(0))
>>> stats = gan.train(20)
>>> len(stats.value), gan.generate(5).shape
(20, (5, 2))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from minigan import nn, step
from minigan.data.toy import ToyDistribution, get_toy
from minigan.functional.activations import sigmoid
from minigan.losses import GENERATOR_LOSSES, generator_loss
from minigan.optim import Adam

__all__ = ["ToyGAN", "TrainingLog", "blas_threads", "point_gradients", "toy_mlps"]


@contextlib.contextmanager
def blas_threads(n: int = 1) -> Iterator[None]:
    """Limit BLAS to ``n`` threads inside the block when ``threadpoolctl`` is installed (else do
    nothing). The lab's matrices are small (256-512 rows, 128 columns): a second BLAS thread
    costs more in synchronisation than it saves, and far more when other processes share the
    cores (measured 5 ms per step on one thread against 65 ms on two, on a busy 2-core machine).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(n, user_api="blas"):
        yield


def toy_mlps(
    dim: int,
    z_dim: int = 8,
    hidden: int = 128,
    dtype=np.float32,
    rng: np.random.Generator | None = None,
) -> tuple[nn.Sequential, nn.Sequential]:
    """The toy lab's ``(G, D)``: two-hidden-layer MLPs, by default (``z_dim`` 8, ``hidden``
    128, ``dim`` 2) G 8-128-128-2 with ReLU and D 2-128-128-1 with LeakyReLU(0.2).

    G maps noise (N, z_dim) to points (N, dim) (linear output: the data are unbounded);
    D maps points (N, dim) to logits (N, 1).

    >>> G, D = toy_mlps(2, rng=np.random.default_rng(0))
    >>> D(G(np.zeros((3, 8), np.float32))).shape
    (3, 1)
    """
    G = nn.Sequential(
        nn.Linear(z_dim, hidden, dtype=dtype, rng=rng),  # (N, hidden)
        nn.ReLU(),
        nn.Linear(hidden, hidden, dtype=dtype, rng=rng),  # (N, hidden)
        nn.ReLU(),
        nn.Linear(hidden, dim, dtype=dtype, rng=rng),  # (N, dim) points
    )
    D = nn.Sequential(
        nn.Linear(dim, hidden, dtype=dtype, rng=rng),  # (N, hidden)
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden, dtype=dtype, rng=rng),  # (N, hidden)
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1, dtype=dtype, rng=rng),  # (N, 1) logit
    )
    return G, D


def point_gradients(D: nn.Module, x: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    r"""D's logits at ``x`` (N, dim) and the gradient of the per-sample generator loss there.

    Returns ``(logits (N,), grad (N, dim))`` with :math:`\text{grad}_i = \partial\ell(x_i)/\partial
    x_i`, where :math:`\ell(x) = \log(1 - \sigma(a(x)))` (``"minimax"``) or
    :math:`-\log\sigma(a(x))` (``"nonsaturating"``) and :math:`a` is D's logit. By the chain rule
    :math:`\text{grad}_i = \ell'(a_i)\,\nabla_x a(x_i)`, with :math:`\ell'(a) = -\sigma(a)` or
    :math:`\sigma(a) - 1`: so :math:`\|\text{grad}^\text{minimax}_i\| /
    \|\text{grad}^\text{nonsat}_i\| = \sigma(a_i)/(1-\sigma(a_i)) = e^{a_i}` exactly.

    ``D.backward(d_fake_logits)`` gives the gradient of the batch *mean*, so it is multiplied
    by N. D's
    parameter gradients are zeroed afterwards: calling this leaves no trace on a training step.
    """
    logits = D(x)
    _, d_logits = generator_loss(logits, kind)
    grad = D.backward(d_logits) * len(x)
    D.zero_grad()
    return logits[:, 0], grad


@dataclass
class TrainingLog:
    """Per-iteration numbers of a :class:`ToyGAN` run (lists of Python floats).

    ``value`` is the batch estimate of :math:`V(D, G)` before the D step (minus the D loss),
    ``g_loss`` the generator loss of the G step, ``d_fake`` the mean :math:`D(G(z))` it saw.
    """

    value: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)


class ToyGAN:
    r"""G and D from :func:`toy_mlps`, their Adam optimizers, and the data, under one seed.

    Parameters
    ----------
    dist
        A toy distribution or its name (see :func:`minigan.data.toy.get_toy`).
    loss
        The generator loss: ``"nonsaturating"`` or ``"minimax"``.
    rng
        The only source of randomness: initial weights, then every batch of data and noise.
    z_dim, hidden, batch
        Noise size, width of the hidden layers, batch size of both steps.
    lr, betas
        Adam's settings, shared by G and D.
    dtype
        Of weights and batches (float32, or float64 for checks).
    """

    def __init__(
        self,
        dist: ToyDistribution | str,
        loss: str = "nonsaturating",
        rng: np.random.Generator | None = None,
        z_dim: int = 8,
        hidden: int = 128,
        batch: int = 256,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.5, 0.999),
        dtype=np.float32,
    ) -> None:
        if loss not in GENERATOR_LOSSES:
            raise ValueError(f"ToyGAN: loss must be one of {GENERATOR_LOSSES}, got {loss!r}")
        if batch < 1 or z_dim < 1 or hidden < 1:
            raise ValueError(
                f"ToyGAN: batch, z_dim, hidden must be >= 1, got {batch, z_dim, hidden}"
            )
        self.dist = get_toy(dist) if isinstance(dist, str) else dist
        self.loss, self.z_dim, self.batch, self.dtype = loss, z_dim, batch, dtype
        self.rng = np.random.default_rng() if rng is None else rng
        self.G, self.D = toy_mlps(self.dist.dim, z_dim, hidden, dtype, self.rng)
        self.opt_g = Adam(self.G.parameters(), lr=lr, betas=betas)
        self.opt_d = Adam(self.D.parameters(), lr=lr, betas=betas)
        self.log = TrainingLog()
        self.steps_done = 0

    def noise(self, n: int) -> np.ndarray:
        """``n`` draws of :math:`z \\sim \\mathcal N(0, I)`, shape (n, z_dim)."""
        return self.rng.standard_normal((n, self.z_dim)).astype(self.dtype)

    def real(self, n: int) -> np.ndarray:
        """``n`` data points, shape (n, dim)."""
        return self.dist.sample(n, self.rng).astype(self.dtype, copy=False)

    def generate(self, n: int | None = None, z: np.ndarray | None = None) -> np.ndarray:
        """``G(z)`` for the given noise, or for ``n`` fresh draws."""
        return self.G(self.noise(n) if z is None else z)

    def discriminate(self, x: np.ndarray) -> np.ndarray:
        """:math:`D(x) = \\sigma(a(x))`, D's logit :math:`a` squashed, at points ``x`` (N, dim),
        shape (N,)."""
        logits = self.D(x.astype(self.dtype, copy=False))[:, 0]
        return sigmoid(logits.astype(np.float64))

    def d_step(self) -> float:
        """One D step (:func:`minigan.step.d_step`) on a real and a fresh fake batch. Returns
        the batch estimate of V(D, G) before the update (minus D's loss).
        """
        real, fake = self.real(self.batch), self.generate(self.batch)
        return -float(step.d_step(self.D, self.opt_d, real, fake, self.loss)["loss_D"])

    def g_step(self) -> tuple[float, float]:
        """One G step (:func:`minigan.step.g_step`) on fresh noise; returns the generator loss
        and the mean D(G(z)) it saw."""
        record = step.g_step(self.G, self.D, self.opt_g, self.noise(self.batch), self.loss)
        return float(record["loss_G"]), float(np.mean(sigmoid(record["D_out"].astype(np.float64))))

    def train(
        self, steps: int, callback: Callable[[ToyGAN], None] | None = None, every: int = 0
    ) -> TrainingLog:
        """Run ``steps`` iterations (D step, then G step), appending to :attr:`log`.

        ``callback(self)`` runs before the first step and after every ``every``-th one (and the
        last), when both are given: that is where frames are drawn. BLAS runs on one thread
        meanwhile (:func:`blas_threads`).
        """
        if steps < 0:
            raise ValueError(f"ToyGAN.train: steps must be >= 0, got {steps}")
        draw = callback is not None and every > 0
        if draw and self.steps_done == 0:
            callback(self)
        with blas_threads(1):
            for i in range(1, steps + 1):
                self.log.value.append(self.d_step())
                g_loss, d_fake = self.g_step()
                self.log.g_loss.append(g_loss)
                self.log.d_fake.append(d_fake)
                self.steps_done += 1
                if draw and (i % every == 0 or i == steps):
                    callback(self)
        return self.log
