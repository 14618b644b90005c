r"""Finite-difference gradient checks, public so that users can check their own layers.

For a module ``f`` with input ``x``, parameters ``w`` and a random upstream gradient ``dy``, take
the scalar :math:`L = \langle f(x; w), dy \rangle`. Its exact gradients are what ``backward(dy)``
returns (``dx``) and accumulates (``w.grad``). Central differences estimate them:

.. math::
    \frac{\partial L}{\partial u_i} \approx \frac{L(u + h e_i) - L(u - h e_i)}{2h},

with error :math:`O(h^2)` from truncation and :math:`O(\varepsilon_{mach} |L| / h)` from rounding;
in float64 with :math:`h = 10^{-6}` both sit far below the 1e-6 tolerance. Large arrays are checked
along random directions :math:`r` instead (:math:`\langle \nabla L, r\rangle` against the
difference quotient along :math:`r`), one forward pair per direction rather than per element.

The error reported for each array is ``max|numeric - analytic| / max(max|numeric|,
max|analytic|, 1)``: relative to the gradient's scale when that is above 1, absolute below it, so
that a gradient which is zero by structure (a bias feeding a BatchNorm) is not judged by
rounding noise divided by zero.

Each forward pass must compute the same function: random generators found on the modules
(Dropout's) are rewound to their state before every pass, and buffers (BatchNorm's running
statistics) are restored afterwards.

>>> import numpy as np
>>> from minigan import nn
>>> report = check_module(nn.Linear(3, 2).to(np.float64), np.ones((4, 3)))
>>> report.passed, sorted(report.errors)
(True, ['bias', 'input', 'weight'])
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from minigan.nn.module import Module

DEFAULT_TOLERANCE = 1e-6
ELEMENTWISE_LIMIT = 2000  # arrays larger than this are checked along random directions


@dataclass
class GradcheckReport:
    """The result of a check: max relative error per array (``input`` and parameter names)."""

    name: str
    shapes: str
    errors: dict[str, float] = field(default_factory=dict)
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self) -> bool:
        return self.max_error <= self.tolerance


def relative_error(numeric: np.ndarray, analytic: np.ndarray) -> float:
    """``max|numeric - analytic| / max(max|numeric|, max|analytic|, 1)``."""
    scale = max(float(np.abs(numeric).max(initial=0)), float(np.abs(analytic).max(initial=0)))
    return float(np.abs(numeric - analytic).max(initial=0)) / max(scale, 1.0)


def numeric_gradient(
    f: Callable[[], float], u: np.ndarray, h: float = 1e-6, directions: int = 0, rng=None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Central-difference gradient of ``f()`` with respect to ``u``, which ``f`` reads and this
    function perturbs in place (and restores).

    With ``directions == 0`` returns ``(gradient, None)``, one pair of evaluations per element.
    Otherwise returns ``(slopes, R)``: ``R`` has ``directions`` random unit rows ``r`` and
    ``slopes[k]`` estimates the directional derivative along ``R[k]``; compare it with
    ``R @ grad.ravel()``.
    """
    flat = u.reshape(-1)  # a view: writes reach u
    if directions == 0:
        grad = np.zeros(u.size)
        for i in range(u.size):
            saved = flat[i]
            flat[i] = saved + h
            plus = f()
            flat[i] = saved - h
            minus = f()
            flat[i] = saved
            grad[i] = (plus - minus) / (2 * h)
        return grad.reshape(u.shape), None
    rng = np.random.default_rng(0) if rng is None else rng
    R = rng.standard_normal((directions, u.size))
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    saved = flat.copy()
    slopes = np.zeros(directions)
    for k, r in enumerate(R):
        flat[:] = saved + h * r
        plus = f()
        flat[:] = saved - h * r
        minus = f()
        slopes[k] = (plus - minus) / (2 * h)
    flat[:] = saved
    return slopes, R


def _compare(f, u, analytic, h, rng) -> float:
    if u.size <= ELEMENTWISE_LIMIT:
        numeric, _ = numeric_gradient(f, u, h)
        return relative_error(numeric, analytic)
    slopes, R = numeric_gradient(f, u, h, directions=8, rng=rng)
    return relative_error(slopes, R @ analytic.ravel())


def _generators(module: Module) -> list[np.random.Generator]:
    return [
        v for m in module.modules() for v in vars(m).values() if isinstance(v, np.random.Generator)
    ]


