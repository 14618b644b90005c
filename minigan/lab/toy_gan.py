r"""Small MLP GANs on 1-D and 2-D toy data, trained in seconds on a CPU, with any objective.

One iteration of :class:`ToyGAN` is the iteration every minigan GAN trains with
(:mod:`minigan.step`): ``n_critic`` **D steps**, each on a real and a fresh fake batch (D
minimises the objective's D loss, plus the penalty WGAN-GP adds), then a **G step** on fresh noise
(G minimises the objective's G loss, e.g. ``"minimax"`` :math:`\mathbb E\log(1-D(G(z)))` or
``"nonsaturating"`` :math:`-\mathbb E\log D(G(z))`; every game is in :mod:`minigan.objectives`).
Each objective trains with its own optimiser kind, betas and ``n_critic`` and a learning rate
measured on the toy (:data:`minigan.lab.games.TOY_SETTINGS`), any of which the caller overrides.

The gradient that reaches each generated point :math:`x_i = G(z_i)` is what
``D.backward_input(d_fake_out)`` returns (``d_fake`` in :func:`minigan.step.g_step`), the gradient
of the batch-mean G loss; :func:`point_gradients` scales it by N to the gradient of the
*per-sample* loss :math:`\ell(x_i)`, so that its norm does not depend on the batch size.
Symbols as in ``docs/notation.md``.

>>> import numpy as np
>>> gan = ToyGAN("ring8", rng=np.random.default_rng(0))
>>> stats = gan.train(20)
>>> len(stats.value), gan.generate(5).shape
(20, (5, 2))
>>> critic = ToyGAN("ring8", "wgan-gp", rng=np.random.default_rng(0), batch=32)
>>> critic.n_critic, type(critic.opt_d).__name__, len(critic.train(2).penalty)
(5, 'Adam', 2)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from minigan import nn, step
from minigan.data.toy import ToyDistribution, get_toy
from minigan.functional.activations import sigmoid
from minigan.lab.games import readout, toy_settings
from minigan.objectives import OBJECTIVES, Objective, get_objective
from minigan.optim import make_optimizer

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


def point_gradients(
    D: nn.Module, x: np.ndarray, kind: str | Objective
) -> tuple[np.ndarray, np.ndarray]:
    r"""D's outputs at ``x`` (N, dim) and the gradient of the per-sample generator loss there.

    ``kind`` is an objective (or its name, :mod:`minigan.objectives`); its ``g_loss`` gives the
    loss. Returns ``(outputs (N,), grad (N, dim))`` with :math:`\text{grad}_i =
    \partial\ell(x_i)/\partial x_i = \ell'(o_i)\,\nabla_x o(x_i)` by the chain rule, :math:`o` being
    D's output (a logit :math:`a` in the BCE games). For those, :math:`\ell(x) = \log(1 -
    \sigma(a(x)))` (``"minimax"``) or :math:`-\log\sigma(a(x))` (``"nonsaturating"``), with
    :math:`\ell'(a) = -\sigma(a)` or :math:`\sigma(a) - 1`: so :math:`\|\text{grad}^\text{minimax}_i\|
    / \|\text{grad}^\text{nonsat}_i\| = \sigma(a_i)/(1-\sigma(a_i)) = e^{a_i}` exactly. The
    other games' :math:`\ell'(o)` are :math:`o - 1` (``"lsgan"``) and :math:`-1` (``"hinge"``,
    ``"wgan"``, ``"wgan-gp"``).

    ``D.backward_input(d_fake_out)`` gives the gradient of the batch *mean*, so it is
    multiplied by N. D's parameter gradients are not touched: calling this leaves no trace on a
    training step.
    """
    outputs = D(x)
    _, d_out = get_objective(kind).g_loss(outputs)
    return outputs[:, 0], D.backward_input(d_out) * len(x)


@dataclass
class TrainingLog:
    """Per-iteration numbers of a :class:`ToyGAN` run (lists of Python floats).

    ``value`` is minus the objective's D loss without the penalty, on the last D step's batches
    before its update: the batch estimate of :math:`V(D, G)` for the BCE games, of the
    Wasserstein distance :math:`\\mathbb E f(x) - \\mathbb E f(G(z))` for the critics;
    ``penalty`` the last D step's gradient penalty (WGAN-GP only; empty otherwise); ``g_loss``
    the generator loss of the G step; ``d_fake`` the mean of what D said on the G step's fakes:
    :math:`D(G(z)) = \\sigma(a)` where D's output is a logit, D's score :math:`o` (or the critic's
    :math:`f`) otherwise (:func:`minigan.lab.games.readout` names them).
    """

    value: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)


class ToyGAN:
    r"""G and D from :func:`toy_mlps`, their optimizers, and the data, under one seed.

    Parameters
    ----------
    dist
        A toy distribution or its name (see :func:`minigan.data.toy.get_toy`).
    loss
        The objective (:data:`minigan.objectives.OBJECTIVES`): ``"nonsaturating"``,
        ``"minimax"``, ``"lsgan"``, ``"hinge"``, ``"wgan"``, ``"wgan-gp"``, or an
        :class:`~minigan.objectives.Objective` (e.g. ``get_objective("wgan", clip=0.05)``).
    rng
        The only source of randomness: initial weights, then every batch of data and noise,
        and the gradient penalty's interpolation weights.
    z_dim, hidden, batch
        Noise size, width of the hidden layers, batch size of every step.
    lr, betas, n_critic, optimizer
        The optimisation, shared by G and D: None takes the objective's row of
        :data:`minigan.lab.games.TOY_SETTINGS` (Adam, :math:`10^{-3}`, betas (0.5, 0.999) and
        one D step for the BCE games; see there for the others); ``optimizer`` is ``"adam"``
        or ``"rmsprop"`` (:func:`minigan.optim.make_optimizer`; RMSprop ignores ``betas``).
    dtype
        Of weights and batches (float32, or float64 for checks).
    """

    def __init__(
        self,
        dist: ToyDistribution | str,
        loss: str | Objective = "nonsaturating",
        rng: np.random.Generator | None = None,
        z_dim: int = 8,
        hidden: int = 128,
        batch: int = 256,
        lr: float | None = None,
        betas: tuple[float, float] | None = None,
        dtype=np.float32,
        n_critic: int | None = None,
        optimizer: str | None = None,
    ) -> None:
        if not isinstance(loss, Objective) and loss not in OBJECTIVES:
            raise ValueError(f"ToyGAN: loss must be one of {tuple(OBJECTIVES)}, got {loss!r}")
        if batch < 1 or z_dim < 1 or hidden < 1:
            raise ValueError(
                f"ToyGAN: batch, z_dim, hidden must be >= 1, got {batch, z_dim, hidden}"
            )
        settings = toy_settings(loss)
        for key, given in (("lr", lr), ("betas", betas), ("n_critic", n_critic)):
            settings[key] = settings[key] if given is None else given
        settings["optimizer"] = optimizer or settings["optimizer"]
        if not (isinstance(settings["n_critic"], int) and settings["n_critic"] >= 1):
            raise ValueError(f"ToyGAN: n_critic must be an integer >= 1, got {n_critic!r}")
        if not 0 < settings["lr"] < float("inf"):
            raise ValueError(f"ToyGAN: lr must be a positive number, got {lr!r}")
        self.objective = get_objective(loss)
        self.readout = readout(self.objective)
        self.dist = get_toy(dist) if isinstance(dist, str) else dist
        self.loss, self.z_dim, self.batch, self.dtype = self.objective.name, z_dim, batch, dtype
        self.settings = settings
        self.n_critic: int = settings["n_critic"]
        self.rng = np.random.default_rng() if rng is None else rng
        self.G, self.D = toy_mlps(self.dist.dim, z_dim, hidden, dtype, self.rng)
        self.objective.check_critic(self.D)
        self.penalty = self.objective.make_penalty(self.rng)
        kind, lr, betas = settings["optimizer"], settings["lr"], settings["betas"]
        self.opt_g = make_optimizer(kind, self.G.parameters(), lr, betas)
        self.opt_d = make_optimizer(kind, self.D.parameters(), lr, betas)
        self.log = TrainingLog()
        self.steps_done = 0
        self.last_penalty = 0.0

    def noise(self, n: int) -> np.ndarray:
        """``n`` draws of :math:`z \\sim \\mathcal N(0, I)`, shape (n, z_dim)."""
        return self.rng.standard_normal((n, self.z_dim)).astype(self.dtype)

    def real(self, n: int) -> np.ndarray:
        """``n`` data points, shape (n, dim)."""
        return self.dist.sample(n, self.rng).astype(self.dtype, copy=False)

    def generate(self, n: int | None = None, z: np.ndarray | None = None) -> np.ndarray:
        """``G(z)`` for the given noise, or for ``n`` fresh draws."""
        return self.G(self.noise(n) if z is None else z)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """D's outputs (logits or scores) at points ``x`` (N, dim), shape (N,), float64."""
        return self.D(x.astype(self.dtype, copy=False))[:, 0].astype(np.float64)

    def discriminate(self, x: np.ndarray) -> np.ndarray:
        """What D says at points ``x`` (N, dim), shape (N,): :math:`D(x) = \\sigma(a(x))`, the
        logit :math:`a` squashed, where the objective's D outputs a probability's logit; D's
        score itself otherwise."""
        out = self.scores(x)
        return sigmoid(out) if self.objective.probabilities else out

    def d_step(self) -> float:
        """One D step (:func:`minigan.step.d_step`, with the objective's penalty if any) on a
        real and a fresh fake batch. Returns minus D's loss without the penalty, before the
        update (see :class:`TrainingLog`); the penalty, if any, is kept as :attr:`last_penalty`.
        """
        real, fake = self.real(self.batch), self.generate(self.batch)
        record = step.d_step(self.D, self.opt_d, real, fake, self.objective, penalty=self.penalty)
        self.last_penalty = float(record.get("penalty", 0.0))
        return -(float(record["loss_D"]) - self.last_penalty)

    def g_step(self) -> tuple[float, float]:
        """One G step (:func:`minigan.step.g_step`) on fresh noise; returns the generator loss
        and the mean of what D said on the fakes (:meth:`discriminate`'s kind)."""
        record = step.g_step(self.G, self.D, self.opt_g, self.noise(self.batch), self.objective)
        out = record["D_out"].astype(np.float64)
        said = sigmoid(out) if self.objective.probabilities else out
        return float(record["loss_G"]), float(np.mean(said))

    def train(
        self, steps: int, callback: Callable[[ToyGAN], None] | None = None, every: int = 0
    ) -> TrainingLog:
        """Run ``steps`` iterations (``n_critic`` D steps, then a G step), appending to
        :attr:`log`.

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
                for _ in range(self.n_critic):
                    value = self.d_step()
                self.log.value.append(value)
                if self.penalty is not None:
                    self.log.penalty.append(self.last_penalty)
                g_loss, d_fake = self.g_step()
                self.log.g_loss.append(g_loss)
                self.log.d_fake.append(d_fake)
                self.steps_done += 1
                if draw and (i % every == 0 or i == steps):
                    callback(self)
        return self.log
