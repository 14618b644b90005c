r"""What the lab knows about each GAN objective of :mod:`minigan.objectives`: how the toy trains
it (:data:`TOY_SETTINGS`), how its numbers read (:func:`readout`), and its generator loss as a
function of D's output (:func:`generator_loss_curves`, the ``minigan lab losses`` figure).

**Settings.** The papers' learning rates are tuned for image models trained for days; the
toy's MLPs (:func:`~minigan.lab.toy_gan.toy_mlps`) train in a few thousand steps, so the toy
keeps each objective's optimiser kind, betas and D steps per G step (its ``defaults``; WGAN's
clip 0.01 and WGAN-GP's :math:`\lambda = 10` too) and picks the learning rate by measurement:
``ring8``, seed 0, 3000 iterations, modes covered and off-mode share
(:func:`~minigan.lab.modes.count_modes`) every 500. The BCE games keep the lab's
:math:`10^{-3}`. LSGAN and hinge: :math:`10^{-3}` covers 7 and 8 of 8 modes with 14 % of the
samples off-mode; with the :math:`2\cdot10^{-4}` of their ``defaults`` they are still
converging at step 3000 (35 % and 70 % off-mode). WGAN-GP: :math:`10^{-3}` covers all 8 modes (25 % off-mode);
:math:`5\cdot10^{-4}` 8 (72 %), the paper's :math:`10^{-4}` 1 (98 %). WGAN (RMSprop): none of
:math:`5\cdot10^{-5}` (the paper's), :math:`2\cdot10^{-4}`, :math:`10^{-3}` resolves the modes
(0-1 covered, 93-97 % off-mode: G spreads over the ring, the clipped critic does not resolve
modes 0.05 wide); :math:`2\cdot10^{-4}` had the fewest samples off-mode. The numbers are in
``docs/objectives.md`` ("In the lab").

**Readout.** What ``TrainingLog.value`` is (minus D's loss without the penalty): :math:`V(D, G)`
for the BCE games, the critic's Wasserstein estimate :math:`\mathbb E f(x) - \mathbb E f(G(z))`
for the critics, minus D's loss for the score games; what ``TrainingLog.d_fake`` is (a
probability :math:`\sigma(a)`, a score :math:`o`, a critic score :math:`f`); and their values at
the game's equilibrium :math:`p_g = p_\text{data}` with D optimal, from the objective's own loss
functions at the output D then gives every point (:data:`UNDECIDED`).

**Loss curves.** A sample's generator loss :math:`\ell(o)` and its derivative
:math:`\ell'(o)` as a function of D's output :math:`o` on it (the logit :math:`a` in the BCE
games): ``g_loss`` on a batch of one for :math:`\ell`, and N times the gradient of the batch mean
for :math:`\ell'`, the objective's own code, no formula re-typed.

>>> c = generator_loss_curves(["minimax", "nonsaturating", "wgan"], np.array([-10.0, 0.0, 10.0]))
>>> [f"{abs(g):.2g}" for g in c.grads["minimax"]]        # vanishes where D says "fake"
['4.5e-05', '0.5', '1']
>>> [f"{abs(g):.2g}" for g in c.grads["nonsaturating"]]  # does not
['1', '0.5', '4.5e-05']
>>> c.grads["wgan"]
array([-1., -1., -1.])
>>> r = readout("lsgan")
>>> r.value_eq, r.g_eq                   # -(1/8 + 1/8) and (1/2 - 1)^2 / 2 at D = 1/2
(-0.25, 0.125)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from minigan.objectives import OBJECTIVES, Objective, get_objective

__all__ = [
    "BCE_LOSSES",
    "TOY_SETTINGS",
    "UNDECIDED",
    "LossCurves",
    "Readout",
    "generator_loss_curves",
    "readout",
    "toy_settings",
]

#: The two generator losses of the BCE game (the minimax game's own and the DCGAN paper's).
BCE_LOSSES: tuple[str, ...] = ("nonsaturating", "minimax")

#: Per objective, the toy's optimisation: its optimiser kind, betas and ``n_critic`` as the
#: objective's ``defaults``; the learning rate measured on the toy (module docstring).
TOY_SETTINGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        name: MappingProxyType(
            {
                "optimizer": OBJECTIVES[name].defaults["optimizer"],
                "lr": lr,
                "betas": tuple(OBJECTIVES[name].defaults["betas"]),
                "n_critic": OBJECTIVES[name].defaults["n_critic"],
            }
        )
        for name, lr in {
            "nonsaturating": 1e-3,  # the lab's (docs/minimax.md)
            "minimax": 1e-3,
            "lsgan": 1e-3,  # the papers': 2e-4
            "hinge": 1e-3,  # 2e-4
            "wgan": 2e-4,  # 5e-5
            "wgan-gp": 1e-3,  # 1e-4
        }.items()
    }
)

#: D's output at every point when :math:`p_g = p_\text{data}` and D is optimal, and whether that
#: optimum is unique: logit 0 (:math:`D = 1/2`) for BCE; LSGAN's :math:`D^* = (p_\text{data} +
#: 0\cdot p_g)/(p_\text{data} + p_g) = 1/2`; any :math:`o \in [-1, 1]` for the hinge game; a
#: critic's scores are defined up to a constant (its value there is 0 whatever they are).
UNDECIDED: Mapping[str, tuple[float, bool]] = MappingProxyType(
    {
        "nonsaturating": (0.0, True),
        "minimax": (0.0, True),
        "lsgan": (0.5, True),
        "hinge": (0.0, False),
        "wgan": (0.0, False),
        "wgan-gp": (0.0, False),
    }
)


def toy_settings(objective: str | Objective) -> dict[str, Any]:
    """The toy's optimisation for ``objective`` (a copy of its :data:`TOY_SETTINGS` row; for an
    objective not in the table, its own ``defaults``)."""
    objective = get_objective(objective)
    row = TOY_SETTINGS.get(objective.name, objective.defaults)
    return {k: row[k] for k in ("optimizer", "lr", "betas", "n_critic")}


@dataclass(frozen=True)
class Readout:
    """How the lab names and draws one objective's numbers.

    ``kind``: ``"probability"`` (D's output is a logit, :math:`\\sigma(a)` a probability),
    ``"score"`` (a score on a fixed scale) or ``"critic"`` (a score up to a constant);
    ``value``/``value_label``: the short and long name of ``TrainingLog.value``; ``fake``: the
    name of ``TrainingLog.d_fake``; ``heat``: the label of D's map; ``undecided``: D's output
    when it cannot tell (the centre of its map; None for a critic); ``value_eq``, ``g_eq``: the
    value and the G loss at the equilibrium (None where not unique).
    """

    name: str
    kind: str
    value: str
    value_label: str
    fake: str
    heat: str
    undecided: float | None
    value_eq: float
    g_eq: float | None


def readout(objective: str | Objective) -> Readout:
    """The :class:`Readout` of ``objective`` (a name or an :class:`~minigan.objectives.Objective`)."""
    objective = get_objective(objective)
    name = objective.name
    output, unique = UNDECIDED.get(name, (0.0, False))
    at = np.full((1, 1), output)
    value_eq = 0.0 - float(objective.d_loss(at, at)[0])  # 0.0 - x: no -0.0
    g_eq = float(objective.g_loss(at)[0]) + 0.0 if unique else None
    if objective.probabilities:
        return Readout(
            name, "probability", "V(D,G)", "V(D, G) = -D loss", "D(G(z))", "D(x) = P(real)",
            output, value_eq, g_eq,
        )  # fmt: skip
    if objective.critic:
        return Readout(
            name, "critic", "W est.", "Wasserstein estimate E f(x) - E f(G(z))", "f(G(z))",
            "critic score f(x) (up to a constant)", None, value_eq, None,
        )  # fmt: skip
    return Readout(
        name, "score", "-D loss", "-D loss", "score D(G(z))",
        f"D(x), a score ({output:g}: undecided)", output, value_eq, g_eq,
    )  # fmt: skip


@dataclass
class LossCurves:
    """Per objective name, the per-sample generator loss :math:`\\ell(o)` (``losses``) and its
    derivative :math:`\\ell'(o)` (``grads``) at D's outputs ``outputs`` (n,), float64."""

    outputs: np.ndarray
    losses: dict[str, np.ndarray] = field(default_factory=dict)
    grads: dict[str, np.ndarray] = field(default_factory=dict)

    def groups(self) -> list[list[str]]:
        """The objectives in groups with the same loss curve (the same generator loss)."""
        groups: list[list[str]] = []
        for name in self.losses:
            for group in groups:
                first = group[0]
                if np.allclose(self.losses[first], self.losses[name], rtol=0, atol=1e-12):
                    group.append(name)
                    break
            else:
                groups.append([name])
        return groups


def generator_loss_curves(
    objectives: Sequence[str] = tuple(OBJECTIVES), outputs: np.ndarray | None = None
) -> LossCurves:
    r""":math:`\ell(o)` and :math:`\ell'(o)` of each objective's generator loss at D's outputs
    ``outputs`` (n,) (default 601 points on :math:`[-8, 8]`), in float64.

    ``g_loss(o)`` returns the batch mean :math:`\frac1N\sum_i \ell(o_i)` and its gradient
    :math:`\ell'(o_i)/N`; so :math:`\ell(o_i)` is ``g_loss`` of the batch ``[o_i]`` and
    :math:`\ell'(o_i)` is N times the gradient on the whole batch.
    """
    o = np.linspace(-8.0, 8.0, 601) if outputs is None else np.asarray(outputs, np.float64)
    if o.ndim != 1 or o.size == 0:
        raise ValueError(f"generator_loss_curves: outputs must be (n,) with n >= 1, got {o.shape}")
    curves = LossCurves(o)
    batch = o[:, None]  # (N, 1), D's outputs on N fakes
    for name in objectives:
        objective = get_objective(name)
        _, d_out = objective.g_loss(batch)
        curves.grads[objective.name] = np.asarray(d_out, np.float64)[:, 0] * len(o)
        curves.losses[objective.name] = np.array(
            [float(objective.g_loss(batch[i : i + 1])[0]) for i in range(len(o))]
        )
    return curves
