r"""Statements 1-3 of the GAN theory, each checked with numbers from a run.

With :math:`V(D, G) = \mathbb E_{p_\text{data}} \log D(x) + \mathbb E_{p_g} \log(1 - D(x))`:

1. **Optimal discriminator.** For fixed G, :math:`V` is maximised pointwise by
   :math:`D^*(x) = p_\text{data}(x) / (p_\text{data}(x) + p_g(x))`
   (:func:`check_optimal_d`: train D against a fixed Gaussian G and compare on a grid).
2. **Value at the optimum.** :math:`V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}(p_\text{data} \| p_g)`
   (:func:`check_value`: JSD by the trapezoid rule on the known densities, against Monte Carlo
   estimates of :math:`V` with the exact :math:`D^*` and with a trained D).
3. **Saturation.** The per-sample generator gradients of the two losses differ by the factor
   :math:`D/(1-D) = e^{a}` (:func:`~minigan.lab.toy_gan.point_gradients`), so the minimax one
   vanishes while D rejects the fakes (:func:`measure_saturation`).

The data are ``gmm1d`` (means -2, 0, 2; std 0.25; weights 1/4, 1/2, 1/4); a "generator" held
fixed is a 1-D Gaussian :math:`\mathcal N(\mu, s^2)` (:func:`gaussian`), a sampler with a density.
D trains in float32, the engine's default; densities, integrals and
estimates are float64.

>>> p, q = gaussian(0.0, 1.0), gaussian(0.0, 1.0)
>>> x = np.linspace(-10, 10, 2001)
>>> round(jsd(p.density(x), q.density(x), x), 12), float(optimal_discriminator(p, q, x)[0])
(0.0, 0.5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from minigan import step
from minigan.data.toy import GaussianMixture, ToyDistribution, get_toy
from minigan.functional.activations import sigmoid
from minigan.lab.toy_gan import ToyGAN, blas_threads, point_gradients, toy_mlps
from minigan.nn import Module
from minigan.optim import SGD, Adam

__all__ = [
    "LOG4",
    "OPTIMAL_D_TOL",
    "VALUE_TOL",
    "OptimalDResult",
    "SaturationRun",
    "ValueResult",
    "check_optimal_d",
    "check_value",
    "default_generators",
    "discriminator_prob",
    "gaussian",
    "jsd",
    "measure_saturation",
    "optimal_discriminator",
    "train_discriminator",
    "value_estimate",
]

LOG4 = math.log(4.0)
#: Statement 1: the largest |D - D*| allowed where p_data + p_g > 0.05, after 3000 steps.
OPTIMAL_D_TOL = 0.05
#: Statement 2: the largest |V(trained D, G) - (-log 4 + 2 JSD)| allowed (nats).
VALUE_TOL = 0.02
#: The 1-D grid on which densities are integrated and D is compared with D*.
GRID = np.linspace(-8.0, 8.0, 16001)


def gaussian(mean: float, std: float) -> GaussianMixture:
    """A fixed 1-D "generator" :math:`\\mathcal N(\\text{mean}, \\text{std}^2)`."""
    return GaussianMixture([[mean]], std, name=f"N({mean:g}, {std:g}^2)")


def optimal_discriminator(
    p_data: ToyDistribution, p_g: ToyDistribution, x: np.ndarray
) -> np.ndarray:
    r""":math:`D^*(x) = p_\text{data}(x) / (p_\text{data}(x) + p_g(x))` at 1-D points ``x`` (n,)
    (1/2 where both densities vanish). Maximising :math:`f(D) = p \log D + q \log(1 - D)` over
    :math:`D \in (0, 1)`, with :math:`p = p_\text{data}(x)` and :math:`q = p_g(x)`, gives
    :math:`D = p / (p + q)`; V integrates this pointwise.
    """
    p, q = p_data.density(x), p_g.density(x)
    total = p + q
    return np.divide(p, total, out=np.full_like(total, 0.5), where=total > 0)


def jsd(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    r"""Jensen-Shannon divergence (nats) of densities ``p``, ``q`` tabulated on the grid ``x``:
    :math:`\tfrac12 \int p \log\frac{2p}{p+q} + \tfrac12 \int q \log\frac{2q}{p+q}`, by the
    trapezoid rule (:math:`0 \log 0 = 0`). It lies in :math:`[0, \log 2]`.
    """
    m = (p + q) / 2

    def kl_term(a: np.ndarray) -> np.ndarray:
        ratio = np.divide(a, m, out=np.ones_like(a), where=a > 0)
        return a * np.log(ratio)

    f = 0.5 * (kl_term(p) + kl_term(q))
    return float(np.sum((f[1:] + f[:-1]) * np.diff(x)) / 2)


def train_discriminator(
    data: ToyDistribution,
    gen: ToyDistribution,
    rng: np.random.Generator,
    steps: int = 2000,
    batch: int = 512,
    hidden: int = 64,
    lr: float = 3e-3,
    dtype=np.float32,
) -> Module:
    r"""Train a D (1-``hidden``-``hidden``-1 MLP of ``dtype``) to maximise V against a fixed G:
    Adam on fresh batches from both each step, its learning rate decayed linearly to 1 %
    of ``lr`` so that the final D averages out the batch noise. Returns D (logits).
    """
    _, D = toy_mlps(data.dim, hidden=hidden, dtype=dtype, rng=rng)
    opt = Adam(D.parameters(), lr=lr, betas=(0.9, 0.999))
    with blas_threads(1):
        for i in range(steps):
            opt.lr = lr * (1 - 0.99 * i / steps)
            real, fake = data.sample(batch, rng), gen.sample(batch, rng)
            step.d_step(D, opt, real.astype(dtype), fake.astype(dtype))
    return D


def discriminator_prob(D: Module, x: np.ndarray) -> np.ndarray:
    """:math:`D(x) = \\sigma(a(x))`, D's logit :math:`a` squashed, at 1-D points ``x`` (n,), as
    float64 (n,)."""
    logits = D(np.asarray(x, D.dtype).reshape(len(x), -1))[:, 0].astype(np.float64)
    return sigmoid(logits)


@dataclass
class OptimalDResult:
    """Statement 1 on ``grid``: the trained ``D`` (a module), its probabilities ``d`` and the exact
    ``d_star``; ``region`` is where
    :math:`p_\\text{data} + p_g` exceeds ``threshold``; ``max_gap`` the largest
    :math:`|D - D^*|` there.
    """

    D: Module
    grid: np.ndarray
    d: np.ndarray
    d_star: np.ndarray
    p_data: np.ndarray
    p_g: np.ndarray
    region: np.ndarray
    threshold: float
    max_gap: float


def check_optimal_d(
    rng: np.random.Generator,
    gen: ToyDistribution | None = None,
    steps: int = 3000,
    threshold: float = 0.05,
) -> OptimalDResult:
    """Train D against the fixed G ``gen`` (default :math:`\\mathcal N(0, 1)`) on ``gmm1d`` with
    :func:`train_discriminator` and compare it with :math:`D^*` on the grid x in [-5, 5], step
    0.01, where :math:`p_\\text{data} + p_g` > ``threshold``.
    """
    data, gen = get_toy("gmm1d"), gaussian(0.0, 1.0) if gen is None else gen
    D = train_discriminator(data, gen, rng, steps=steps)
    x = np.linspace(-5.0, 5.0, 1001)
    d, d_star = discriminator_prob(D, x), optimal_discriminator(data, gen, x)
    p, q = data.density(x), gen.density(x)
    region = p + q > threshold
    gap = float(np.abs(d - d_star)[region].max())
    return OptimalDResult(D, x, d, d_star, p, q, region, threshold, gap)


def value_estimate(data_prob: np.ndarray, fake_prob: np.ndarray) -> tuple[float, float]:
    r"""Monte Carlo :math:`\hat V = \overline{\log D(x_\text{real})} + \overline{\log(1 - D(x_\text{fake}))}`
    from D's probabilities at real and fake samples, with its standard error
    :math:`\sqrt{s_r^2/n_r + s_f^2/n_f}`.
    """
    a, b = np.log(data_prob), np.log1p(-fake_prob)
    return float(a.mean() + b.mean()), float(math.sqrt(a.var() / a.size + b.var() / b.size))


@dataclass
class ValueResult:
    """Statement 2 for one fixed G ``gen``: ``theory`` :math:`= -\\log 4 + 2\\,\\mathrm{JSD}`
    (``jsd`` by integration); Monte Carlo estimates of V with the exact D* (``exact``,
    ``exact_se``) and with a trained D (``trained``, ``trained_se``; NaN when not trained).
    """

    gen: ToyDistribution
    jsd: float
    theory: float
    exact: float
    exact_se: float
    trained: float
    trained_se: float


def default_generators() -> list[ToyDistribution]:
    """The fixed G's of statement 2: p_data itself (JSD 0), then Gaussians ever farther away."""
    return [
        get_toy("gmm1d"),
        gaussian(0.0, 1.0),
        gaussian(0.0, 0.3),
        gaussian(2.0, 0.25),
        gaussian(4.0, 0.5),
    ]


