r"""Three classic mistakes of the G step, measured on the toy ring (``ring8``) against the correct
step, from the same seed: the same initial weights, the same batches.

Each variant calls the real step, :func:`minigan.step.g_step`, and changes one thing:

- :func:`wrong_sign`: the objective passed is :class:`WrongSignG`, whose G loss is D's loss on
  the fakes, :math:`-\mathbb E\log(1 - D(G(z)))`, instead of :math:`-\mathbb E\log D(G(z))`;
- :func:`d_in_g_step`: the optimizer passed holds G's **and D's** parameters (one optimizer over
  both), and D's weight gradients of G's loss are formed in the step (as autograd forms them), so
  the G step also moves D, towards calling the fakes real;
- :func:`zero_grad`: G is passed behind a wrapper whose ``zero_grad()`` does nothing, so each
  step's gradient is added to those of all the steps before.

D's steps are :meth:`ToyGAN.d_step <minigan.lab.ToyGAN.d_step>`, unchanged. Every ``every``
steps a :class:`ToyTrace` records, on probe points drawn once from the run's generator, the mean
distance of G's samples to the nearest mode, the modes covered
(:func:`~minigan.lab.count_modes`), and the mean :math:`D(x)` and :math:`D(G(z))`.

>>> result = wrong_sign(seed=0, steps=20, every=10)
>>> result.right.steps, result.wrong.steps
([0, 10, 20], [0, 10, 20])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from minigan import step
from minigan.functional.activations import sigmoid
from minigan.lab.modes import count_modes
from minigan.lab.toy_gan import ToyGAN, blas_threads
from minigan.objectives import NonSaturating
from minigan.optim import Optimizer, make_optimizer

__all__ = [
    "GradNorms",
    "Row",
    "ToyComparison",
    "ToyTrace",
    "WrongSignG",
    "d_in_g_step",
    "wrong_sign",
    "zero_grad",
]

DIST = "ring8"
PROBES = 1000  # probe points: noise vectors and real points, drawn once per run


class Row(NamedTuple):
    """One line of the table: the mistake, what is measured, the wrong and the right value."""

    mistake: str
    measure: str
    wrong: str
    right: str


class WrongSignG(NonSaturating):
    r"""The BCE game with G minimising **D's** loss on the fakes,
    :math:`-\mathbb E\log(1 - D(G(z)))` (one sign flipped in the minimax
    :math:`\mathbb E\log(1 - D(G(z)))`). G minimising all of D's loss,
    :math:`-\mathbb E\log D(x) - \mathbb E\log(1 - D(G(z)))`, has the same gradient: the real
    term does not depend on G."""

    name = "wrong-sign"

    def g_loss(self, fake_out: Any) -> tuple[Any, Any]:
        return self.d_loss_fake(fake_out)  # correct: _bce(fake_out, 1.0), target "real"


class _NoZeroGrad:
    """G as the step sees it, except that ``zero_grad()`` does nothing (it keeps a copy of the
    gradients it should have cleared, in ``kept``, for :class:`GradNorms`)."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.kept = [np.zeros_like(p.grad) for p in module.parameters()]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def zero_grad(self) -> None:
        """The mistake: the gradients of past steps stay, and the new ones add to them."""
        self.kept = [p.grad.copy() for p in self.module.parameters()]


def _norm(arrays: Iterable[np.ndarray]) -> float:
    """The Euclidean norm of all the arrays together, in float64."""
    return float(np.sqrt(sum(np.sum(np.square(a, dtype=np.float64)) for a in arrays)))


class GradNorms:
    """Wraps an optimizer: before each ``step()`` it records the norm of the gradient it applies
    (``applied``) and of this step's own gradient (``fresh``: the applied one less what
    ``forgetful.kept`` says was left from earlier steps; the applied one when ``forgetful`` is
    None), then steps the wrapped optimizer."""

    def __init__(self, opt: Optimizer, forgetful: _NoZeroGrad | None = None) -> None:
        self.opt, self.params, self.forgetful = opt, opt.params, forgetful
        self.applied: list[float] = []
        self.fresh: list[float] = []

    def step(self) -> None:
        self.applied.append(_norm(p.grad for p in self.params))
        if self.forgetful is None:
            self.fresh.append(self.applied[-1])
        else:
            left = self.forgetful.kept
            self.fresh.append(_norm(p.grad - old for p, old in zip(self.params, left)))
        self.opt.step()


@dataclass
class ToyTrace:
    """One run: at each recorded step, the mean distance of G(z) to the nearest mode, the modes
    covered (of 8), the mean D(x) and D(G(z)) on the probe points; ``samples`` G(z) at the end
    (``PROBES``, 2); ``grads``: the G optimizer's :class:`GradNorms`."""

    steps: list[int] = field(default_factory=list)
    distance: list[float] = field(default_factory=list)
    covered: list[int] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    samples: np.ndarray | None = None
    grads: GradNorms | None = None


@dataclass
class ToyComparison:
    """The correct run and the wrong one; ``row()`` the table's line."""

    name: str
    right: ToyTrace
    wrong: ToyTrace

    def row(self) -> Row:
        def where(t: ToyTrace) -> str:
            return f"{t.distance[-1]:.3g} ({t.covered[-1]} of 8 modes)"

        def said(t: ToyTrace) -> str:
            return f"{t.d_real[-1]:.2f} / {t.d_fake[-1]:.2f}, distance {t.distance[-1]:.3g}"

        def growth(t: ToyTrace) -> str:
            a = t.grads.applied if t.grads else [float("nan")]
            return f"{a[-1] / a[0]:.3g}x (distance {t.distance[-1]:.3g})"

        measure, show = {
            "wrong-sign": ("mean distance of G(z) to the data", where),
            "d-in-g-step": ("mean D(x) / D(G(z)), distance to data", said),
            "zero-grad": (f"‖G's gradient‖ at step {self.right.steps[-1]} / at step 1", growth),
        }[self.name]
        return Row(self.name, measure, show(self.wrong), show(self.right))


