r"""The GAN games as values: each objective gives D's loss and G's loss on D's outputs, with
their gradients, and :func:`minigan.step.train_step` takes one as an argument.

D outputs a logit :math:`a`; for the games on this page its probability that the input is real
is :math:`D(x) = \sigma(a)`. Goodfellow et al.'s value function is

.. math::
    V(D, G) = \mathbb E_{x \sim p_\text{data}} \log D(x)
            + \mathbb E_{z \sim \mathcal N(0, I)} \log\big(1 - D(G(z))\big).

**D** maximises V, i.e. minimises :math:`-V`: binary cross-entropy with target 1 on the real
logits and 0 on the fake ones (:func:`minigan.functional.losses.bce_with_logits`), returned as
``(loss, d_real_out, d_fake_out)``; D's outputs are logits, so these are ``d_real_logits``
:math:`(\sigma(a_\text{real}) - 1)/N` and ``d_fake_logits`` :math:`\sigma(a_\text{fake})/N`.
**G** minimises V's second term, returned as ``(loss, d_fake_out)``:

- ``"minimax"``: :math:`\mathbb E \log(1 - \sigma(a)) = -\mathbb E\,\mathrm{softplus}(a)`,
  which is minus BCE with target 0; gradient ``d_fake_logits`` :math:`-\sigma(a)/N`, which
  vanishes as :math:`a \to -\infty`, exactly when D confidently rejects the fakes (saturation);
- ``"nonsaturating"``: :math:`-\mathbb E \log \sigma(a)`, BCE with target 1, the same fixed
  point with gradient ``d_fake_logits`` :math:`(\sigma(a) - 1)/N \to -1/N` there.

The other games change what D's output means and what each player minimises, each with its
derivation on its class: :class:`LeastSquares` (``"lsgan"``), :class:`Hinge` (``"hinge"``),
:class:`Wasserstein` (``"wgan"``, a critic with clipped weights) and :class:`WassersteinGP`
(``"wgan-gp"``, a critic with a gradient penalty). ``docs/objectives.md`` compares them.
:class:`ELBO` (``"elbo"``) is no game: the loss of the VAE (``--model vae28``, ``docs/vae.md``).

Gradients are of the batch mean (divided by N), in the names of ``docs/notation.md``. The BCE
losses run through :func:`minigan.backend.kernel`, so the fused CUDA loss kernel runs on CuPy
arrays; the others are a few array operations, the same on NumPy and CuPy arrays.

>>> import numpy as np
>>> logits = np.array([[-20.0], [0.0]], np.float32)
>>> OBJECTIVES["minimax"].g_loss(logits)[1].ravel()       # no gradient at a = -20
array([-1.0305768e-09, -2.5000000e-01], dtype=float32)
>>> OBJECTIVES["nonsaturating"].g_loss(logits)[1].ravel()  # -1/N there
array([-0.5 , -0.25], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from minigan import backend
from minigan.functional.activations import sigmoid
from minigan.functional.losses import bce_with_logits

if TYPE_CHECKING:
    from minigan.nn import Module

#: ``penalty(D, real, fake, labels) -> value``: a term of D's loss that adds its own gradient into
#: D's parameter gradients (:func:`minigan.step.d_step` calls it before D's update).
Penalty = Callable[["Module", Any, Any, Any], Any]

__all__ = [
    "ELBO",
    "LOSSES",
    "OBJECTIVES",
    "Hinge",
    "LeastSquares",
    "Minimax",
    "NonSaturating",
    "Objective",
    "Penalty",
    "Wasserstein",
    "WassersteinGP",
    "get_objective",
]


def _bce(logits: Any, target: float) -> tuple[Any, Any]:
    """BCE of ``logits`` against a constant ``target``, through the backend."""
    targets = np.full_like(logits, target)
    return backend.kernel(bce_with_logits, logits)(logits, targets)


def _squared(out: Any, target: int) -> tuple[Any, Any]:
    """``(mean((out - target)^2) / 2, (out - target) / N)``, in the dtype of ``out``."""
    diff = out - target
    return (diff * diff).mean() / 2, diff / out.size


def _mean_of(out: Any, sign: int) -> tuple[Any, Any]:
    """``(sign * mean(out), sign / N)``: the loss of the critic games, linear in D's output."""
    d_out = np.full_like(out, sign) / out.size
    return sign * out.mean(), d_out