def check_value(
    rng: np.random.Generator,
    gens: list[ToyDistribution] | None = None,
    n: int = 200_000,
    steps: int = 3000,
) -> list[ValueResult]:
    """For each fixed G in ``gens`` (default :func:`default_generators`), compare
    :math:`-\\log 4 + 2\\,\\mathrm{JSD}` with V estimated from ``n`` samples of each
    distribution, using D* and a D trained for ``steps`` steps (``steps=0``: D* only).
    """
    data = get_toy("gmm1d")
    results = []
    for gen in default_generators() if gens is None else gens:
        div = jsd(data.density(GRID), gen.density(GRID), GRID)
        real, fake = data.sample(n, rng)[:, 0], gen.sample(n, rng)[:, 0]
        exact = value_estimate(
            optimal_discriminator(data, gen, real), optimal_discriminator(data, gen, fake)
        )
        trained = (math.nan, math.nan)
        if steps > 0:
            D = train_discriminator(data, gen, rng, steps=steps)
            trained = value_estimate(discriminator_prob(D, real), discriminator_prob(D, fake))
        results.append(ValueResult(gen, div, -LOG4 + 2 * div, *exact, *trained))
    return results


@dataclass
class SaturationRun:
    """Statement 3 for one training ``loss``: at each step (0 = D warmed up, G untouched), the
    mean per-sample gradient norms at the generated points of both losses, and the mean D(G(z)).
    """

    loss: str
    optimizer: str
    norm_minimax: list[float] = field(default_factory=list)
    norm_nonsaturating: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)