def check_module(
    module: Module,
    x: np.ndarray,
    h: float = 1e-6,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
    name: str | None = None,
) -> GradcheckReport:
    """Check ``module.backward`` against central differences at input ``x`` (use float64).

    Reports the error of ``dx`` (as ``input``) and of every parameter's gradient.
    """
    if x.dtype != np.float64 or module.dtype not in (None, np.float64):
        raise TypeError(
            "check_module needs float64 inputs and parameters: call module.to(np.float64)"
        )
    rng = np.random.default_rng(seed)
    generator_states = [copy.deepcopy(g.bit_generator.state) for g in _generators(module)]
    buffers = {k: np.array(v, copy=True) for k, v in module.named_buffers()}

    def rewind() -> None:
        for g, state in zip(_generators(module), generator_states):
            g.bit_generator.state = copy.deepcopy(state)
        for k, v in module.named_buffers():
            v[...] = buffers[k]

    x = x.copy()
    rewind()
    y = module.forward(x)
    dy = rng.standard_normal(y.shape)
    module.zero_grad()
    dx = module.backward(dy)
    analytic = {"input": dx} | {k: p.grad.copy() for k, p in module.named_parameters()}
    arrays = {"input": x} | {k: p.data for k, p in module.named_parameters()}

    def loss() -> float:
        rewind()
        return float(np.vdot(module.forward(x), dy))

    report = GradcheckReport(
        name or type(module).__name__,
        f"x{tuple(x.shape)} -> y{tuple(y.shape)}",
        tolerance=tolerance,
    )
    for key, u in arrays.items():
        report.errors[key] = _compare(loss, u, analytic[key], h, rng)
    rewind()
    return report


def check_second_order(
    module: Module,
    x: np.ndarray,
    h: float = 1e-6,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
    name: str | None = None,
) -> GradcheckReport:
    """Check ``module.input_grad`` and ``module.tangent`` (the second-order pass of a gradient
    penalty) against central differences at input ``x`` (use float64).

    With random ``dy`` (``y``'s shape) and ``v`` (``x``'s shape), take
    ``S(w) = <v, input_grad(dy)>``: ``tangent(v)`` must add ``dS/dw`` into each parameter's
    gradient (reported under its name; a bias gets 0) and return the derivative of the forward
    along ``v``, ``(f(x + h v) - f(x - h v)) / 2h`` (reported as ``tangent``); ``input_grad``
    itself must add nothing (its largest addition is reported as ``input_grad``).
    """
    if x.dtype != np.float64 or module.dtype not in (None, np.float64):
        raise TypeError(
            "check_second_order needs float64 inputs and parameters: call module.to(np.float64)"
        )
    rng = np.random.default_rng(seed)
    states = [copy.deepcopy(g.bit_generator.state) for g in _generators(module)]

    def run(u: np.ndarray) -> np.ndarray:  # the same Dropout masks every time
        for g, state in zip(_generators(module), states):
            g.bit_generator.state = copy.deepcopy(state)
        return module.forward(u)

    x = x.copy()
    y = run(x)
    dy, v = rng.standard_normal(y.shape), rng.standard_normal(x.shape)
    module.zero_grad()
    module.input_grad(dy)
    added = max((float(np.abs(p.grad).max(initial=0)) for p in module.parameters()), default=0.0)
    tangent = module.tangent(v)
    analytic = {k: p.grad.copy() for k, p in module.named_parameters()}

    def inner() -> float:
        run(x)
        return float(np.vdot(v, module.input_grad(dy)))

    report = GradcheckReport(
        name or type(module).__name__,
        f"x{tuple(x.shape)} -> y{tuple(y.shape)}",
        tolerance=tolerance,
    )
    report.errors["input_grad"] = added
    report.errors["tangent"] = relative_error((run(x + h * v) - run(x - h * v)) / (2 * h), tangent)
    for key, p in module.named_parameters():
        report.errors[key] = _compare(inner, p.data, analytic[key], h, rng)
    run(x)
    return report


def check_loss(
    loss_fn: Callable[..., tuple],
    x: np.ndarray,
    *args,
    h: float = 1e-6,
    tolerance: float = DEFAULT_TOLERANCE,
    name: str | None = None,
) -> GradcheckReport:
    """Check a loss ``loss_fn(x, *args) -> (loss, dx, ...)`` against central differences in ``x``."""
    x = x.copy()
    _, dx, *_ = loss_fn(x, *args)
    report = GradcheckReport(name or loss_fn.__name__, f"x{tuple(x.shape)}", tolerance=tolerance)
    report.errors["input"] = _compare(lambda: loss_fn(x, *args)[0], x, dx, h, None)
    return report


def _away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in +-[0.1, 1]: ReLU and LeakyReLU have a kink at 0, where differences straddle it."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)