class Objective:
    r"""A GAN game: D's loss and G's loss on D's outputs, and their gradients.

    D's loss is a sum of a term on the real batch and a term on the fake batch (true of every
    game here; a gradient penalty is a separate term of the step), so the step can finish each
    batch, forward and backward, before the next: D keeps one cache per layer.

    - :meth:`d_loss_real` ``(real_out) -> (loss, d_real_out)``, :meth:`d_loss_fake`
      ``(fake_out) -> (loss, d_fake_out)``, and their sum :meth:`d_loss`;
    - :meth:`g_loss` ``(fake_out) -> (loss, d_fake_out)``;
    - :attr:`probabilities`: whether ``sigmoid`` of D's output is a probability (then the step
      reports the mean D(x) and D(G(z))); :attr:`critic`: whether D is a critic whose mean
      outputs estimate a Wasserstein distance (then the step reports
      :math:`\mathbb E[D(x)] - \mathbb E[D(G(z))]` as ``wasserstein``);
    - :meth:`constrain` ``(D)``: what the game does to D's weights after each D update
      (nothing, or WGAN's clipping); :meth:`make_penalty` ``(rng)``: the step's ``penalty``
      (None, or WGAN-GP's); :meth:`check_critic` ``(D)``: refuse a D the game cannot train;
    - :attr:`defaults`: the optimisation its paper trains with (optimizer, learning rate,
      betas, D steps per G step), which :class:`minigan.config.TrainConfig` starts from.

    Losses are batch means (floats, or 0-d device arrays on the GPU); gradients have the shape
    and dtype of the outputs.
    """

    name = ""
    probabilities = True
    critic = False
    defaults: Mapping[str, Any] = MappingProxyType(
        {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "n_critic": 1}
    )

    def d_loss_real(self, real_out: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def d_loss_fake(self, fake_out: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def g_loss(self, fake_out: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def d_loss(self, real_out: Any, fake_out: Any) -> tuple[Any, Any, Any]:
        """``(loss, d_real_out, d_fake_out)``: D's whole loss, the sum of its two terms."""
        loss_real, d_real = self.d_loss_real(real_out)
        loss_fake, d_fake = self.d_loss_fake(fake_out)
        return loss_real + loss_fake, d_real, d_fake

    def constrain(self, D: Module) -> None:
        """Called after every update of D; most games leave its weights alone."""

    def make_penalty(self, rng: np.random.Generator | None = None) -> Penalty | None:
        """The penalty the step adds to D's loss (None: no penalty); it draws from ``rng``."""
        return None

    def check_critic(self, D: Module) -> None:
        """Raise a ``ValueError`` that says why, for a D this game cannot train."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NonSaturating(Objective):
    r"""D: :math:`-\mathbb E\log\sigma(a_\text{real}) - \mathbb E\log(1 - \sigma(a_\text{fake}))`;
    G: :math:`-\mathbb E\log\sigma(a_\text{fake})` (the DCGAN paper's choice)."""

    name = "nonsaturating"

    def d_loss_real(self, real_out: Any) -> tuple[Any, Any]:
        return _bce(real_out, 1.0)

    def d_loss_fake(self, fake_out: Any) -> tuple[Any, Any]:
        return _bce(fake_out, 0.0)

    def g_loss(self, fake_out: Any) -> tuple[Any, Any]:
        return _bce(fake_out, 1.0)


class Minimax(NonSaturating):
    r"""D as :class:`NonSaturating`; G: :math:`\mathbb E\log(1 - \sigma(a_\text{fake}))
    = -\,\mathrm{BCE}(a_\text{fake}, 0)`, the original minimax game."""

    name = "minimax"

    def g_loss(self, fake_out: Any) -> tuple[Any, Any]:
        loss, d_fake = _bce(fake_out, 0.0)
        return -loss, -d_fake


class LeastSquares(Objective):
    r"""LSGAN (Mao et al. 2017) with targets :math:`a = 0` (fake), :math:`b = 1` (real) and
    :math:`c = 1` (what G wants D to say); D's output :math:`o` is a score, not a logit:

    .. math::
        L_D = \tfrac12 \mathbb E (o_\text{real} - 1)^2 + \tfrac12 \mathbb E\, o_\text{fake}^2,
        \qquad L_G = \tfrac12 \mathbb E (o_\text{fake} - 1)^2,

    each term :math:`\tfrac12\mathbb E(o - t)^2` with gradient :math:`(o - t)/N`. Unlike BCE's
    :math:`\sigma(a) - 1`, it does not vanish for fakes far on the real side of the boundary
    nor saturate far on the fake side: it grows with the distance to the target. With these
    targets (:math:`b - c = 0`, :math:`b - a = 1`) the paper's analysis gives the Pearson
    :math:`\chi^2` divergence only for :math:`b - c = 1, b - a = 2`; the 0-1-1 choice is the one
    its experiments and most code use.
    """

    name = "lsgan"
    probabilities = False

    def d_loss_real(self, real_out: Any) -> tuple[Any, Any]:
        return _squared(real_out, 1)

    def d_loss_fake(self, fake_out: Any) -> tuple[Any, Any]:
        return _squared(fake_out, 0)

    def g_loss(self, fake_out: Any) -> tuple[Any, Any]:
        return _squared(fake_out, 1)


class Hinge(Objective):
    r"""The hinge game (Lim & Ye 2017; SNGAN, BigGAN):

    .. math::
        L_D = \mathbb E\,\mathrm{relu}(1 - o_\text{real}) + \mathbb E\,\mathrm{relu}(1 + o_\text{fake}),
        \qquad L_G = -\mathbb E\, o_\text{fake}.

    D's gradients are :math:`-[o_\text{real} < 1]/N` and :math:`[o_\text{fake} > -1]/N`: a
    sample already beyond its margin teaches D nothing, so D stops pushing its scores apart.
    G's is :math:`-1/N` for every sample, whatever D says: it never saturates.
    """

    name = "hinge"
    probabilities = False

    def d_loss_real(self, real_out: Any) -> tuple[Any, Any]:
        margin = 1 - real_out
        active = margin > 0
        return (margin * active).mean(), -active.astype(real_out.dtype) / real_out.size

    def d_loss_fake(self, fake_out: Any) -> tuple[Any, Any]:
        margin = 1 + fake_out
        active = margin > 0
        return (margin * active).mean(), active.astype(fake_out.dtype) / fake_out.size

    def g_loss(self, fake_out: Any) -> tuple[Any, Any]:
        return _mean_of(fake_out, -1)


class Wasserstein(Objective):
    r"""WGAN (Arjovsky et al. 2017): D is a critic :math:`f` whose mean scores estimate the
    Wasserstein-1 distance :math:`W = \sup_{\|f\|_L \le 1} \mathbb E f(x) - \mathbb E f(G(z))`
    (Kantorovich-Rubinstein duality), when :math:`f` is kept Lipschitz:

    .. math::
        L_D = \mathbb E f(G(z)) - \mathbb E f(x), \qquad L_G = -\mathbb E f(G(z)),

    with gradients :math:`\pm 1/N` per sample. The Lipschitz bound is enforced crudely by
    clipping every weight of the critic to :math:`[-c, c]` after each of its updates
    (:meth:`constrain`). The paper trains with RMSprop (momentum-based optimizers were unstable
    with clipping), :math:`\eta = 5\cdot10^{-5}`, :math:`c = 0.01`, 5 critic steps per G step.
    """

    name = "wgan"
    probabilities = False
    critic = True
    defaults = MappingProxyType(
        {"optimizer": "rmsprop", "lr": 5e-5, "betas": (0.5, 0.999), "n_critic": 5, "clip": 0.01}
    )

    def __init__(self, clip: float = 0.01) -> None:
        if not 0 < clip < float("inf"):
            raise ValueError(f"{self.name}: clip must be a positive number, got {clip!r}")
        self.clip = float(clip)

    def d_loss_real(self, real_out: Any) -> tuple[Any, Any]:
        return _mean_of(real_out, -1)

    def d_loss_fake(self, fake_out: Any) -> tuple[Any, Any]:
        return _mean_of(fake_out, 1)

    def g_loss(self, fake_out: Any) -> tuple[Any, Any]:
        return _mean_of(fake_out, -1)

    def constrain(self, D: Module) -> None:
        """Clip every parameter of D to ``[-clip, clip]``, in place."""
        for p in D.parameters():
            p.data.clip(-self.clip, self.clip, out=p.data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(clip={self.clip})"


class WassersteinGP(Wasserstein):
    r"""WGAN-GP (Gulrajani et al. 2017): WGAN's losses, and instead of clipping a penalty on
    the critic's input gradient at random points between real and fake samples,
    :math:`\lambda\, \mathbb E (\|\nabla_{\hat x} f(\hat x)\| - 1)^2` (a Lipschitz-1
    critic has gradient norm 1 almost everywhere on the lines between the two distributions):
    :class:`minigan.penalty.GradientPenalty`, whose gradient with respect to the critic's
    weights is a second-order pass written by hand. The penalty is per sample, so the critic
    must not couple the samples of a batch: no BatchNorm (:meth:`check_critic`). Adam
    :math:`(10^{-4}, (0, 0.9))`, :math:`\lambda = 10`, 5 critic steps per G step.
    """

    name = "wgan-gp"
    defaults = MappingProxyType(
        {"optimizer": "adam", "lr": 1e-4, "betas": (0.0, 0.9), "n_critic": 5, "gp_weight": 10.0}
    )

    def __init__(self, gp_weight: float = 10.0) -> None:
        if not 0 < gp_weight < float("inf"):
            raise ValueError(f"{self.name}: gp_weight must be a positive number, got {gp_weight!r}")
        self.gp_weight = float(gp_weight)

    def constrain(self, D: Module) -> None:
        """No clipping: the penalty keeps the critic near Lipschitz 1."""

    def make_penalty(self, rng: np.random.Generator | None = None) -> Penalty:
        from minigan.penalty import GradientPenalty

        return GradientPenalty(self.gp_weight, rng)

    def check_critic(self, D: Module) -> None:
        from minigan.penalty import check_critic

        check_critic(D)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(gp_weight={self.gp_weight})"


class ELBO(Objective):
    r"""Not a game: the variational autoencoder's negative ELBO (``--model vae28``), trained by
    :func:`minigan.vae.vae_step`, to which :func:`minigan.step.train_step` hands it. G is the
    decoder, D the encoder; both minimise the same loss, so there are no D or G losses on D's
    outputs (they raise), no constraint, no penalty, and any encoder is accepted. Adam
    :math:`(10^{-3}, (0.9, 0.999))`, Kingma & Ba's defaults, for both networks.
    """

    name = "elbo"
    probabilities = False
    defaults = MappingProxyType(
        {"optimizer": "adam", "lr": 1e-3, "betas": (0.9, 0.999), "n_critic": 1}
    )

    def _no_game(self, out: Any) -> tuple[Any, Any]:
        raise TypeError("the elbo objective has no loss on D's outputs: use minigan.vae.vae_step")

    d_loss_real = d_loss_fake = g_loss = _no_game


#: Every GAN game by its ``--loss`` name (the toy lab plays each of them).
OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (NonSaturating(), Minimax(), LeastSquares(), Hinge(), Wasserstein(), WassersteinGP())
}
#: Every ``--loss`` of a training run: the games and the VAE's ``elbo``, which is not one.
LOSSES: dict[str, Objective] = {**OBJECTIVES, ELBO.name: ELBO()}


def get_objective(name: str | Objective, **options: Any) -> Objective:
    """The objective named ``name`` (one of :data:`LOSSES`; an :class:`Objective` is returned
    as it is), built with ``options`` if any (``clip=`` for ``wgan``, ``gp_weight=`` for
    ``wgan-gp``); a clear error listing the names for an unknown one."""
    if isinstance(name, Objective):
        return name
    try:
        objective = LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown objective {name!r}; choose one of {tuple(LOSSES)}") from None
    return type(objective)(**options) if options else objective


def mean_probability(out: Any) -> Any:
    """The mean of ``sigmoid(out)``: what D says on average of a batch (through the backend)."""
    return backend.kernel(sigmoid, out)(out).mean()