def _probe(gan: ToyGAN, trace: ToyTrace, k: int, z: np.ndarray, real: np.ndarray) -> None:
    x = gan.generate(z=z)
    centers = gan.dist.centers
    dist = np.linalg.norm(x[:, None, :].astype(np.float64) - centers[None], axis=2).min(axis=1)
    trace.steps.append(k)
    trace.distance.append(float(dist.mean()))
    trace.covered.append(count_modes(x, centers, gan.dist.std).covered)
    trace.d_real.append(float(np.mean(sigmoid(gan.scores(real)))))
    trace.d_fake.append(float(np.mean(sigmoid(gan.scores(x)))))


def train_variant(
    seed: int,
    steps: int,
    every: int,
    g_step: Callable[[ToyGAN], Any] | None = None,
) -> ToyTrace:
    """A :class:`~minigan.lab.ToyGAN` on ring8 from ``np.random.default_rng(seed)`` (the probe
    points drawn first from it), ``steps`` iterations of its D step then ``g_step(gan)``
    (None: its own G step, the correct one), recorded every ``every`` steps and at the end."""
    if steps < 1 or every < 1:
        raise ValueError(f"train_variant: steps and every must be >= 1, got {steps}, {every}")
    gan = ToyGAN(DIST, "nonsaturating", rng=np.random.default_rng(seed))
    z, real = gan.noise(PROBES), gan.real(PROBES)
    trace = ToyTrace()
    with blas_threads(1):
        _probe(gan, trace, 0, z, real)
        for k in range(1, steps + 1):
            gan.d_step()
            (g_step or ToyGAN.g_step)(gan)
            if k % every == 0 or k == steps:
                _probe(gan, trace, k, z, real)
    trace.samples = gan.generate(z=z)
    return trace


def wrong_sign(seed: int = 0, steps: int = 1000, every: int = 25) -> ToyComparison:
    """G minimising D's loss on the fakes (:class:`WrongSignG`) against the non-saturating G.
    The one difference: ``step.g_step(..., WrongSignG())`` instead of the game's objective."""

    def wrong(gan: ToyGAN) -> None:
        step.g_step(gan.G, gan.D, gan.opt_g, gan.noise(gan.batch), WrongSignG())

    return ToyComparison(
        "wrong-sign", train_variant(seed, steps, every), train_variant(seed, steps, every, wrong)
    )


class _AutogradD:
    """D as an autograd framework runs it in G's step when D's weights require gradients: its
    ``backward_input`` also forms D's weight gradients of G's loss (``D.backward``), which
    minigan's own G step skips because it never uses them."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def backward_input(self, dy: Any) -> Any:
        return self.module.backward(dy)


def d_in_g_step(seed: int = 0, steps: int = 1000, every: int = 25) -> ToyComparison:
    """One optimizer (Adam, the toy's settings) over G's and D's parameters for the G step,
    zeroed before it, against ``opt_G``: ``step.g_step(G, D, opt_both, ...)`` instead of
    ``step.g_step(G, D, opt_G, ...)``, with D's weight gradients of G's loss formed in the step
    (:class:`_AutogradD`, as autograd forms them), so that they move D too."""
    both: dict[int, Optimizer] = {}

    def wrong(gan: ToyGAN) -> None:
        if id(gan) not in both:
            s = gan.settings
            params = gan.G.parameters() + gan.D.parameters()
            both[id(gan)] = make_optimizer(s["optimizer"], params, s["lr"], s["betas"])
        both[id(gan)].zero_grad()
        D = _AutogradD(gan.D)
        step.g_step(gan.G, D, both[id(gan)], gan.noise(gan.batch), gan.objective)  # type: ignore[arg-type]

    return ToyComparison(
        "d-in-g-step", train_variant(seed, steps, every), train_variant(seed, steps, every, wrong)
    )


def zero_grad(seed: int = 0, steps: int = 1000, every: int = 25) -> ToyComparison:
    """G's gradients never zeroed, against the correct step; both record the norm of the
    gradient G's optimizer applies at every step (:class:`GradNorms`). The one difference:
    ``step.g_step(_NoZeroGrad(G), ...)``: the step's ``G.zero_grad()`` does nothing, so the
    gradient applied at step k is the sum of the gradients of steps 1..k."""
    recorders: dict[bool, GradNorms] = {}

    def g_step(forget: bool) -> Callable[[ToyGAN], None]:
        def run(gan: ToyGAN) -> None:
            if forget not in recorders:
                G = _NoZeroGrad(gan.G) if forget else None
                recorders[forget] = GradNorms(gan.opt_g, G)
            G = recorders[forget].forgetful or gan.G
            step.g_step(G, gan.D, recorders[forget], gan.noise(gan.batch), gan.objective)

        return run

    right = train_variant(seed, steps, every, g_step(False))
    wrong = train_variant(seed, steps, every, g_step(True))
    right.grads, wrong.grads = recorders[False], recorders[True]
    return ToyComparison("zero-grad", right, wrong)
