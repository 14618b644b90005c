r"""The classic GAN mistakes, each measured next to the correct version (``minigan lab mistakes``).

Each experiment is seeded, runs in seconds on a CPU, and returns a result whose :meth:`row`
gives the number the wrong version reaches and the same number for the correct one. The toy
mistakes are variants of the one G step of :func:`minigan.step.g_step`: each variant calls the
real step and changes one thing, named in its docstring. ``docs/mistakes.md`` has the wrong code
and the figures; symbols as in ``docs/notation.md`` (:math:`a` a logit, :math:`t` a target).

=============== ============================================================================
``bce``         :math:`-\log\sigma(a)` and :math:`-\log(1-\sigma(a))` computed from a float32
                sigmoid: where the loss becomes inf and its gradient NaN (:func:`bce_overflow`)
``wrong-sign``  G minimises D's loss on the fakes: it moves away from what D calls real
``batchnorm``   sampling with BatchNorm in training mode: one z, a different image per batch
``d-in-g-step`` the G step's optimizer also moves D
``saturation``  the minimax G loss, SGD, a confident D (:func:`minigan.lab.measure_saturation`)
``zero-grad``   G's gradients never zeroed: they add up over the steps
=============== ============================================================================

>>> a = np.array([0.0, 10.0, 17.0], np.float32)
>>> naive = naive_bce_terms(a)
>>> naive["loss_fake"]  # -log(1 - sigmoid(a)): already off at a = 10, inf at 17
array([0.6931472, 9.999586 ,       inf], dtype=float32)
>>> naive["grad_fake"]  # its chain-rule gradient: NaN where the true one is 1
array([0.5      , 0.9999546,       nan], dtype=float32)
>>> stable_bce_terms(a)["loss_fake"]  # bce_with_logits
array([ 0.6931472, 10.000046 , 17.       ], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigan import models, nn
from minigan.functional.activations import sigmoid
from minigan.functional.losses import bce, bce_with_logits
from minigan.lab.mistakes_toy import Row, ToyComparison, d_in_g_step, wrong_sign, zero_grad
from minigan.lab.theory import SaturationRun, measure_saturation

__all__ = [
    "MISTAKES",
    "BCEResult",
    "BatchNormResult",
    "Row",
    "SaturationResult",
    "batchnorm_sampling",
    "bce_overflow",
    "first_float32",
    "naive_bce_terms",
    "run_mistake",
    "saturation",
    "stable_bce_terms",
]


# --- 1. a sigmoid, then a separate log ----------------------------------------------------------


def naive_bce_terms(a: np.ndarray) -> dict[str, np.ndarray]:
    r"""The two BCE terms as tutorials write them, per logit ``a`` (any shape, float32 here):
    ``p = 1 / (1 + exp(-a))``, then ``loss_real`` :math:`= -\log p` (target 1) and ``loss_fake``
    :math:`= -\log(1 - p)` (target 0), with the gradients an autograd takes through the two
    steps: :math:`\partial\ell/\partial p \cdot \partial p/\partial a`, i.e.
    ``grad_real = (-1/p) * (p*(1-p))`` and ``grad_fake = (1/(1-p)) * (p*(1-p))``.

    In float32, ``1 - p`` rounds to 0 once :math:`e^{-a} < 2^{-24}` (:math:`a > 16.6`) and ``p``
    to 0 once ``exp(-a)`` overflows (:math:`a < -88.7`): log gives inf and the gradient
    :math:`\infty \cdot 0` = NaN. The true values are :math:`\log(1+e^{\mp a})` and
    :math:`\sigma(a) - t`, finite everywhere.
    """
    one = a.dtype.type(1)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        p = one / (one + np.exp(-a))  # sigmoid, then ...
        dp = p * (one - p)
        return {
            "loss_real": -np.log(p),  # ... a separate log
            "loss_fake": -np.log(one - p),
            "grad_real": (-one / p) * dp,
            "grad_fake": (one / (one - p)) * dp,
        }


def stable_bce_terms(a: np.ndarray, loss: Callable = bce_with_logits) -> dict[str, np.ndarray]:
    """The same four arrays from ``loss(logits, targets) -> (mean, d_logits)`` called on each
    logit alone (so the mean is the per-sample loss and ``d_logits`` its gradient):
    :func:`~minigan.functional.losses.bce_with_logits` by default; ``bce`` on ``sigmoid(a)`` is
    the clamped patch (:func:`bce_overflow`)."""
    flat = a.reshape(-1)
    out = {k: np.empty_like(flat) for k in ("loss_real", "loss_fake", "grad_real", "grad_fake")}
    for i, ai in enumerate(flat):
        x = ai.reshape(1)
        for t, name in ((1, "real"), (0, "fake")):
            value, grad = loss(x, np.full(1, t, a.dtype))
            out[f"loss_{name}"][i], out[f"grad_{name}"][i] = value, grad[0]
    return {k: v.reshape(a.shape) for k, v in out.items()}


def _clamped_bce(a: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    """:func:`~minigan.functional.losses.bce` (clamped to ``[1e-7, 1 - 1e-7]``) on the sigmoid,
    its gradient taken through the sigmoid: ``d_logits = d_probs * p (1 - p)``."""
    p = sigmoid(a)
    value, d_p = bce(p, t)
    return value, d_p * p * (1 - p)


def first_float32(bad: Callable[[np.ndarray], bool], start: float, stop: float) -> float:
    """The float32 number closest to ``start`` between ``start`` and ``stop`` (same sign, or 0)
    at which ``bad`` (of a float32 array of one element) is first true, by bisection over the
    ordered float32 bit patterns; ``bad`` must stay true from there on. NaN if it never is.

    >>> first_float32(lambda x: bool(x[0] >= 2.5), 0.0, 10.0)
    2.5
    """
    lo, hi = (np.array([v], np.float32).view(np.int32)[0] for v in (abs(start), abs(stop)))
    sign = -1 if min(start, stop) < 0 else 1
    at = lambda bits: np.array([bits], np.int32).view(np.float32) * np.float32(sign)  # noqa: E731
    if not bad(at(hi)):
        return float("nan")
    while hi - lo > 1:
        mid = (int(lo) + int(hi)) // 2
        lo, hi = (lo, mid) if bad(at(mid)) else (mid, hi)
    return float(at(lo if bad(at(lo)) else hi)[0])


@dataclass
class BCEResult:
    """Where each version of the BCE terms breaks in float32 (NaN: nowhere it was looked), and
    the curves of the figure on ``grid``."""

    inf_fake: float  # first a > 0 with -log(1 - sigmoid(a)) = inf (naive)
    nan_grad_fake: float  # first a > 0 with a NaN gradient of it (naive)
    inf_real: float  # first a < 0 with -log(sigmoid(a)) = inf (naive)
    nan_grad_real: float
    zero_grad_clamped: float  # first a < 0 where the clamped -log sigmoid has gradient 0
    stable_finite: bool  # bce_with_logits finite, gradient finite, at every grid logit and ±max
    grid: np.ndarray
    naive: dict[str, np.ndarray]
    stable: dict[str, np.ndarray]
    clamped: dict[str, np.ndarray]

    def row(self) -> Row:
        return Row(
            "bce",
            "first float32 logit with loss inf / grad NaN",
            f"a = {self.inf_fake:.4f} (-log(1-p)), {self.inf_real:.2f} (-log p)",
            "never (finite at all float32 a)" if self.stable_finite else "NOT FINITE",
        )


def bce_overflow(grid: np.ndarray | None = None) -> BCEResult:
    r"""Find, in float32, the logit at which each naive term of :func:`naive_bce_terms` first
    gives inf and its gradient NaN; the clamped patch (``bce`` with ``eps = 1e-7`` on the
    sigmoid) stays finite but its gradient is exactly 0 beyond :math:`|a| \approx 16`, where
    the true one, :math:`\sigma(a) - t`, is :math:`\mp 1`; ``bce_with_logits`` is finite with
    the right gradient on the whole ``grid`` (default -120 to 120) and at :math:`\pm` the
    largest float32."""
    grid = np.linspace(-120, 120, 2401, dtype=np.float32) if grid is None else grid
    naive = lambda key: lambda x: bool(~np.isfinite(naive_bce_terms(x)[key][0]))  # noqa: E731
    clamped_zero = lambda x: bool(stable_bce_terms(x, _clamped_bce)["grad_real"][0] == 0)  # noqa: E731
    extremes = np.array([-np.finfo(np.float32).max, np.finfo(np.float32).max], np.float32)
    stable = stable_bce_terms(grid)
    ends = stable_bce_terms(extremes)
    finite = all(np.isfinite(v).all() for d in (stable, ends) for v in d.values())
    right = np.allclose(stable["grad_real"], sigmoid(grid) - 1, atol=1e-6)
    return BCEResult(
        inf_fake=first_float32(naive("loss_fake"), 0.0, 1e4),
        nan_grad_fake=first_float32(naive("grad_fake"), 0.0, 1e4),
        inf_real=first_float32(naive("loss_real"), 0.0, -1e4),
        nan_grad_real=first_float32(naive("grad_real"), 0.0, -1e4),
        zero_grad_clamped=first_float32(clamped_zero, 0.0, -1e4),
        stable_finite=finite and right,
        grid=grid,
        naive=naive_bce_terms(grid),
        stable=stable,
        clamped=stable_bce_terms(grid, _clamped_bce),
    )


# --- 3. BatchNorm in training mode when sampling ----------------------------------------------


@dataclass
class BatchNormResult:
    """The image of one noise vector with ``len(train_images)`` sets of batch-mates, in train
    mode and in eval mode (N, 1, 28, 28); the mean absolute pixel change from the first
    set, averaged over the others, and its max; the image scale (mean absolute pixel);
    ``by_batch``: batch size -> mean change in train mode."""

    train_images: np.ndarray
    eval_images: np.ndarray
    train_change: float
    train_max: float
    eval_change: float
    eval_max: float
    scale: float
    by_batch: dict[int, float]
    trained: bool = False

    def row(self) -> Row:
        return Row(
            "batchnorm",
            "mean |Δpixel| of one z, batch-mates redrawn",
            f"{self.train_change:.3g} (max {self.train_max:.2f})",
            f"{self.eval_change:g} (max {self.eval_max:g})",
        )


def batchnorm_sampling(
    rng: np.random.Generator,
    G: nn.Module | None = None,
    z_dim: int | None = None,
    batch: int = 16,
    redraws: int = 6,
    warmup: int = 30,
    sizes: tuple[int, ...] = (2, 4, 8, 16, 32, 64),
) -> BatchNormResult:
    """One noise vector ``z0`` put first in ``redraws`` batches of ``batch`` with fresh
    batch-mates: in training mode BatchNorm normalises with the batch's statistics, so
    ``G(z0)`` changes with its batch-mates; in eval mode it uses the running statistics and does
    not change at all.

    ``G`` (with its ``z_dim``) is a trained generator with BatchNorm, e.g. of a DCGAN-28 run
    (``minigan lab mistakes --generator RUN_DIR``); it is given back as it came (mode, running
    statistics). Without it, DCGAN-28's G **untrained** (DCGAN initialisation from ``rng``), its
    running statistics set by ``warmup`` forward passes of 64 noise vectors in training mode
    (what training would also do; no data is needed)."""
    if batch < 2 or redraws < 2 or warmup < 0 or min(sizes, default=0) < 2:
        raise ValueError(
            "batchnorm_sampling: need batch >= 2, redraws >= 2, warmup >= 0 and batch sizes "
            f">= 2, got batch={batch}, redraws={redraws}, warmup={warmup}, sizes={sizes}"
        )
    trained = G is not None
    if G is None:
        G, _ = models.dcgan28(rng=rng)
        z_dim = G[0].weight.shape[1]
    elif z_dim is None or not any(
        isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in G.modules()
    ):
        raise ValueError(
            "batchnorm_sampling: a generator given needs its z_dim and BatchNorm layers (the "
            "mistake is BatchNorm's); train one with --model dcgan28"
        )
    noise = lambda n: rng.standard_normal((n, z_dim), dtype=np.float32)  # noqa: E731
    if not trained:
        for _ in range(warmup):
            G.forward(noise(64))
    before = (G.training, {k: v.copy() for k, v in G.state_dict().items()})
    z0 = noise(1)
    mates = [noise(batch - 1) for _ in range(redraws)]
    images = {}
    for mode in ("train", "eval"):
        G.train(mode == "train")
        images[mode] = np.stack([G.forward(np.concatenate([z0, m]))[0] for m in mates])
    change = {m: np.abs(im[1:] - im[:1]) for m, im in images.items()}
    G.train()
    by_batch = {}
    for n in sizes:
        pair = [G.forward(np.concatenate([z0, noise(n - 1)]))[0] for _ in range(2)]
        by_batch[n] = float(np.abs(pair[0] - pair[1]).mean())
    G.train(before[0])
    G.load_state_dict(before[1])  # train-mode passes moved the running statistics: put back
    return BatchNormResult(
        images["train"],
        images["eval"],
        float(change["train"].mean()),
        float(change["train"].max()),
        float(change["eval"].mean()),
        float(change["eval"].max()),
        float(np.abs(images["eval"][0]).mean()),
        by_batch,
        trained,
    )


# --- 5. the minimax G loss with SGD from a confident D --------------------------------------------


@dataclass
class SaturationResult:
    """:func:`minigan.lab.measure_saturation` with SGD (its runs, unchanged), read at its last
    step: the minimax run is the mistake, the non-saturating one the correct loss."""

    runs: dict[str, SaturationRun]

    def row(self) -> Row:
        mm, ns = self.runs["minimax"], self.runs["nonsaturating"]
        k = len(mm.d_fake) - 1
        return Row(
            "saturation",
            f"mean D(G(z)) after {k} steps (‖∂ℓ/∂x‖ at step 0)",
            f"{mm.d_fake[-1]:.2g} ({mm.norm_minimax[0]:.2g})",
            f"{ns.d_fake[-1]:.2g} ({ns.norm_nonsaturating[0]:.2g})",
        )


def saturation(seed: int = 0, steps: int = 50) -> SaturationResult:
    """The lab's saturation check (``minigan lab saturation``, ``docs/minimax.md`` section 3):
    D trained alone 300 steps on ring8 until it rejects the fakes, then ``steps`` steps of G
    with SGD, once with each loss."""
    return SaturationResult(measure_saturation(seed, optimizer="sgd", warmup=300, steps=steps))


#: The mistakes in the table's order: name -> ``f(seed, steps)``; ``steps`` is the number of
#: toy iterations (the saturation check runs at most 50 of them after its warm-up; the BCE
#: scan and BatchNorm's G take none).
#: name -> ``f(seed, steps, generator)``; ``generator`` is None or a trained ``(G, z_dim)``.
MISTAKES: dict[str, Callable[[int, int, Any], Any]] = {
    "bce": lambda seed, steps, generator: bce_overflow(),
    "wrong-sign": lambda seed, steps, generator: wrong_sign(seed, steps),
    "batchnorm": lambda seed, steps, generator: batchnorm_sampling(
        np.random.default_rng(seed), *((None, None) if generator is None else generator)
    ),
    "d-in-g-step": lambda seed, steps, generator: d_in_g_step(seed, steps),
    "saturation": lambda seed, steps, generator: saturation(seed, min(steps, 50)),
    "zero-grad": lambda seed, steps, generator: zero_grad(seed, steps),
}


def run_mistake(
    name: str,
    seed: int = 0,
    steps: int = 1000,
    generator: tuple[nn.Module, int] | None = None,
) -> BCEResult | ToyComparison | BatchNormResult | SaturationResult:
    """Run one experiment of :data:`MISTAKES`; its ``row()`` is its line of the table.
    ``generator``, a trained ``(G, z_dim)`` with BatchNorm, replaces the untrained G of the
    ``batchnorm`` experiment (see :func:`batchnorm_sampling`)."""
    if name not in MISTAKES:
        raise ValueError(f"run_mistake: unknown mistake {name!r}; choose from {list(MISTAKES)}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"run_mistake: steps must be an integer >= 1, got {steps!r}")
    return MISTAKES[name](seed, steps, generator)