def suite(seed: int = 0) -> list[GradcheckReport]:
    """Check every layer and loss on random small shapes (what ``minigan gradcheck`` prints)."""
    from minigan import losses, nn
    from minigan.vae import gradcheck_cases as vae_cases

    rng = np.random.default_rng(seed)
    r = lambda *shape: rng.standard_normal(shape)  # noqa: E731
    n = int(rng.integers(2, 5))

    def layer(module: Module, x: np.ndarray, name: str, train: bool = True) -> GradcheckReport:
        module.to(np.float64).train(train)
        for b in ("running_mean", "running_var"):
            if not train and hasattr(module, b):
                getattr(module, b)[...] = rng.uniform(0.5, 1.5, module.num_features)
        return check_module(module, x, name=name)

    c, o, s = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(5, 9))
    gen = np.random.default_rng(seed)
    reports = [
        layer(nn.Linear(5, 3, rng=gen), r(n, 5), "Linear(5, 3)"),
        layer(nn.Conv2d(c, o, 3, 2, 1, rng=gen), r(n, c, s, s), f"Conv2d({c}, {o}, 3, 2, 1)"),
        layer(nn.Conv2d(c, o, 2, 1, 0, rng=gen), r(n, c, s, s), f"Conv2d({c}, {o}, 2, 1, 0)"),
        layer(
            nn.ConvTranspose2d(c, o, 4, 2, 1, rng=gen),
            r(n, c, 3, 3),
            f"ConvTranspose2d({c}, {o}, 4, 2, 1)",
        ),
        layer(
            nn.ConvTranspose2d(c, o, 3, 2, 1, 1, rng=gen),
            r(n, c, 3, 3),
            "ConvTranspose2d(out_pad=1)",
        ),
        layer(nn.BatchNorm1d(4), r(n, 4), "BatchNorm1d train"),
        layer(nn.BatchNorm1d(4), r(n, 4), "BatchNorm1d eval", train=False),
        layer(nn.BatchNorm2d(c), r(n, c, 3, 3), "BatchNorm2d train"),
        layer(nn.BatchNorm2d(c), r(n, c, 3, 3), "BatchNorm2d eval", train=False),
        layer(nn.ReLU(), _away_from_zero(rng, (n, 6)), "ReLU"),
        layer(nn.LeakyReLU(0.2), _away_from_zero(rng, (n, 6)), "LeakyReLU(0.2)"),
        layer(nn.Tanh(), r(n, 6), "Tanh"),
        layer(nn.Sigmoid(), r(n, 6), "Sigmoid"),
        layer(nn.Dropout(0.3, rng=gen), r(n, 6), "Dropout(0.3)"),
        layer(nn.Flatten(), r(n, 2, 3, 3), "Flatten"),
        layer(nn.Reshape(2, 3), r(n, 6), "Reshape(2, 3)"),
        check_loss(losses.bce_with_logits, r(n, 1) * 3, rng.integers(0, 2, (n, 1)).astype(float)),
        check_loss(losses.bce, rng.uniform(0.05, 0.95, (n, 1)), rng.uniform(0, 1, (n, 1))),
        check_loss(losses.softmax_cross_entropy, r(n, 5), rng.integers(0, 5, n)),
    ]
    reports += _objective_checks(rng, n)
    reports += _second_order_checks(rng, n)
    reports += _embedding_checks(rng, n)
    reports += _pooling_checks(rng, n)
    for name, shapes, arrays in vae_cases(rng, n):  # the VAE's terms, its whole negative ELBO
        reports.append(GradcheckReport(name, shapes, {k: _compare(*c, 1e-6, rng) for k, c in arrays.items()}))  # fmt: skip
    return reports


def _second_order_checks(rng: np.random.Generator, n: int) -> list[GradcheckReport]:
    """Each layer's second-order pass (:func:`check_second_order`), then the whole WGAN-GP
    penalty's weight gradients on a small conv critic against differences of its value (the
    same interpolation weights for every evaluation)."""
    from minigan import nn
    from minigan.penalty import GradientPenalty

    r = lambda *shape: rng.standard_normal(shape)  # noqa: E731
    gen = np.random.default_rng(int(rng.integers(2**31)))
    layers = [
        (nn.Linear(5, 3, rng=gen), r(n, 5), "Linear(5, 3)"),
        (nn.Conv2d(2, 3, 4, 2, 1, rng=gen), r(n, 2, 6, 6), "Conv2d(2, 3, 4, 2, 1)"),
        (nn.ConvTranspose2d(2, 3, 4, 2, 1, rng=gen), r(n, 2, 3, 3), "ConvTranspose2d(2, 3, 4)"),
        (nn.ReLU(), _away_from_zero(rng, (n, 6)), "ReLU"),
        (nn.LeakyReLU(0.2), _away_from_zero(rng, (n, 6)), "LeakyReLU(0.2)"),
        (nn.Dropout(0.3, rng=gen), r(n, 6), "Dropout(0.3)"),
        (nn.Flatten(), r(n, 2, 3, 3), "Flatten"),
        (nn.Reshape(2, 3), r(n, 6), "Reshape(2, 3)"),
    ]
    reports = [
        check_second_order(m.to(np.float64), x, name=f"{label} 2nd order") for m, x, label in layers
    ]
    D = nn.Sequential(
        nn.Conv2d(1, 2, 4, 2, 1, rng=gen), nn.LeakyReLU(0.2), nn.Conv2d(2, 3, 3, 1, 1, rng=gen),
        nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(27, 1, rng=gen),
    ).to(np.float64)  # fmt: skip
    real, fake, seed = r(n, 1, 6, 6), r(n, 1, 6, 6), int(rng.integers(2**31))
    penalty = lambda: GradientPenalty(10.0, np.random.default_rng(seed))(D, real, fake)  # noqa: E731
    D.zero_grad()
    penalty()
    analytic = {k: p.grad.copy() for k, p in D.named_parameters()}
    report = GradcheckReport("GradientPenalty(conv critic)", f"x{real.shape} -> (N, 1)")
    for key, p in D.named_parameters():
        report.errors[key] = _compare(penalty, p.data, analytic[key], 1e-6, rng)
    return [*reports, report]