def measure_saturation(
    seed: int = 0,
    dist: str = "ring8",
    optimizer: str = "sgd",
    warmup: int = 300,
    steps: int = 200,
    n: int = 512,
    lr_sgd: float = 0.01,
) -> dict[str, SaturationRun]:
    """For each generator loss: build a :class:`~minigan.lab.toy_gan.ToyGAN` (float64) from
    ``np.random.default_rng(seed)``, train D alone for ``warmup`` steps so that it rejects the
    fakes, then train both for ``steps`` steps with that loss, measuring before each step
    :math:`\\overline{\\|\\partial\\ell/\\partial x\\|}` for *both* losses on ``n`` fixed noise
    draws. Both runs share the warmed-up state (same seed).

    ``optimizer`` is G's: ``"sgd"`` (learning rate ``lr_sgd``), whose steps are proportional
    to the gradient, so a vanishing gradient stalls G; or ``"adam"`` (the toy default), which
    divides by the gradient's running RMS and so moves G even on a tiny gradient.
    """
    if optimizer not in ("sgd", "adam"):
        raise ValueError(
            f"measure_saturation: optimizer must be 'sgd' or 'adam', got {optimizer!r}"
        )
    runs = {}
    with blas_threads(1):
        for loss in ("minimax", "nonsaturating"):
            rng = np.random.default_rng(seed)
            gan = ToyGAN(dist, loss, rng=rng, dtype=np.float64)
            if optimizer == "sgd":
                gan.opt_g = SGD(gan.G.parameters(), lr=lr_sgd)
            for _ in range(warmup):
                gan.d_step()
            z = gan.noise(n)
            run = SaturationRun(loss, optimizer)
            for k in range(steps + 1):
                x = gan.generate(z=z)
                logits, g_mm = point_gradients(gan.D, x, "minimax")
                _, g_ns = point_gradients(gan.D, x, "nonsaturating")
                run.norm_minimax.append(float(np.linalg.norm(g_mm, axis=1).mean()))
                run.norm_nonsaturating.append(float(np.linalg.norm(g_ns, axis=1).mean()))
                run.d_fake.append(float(np.mean(sigmoid(logits))))
                if k < steps:
                    gan.d_step()
                    gan.g_step()
            runs[loss] = run
    return runs
