r"""One training iteration of a GAN, written once: :class:`minigan.train.Trainer`, the toy lab
(:class:`minigan.lab.ToyGAN`) and every benchmark run this code.

The game (:mod:`minigan.objectives` has the losses and their derivations):

.. math::
    \min_G \max_D\; V(D, G) = \mathbb E_{x \sim p_\text{data}} \log D(x)
        + \mathbb E_{z \sim \mathcal N(0, I)} \log\big(1 - D(G(z))\big).

An iteration is ``len(real)`` **D steps** (one per real batch; one for a single batch), then one
**G step**. Everything is computed by hand, the chain rule written out:

- D step: for the real batch, then for a fake batch ``G(z)``: D's outputs, the objective's term
  of D's loss and its gradient on them, ``D.backward_params`` (the gradients add up in D's
  parameters); an optional ``penalty`` adds its own; ``opt_D.step()``; the objective's
  ``constrain(D)`` (WGAN's weight clipping).
- G step: fresh noise through G and the updated D; the objective's G loss and its gradient on
  D's output; ``D.backward_input`` turns it into the gradient on the images (D's weight
  gradients are not formed), ``G.backward_params`` into G's parameter gradients;
  ``opt_G.step()``.

**Conditional models** take ``labels`` (one label batch per real batch): G and D are then
called as ``G.forward(z, y)`` and ``D.forward(x, y)``, and the fakes of both steps are asked
for the classes of the real batch. Labels are data: no gradient flows into them.

**A penalty** on D, ``penalty(D, real, fake, labels) -> value``, runs after D's backward passes
and before its update: it adds the gradient of its value into D's parameter gradients itself
and returns the value, which ``loss_D`` includes (and ``"penalty"`` reports).

Values come back as the objective computes them: Python floats on the host, 0-d arrays on the
GPU (the step never waits for the device; ``float()`` does).

>>> import numpy as np
>>> from minigan import models, optim
>>> G, D = models.mlp_gan(z_dim=4, rng=np.random.default_rng(0))
>>> opt_G, opt_D = optim.Adam(G.parameters(), 2e-4), optim.Adam(D.parameters(), 2e-4)
>>> rng = np.random.default_rng(1)
>>> real = rng.uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)
>>> noise = lambda n: rng.standard_normal((n, 4), dtype=np.float32)
>>> sorted(train_step(G, D, opt_G, opt_D, real, noise))
['D_G_z', 'D_x', 'loss_D', 'loss_G']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from minigan.objectives import Objective, Penalty, get_objective, mean_probability
from minigan.vae import vae_step

if TYPE_CHECKING:
    from minigan.nn import Module
    from minigan.optim import Optimizer

__all__ = ["Penalty", "as_floats", "d_step", "g_step", "train_step"]


def _run(model: Module, x: Any, labels: Any) -> Any:
    """``model.forward(x)``, or ``model.forward(x, labels)`` for a conditional model."""
    return model.forward(x) if labels is None else model.forward(x, labels)


def d_step(
    D: Module,
    opt_D: Optimizer,
    real: Any,
    fake: Any,
    objective: Objective | str = "nonsaturating",
    *,
    labels: Any = None,
    penalty: Penalty | None = None,
) -> dict[str, Any]:
    r"""One update of D on a ``real`` and a ``fake`` batch (both data here: no input gradient).

    After the update, ``objective.constrain(D)`` (WGAN clips D's weights). Returns ``loss_D``
    (with the penalty, if any), ``penalty`` (if any), for objectives whose D outputs a
    probability ``D_x`` and ``D_G_z`` (the mean D(x) and D(G(z)) of the two batches), and for
    critics ``wasserstein``, :math:`\mathbb E[D(x)] - \mathbb E[D(G(z))]`.
    """
    objective = get_objective(objective)
    # ---------------------------------------------------------------------------------------
    # D: maximise  E log D(x) + E log(1 - D(G(z)))  (the objective's D loss, minimised)
    # zero_grad drops the last D step's gradients (the G step forms none). D caches only its last
    # forward, so each batch goes forward then backward at once; the two backward passes add
    # into D's gradients.
    # ---------------------------------------------------------------------------------------
    D.zero_grad()
    real_out = _run(D, real, labels)  # (N, 1)
    loss_real, d_real_out = objective.d_loss_real(real_out)
    D.backward_params(d_real_out)  # dloss_D / dW from the real batch ...
    fake_out = _run(D, fake, labels)  # (N, 1)
    loss_fake, d_fake_out = objective.d_loss_fake(fake_out)
    D.backward_params(d_fake_out)  # ... plus the fake batch's
    loss_D = loss_real + loss_fake
    record: dict[str, Any] = {}
    if penalty is not None:
        record["penalty"] = penalty(D, real, fake, labels)
        loss_D = loss_D + record["penalty"]
    opt_D.step()
    objective.constrain(D)  # e.g. WGAN's weight clipping
    record["loss_D"] = loss_D
    if objective.probabilities:
        record["D_x"] = mean_probability(real_out)
        record["D_G_z"] = mean_probability(fake_out)
    if objective.critic:  # the critic's estimate of the Wasserstein distance
        record["wasserstein"] = real_out.mean() - fake_out.mean()
    return record


def g_step(
    G: Module,
    D: Module,
    opt_G: Optimizer,
    z: Any,
    objective: Objective | str = "nonsaturating",
    *,
    labels: Any = None,
) -> dict[str, Any]:
    """One update of G on noise ``z`` (N, z_dim); returns ``loss_G`` and ``D_out``, D's outputs
    on the fakes (N, 1). D runs ``backward_input``: its weight gradients are neither formed nor
    touched.
    """
    objective = get_objective(objective)
    # ---------------------------------------------------------------------------------------
    # G: minimise the objective's G loss on D(G(z)), e.g. -E log D(G(z)) (non-saturating)
    # ---------------------------------------------------------------------------------------
    G.zero_grad()
    fake = _run(G, z, labels)  # (N, C, H, W)
    fake_out = _run(D, fake, labels)  # (N, 1)
    loss_G, d_fake_out = objective.g_loss(fake_out)
    d_fake = D.backward_input(d_fake_out)  # dloss_G / dfake (N, C, H, W); no dW of D
    G.backward_params(d_fake)  # dloss_G / dW of G; the noise is data, so no dz
    opt_G.step()
    return {"loss_G": loss_G, "D_out": fake_out}


def train_step(
    G: Module,
    D: Module,
    opt_G: Optimizer,
    opt_D: Optimizer,
    real: Any,
    noise: Callable[[int], Any],
    objective: Objective | str = "nonsaturating",
    *,
    labels: Any = None,
    penalty: Penalty | None = None,
) -> dict[str, Any]:
    """One iteration: a :func:`d_step` per real batch, then a :func:`g_step`.

    ``real`` is one batch (N, ...) or a sequence of them (one D step each: ``n_critic``);
    ``labels`` matches it (a batch, or a sequence of batches) or is None. ``noise(n)`` draws
    ``z`` (n, z_dim) on the device of ``real``, once for each step. Returns the last D step's
    record (see :func:`d_step`) and ``loss_G``. For the ``elbo`` objective (``vae28``) it is
    :func:`minigan.vae.vae_step` on the last batch instead: ``loss``, ``recon``, ``kl``.
    """
    objective = get_objective(objective)
    batches = [real] if hasattr(real, "shape") else list(real)
    if objective.name == "elbo":  # a VAE: G the decoder, D the encoder (minigan.vae)
        return vae_step(G, D, opt_G, opt_D, batches[-1], noise)
    if labels is None or hasattr(labels, "shape"):
        label_batches = [labels] * len(batches)
    else:
        label_batches = list(labels)
    if not batches or len(label_batches) != len(batches):
        raise ValueError(
            f"train_step: need one label batch per real batch, got {len(batches)} real and "
            f"{len(label_batches)} label batches"
        )
    for x, y in zip(batches, label_batches):
        fake = _run(G, noise(len(x)), y)  # G(z): a constant for D
        record = d_step(D, opt_D, x, fake, objective, labels=y, penalty=penalty)
    g = g_step(G, D, opt_G, noise(len(batches[-1])), objective, labels=label_batches[-1])
    record["loss_G"] = g["loss_G"]
    return record


def as_floats(record: dict[str, Any]) -> dict[str, float]:
    """A step's record with every value a Python float (fetched from the GPU if needed)."""
    return {name: float(value) for name, value in record.items()}