def _embedding_checks(rng: np.random.Generator, n: int) -> list[GradcheckReport]:
    """``nn.Embedding``'s weight gradient (repeated indices), then a conditional G's and a
    projection D's gradients (:func:`minigan.nn.conditional.gradcheck_cases`)."""
    from minigan import nn
    from minigan.nn.conditional import gradcheck_cases

    emb = nn.Embedding(4, 3, dtype=np.float64, rng=rng)
    idx = np.concatenate([rng.integers(0, 4, (n, 2)), [[1, 1]]])  # row 1 at least twice
    dy = rng.standard_normal((*idx.shape, 3))
    emb.forward(idx)
    emb.backward(dy)
    numeric, _ = numeric_gradient(lambda: float(np.vdot(emb.forward(idx), dy)), emb.weight.data)
    report = GradcheckReport("Embedding(4, 3)", f"idx{idx.shape} -> y{dy.shape}")
    report.errors["weight"] = relative_error(numeric, emb.weight.grad)
    cases = gradcheck_cases(rng, n)
    return [report, *(check_module(m, x, name=name) for m, x, name in cases)]


def _objective_checks(rng: np.random.Generator, n: int) -> list[GradcheckReport]:
    """Each objective's three terms (D's on real and on fake outputs, G's) against central
    differences, one report per objective; and RMSprop's update against its formula."""
    from minigan.functional.rmsprop import rmsprop_update
    from minigan.objectives import OBJECTIVES

    reports = []
    for name, objective in OBJECTIVES.items():
        out = rng.uniform(-3, 3, (n, 1))
        out[np.abs(np.abs(out) - 1) < 0.05] += 0.1  # away from the hinge's kinks at +-1
        report = GradcheckReport(f"objective {name}", f"D out{out.shape}")
        for term in ("d_loss_real", "d_loss_fake", "g_loss"):
            report.errors[term] = check_loss(getattr(objective, term), out).max_error
        reports.append(report)
    # RMSprop, three steps: w - lr g / (sqrt(v) + eps) with v the running mean of g^2
    w, v = rng.standard_normal(5), np.zeros(5)
    expected, mean_square = w.copy(), np.zeros(5)
    for _ in range(3):
        g = rng.standard_normal(5)
        rmsprop_update(w, g, v, 0.01, 0.99, 1e-8)
        mean_square = 0.99 * mean_square + 0.01 * g**2
        expected -= 0.01 * g / (np.sqrt(mean_square) + 1e-8)
    report = GradcheckReport("RMSprop update, 3 steps", "w(5,) vs its formula")
    report.errors["weight"] = relative_error(expected, w)
    return [*reports, report]


def _pooling_checks(rng: np.random.Generator, n: int) -> list[GradcheckReport]:
    """Max pooling (on values without ties) and average pooling, each also overlapping and
    padded (:func:`minigan.nn.pooling.gradcheck_cases`)."""
    from minigan.nn.pooling import gradcheck_cases

    return [check_module(m, x, name=name) for m, x, name in gradcheck_cases(rng, n)]


def format_table(reports: list[GradcheckReport]) -> str:
    """A Markdown table: layer, shapes, max relative error, pass/fail."""
    rows = ["| layer | shapes | max rel. error | result |", "|---|---|---|---|"]
    for rep in reports:
        verdict = "pass" if rep.passed else f"FAIL (> {rep.tolerance:g})"
        rows.append(f"| {rep.name} | {rep.shapes} | {rep.max_error:.2e} | {verdict} |")
    return "\n".join(rows)
