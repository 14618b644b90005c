"""The figures of the theory checks (``minigan lab ...``), one function per statement, and
the generator losses of every objective side by side (``minigan lab losses``).

Each takes the result of its check and a path, writes a PNG and returns the path; matplotlib is
imported inside the functions (the ``plot`` extra).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from minigan.data.toy import get_toy
from minigan.lab.games import LossCurves
from minigan.lab.modes import ModeRun
from minigan.lab.theory import GRID, VALUE_TOL, OptimalDResult, SaturationRun, ValueResult

__all__ = ["plot_generator_losses", "plot_modes", "plot_optimal_d", "plot_saturation", "plot_value"]

#: One colour per objective, in every figure.
COLORS = {
    "nonsaturating": "#1f77b4",
    "minimax": "#d62728",
    "lsgan": "#2ca02c",
    "hinge": "#9467bd",
    "wgan": "#ff7f0e",
    "wgan-gp": "#8c564b",
}


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kwargs):
    """A figure (off-screen canvas) and its (nrows, ncols) array of axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_optimal_d(result: OptimalDResult, path: str | Path) -> Path:
    """Statement 1: the densities (top), the trained D and D* with the compared region (bottom)."""
    fig, axes = _figure(7.5, 6.0, 2, 1, sharex=True, height_ratios=[1, 1.3])
    ax_p, ax_d = axes[:, 0]
    x = result.grid
    ax_p.plot(x, result.p_data, color="#1a1a1a", label="p_data (gmm1d)")
    ax_p.plot(x, result.p_g, color="#ff7f0e", label="p_g (fixed G)")
    ax_p.set(ylabel="density", title="Statement 1: the optimal discriminator")
    ax_p.legend(fontsize=8)
    ax_d.fill_between(
        x,
        0,
        1,
        where=result.region,
        color="#dddddd",
        alpha=0.6,
        lw=0,
        label=f"compared: p_data + p_g > {result.threshold:g}",
    )
    ax_d.plot(x, result.d_star, color="#1b7837", lw=2.5, label="D*(x) = p_data / (p_data + p_g)")
    ax_d.plot(x, result.d, color="#762a83", lw=1.2, ls="--", label="trained D(x)")
    ax_d.set(
        xlabel="x",
        ylabel="D(x)",
        ylim=(-0.02, 1.02),
        title=f"max |D - D*| on the compared region = {result.max_gap:.3f}",
    )
    ax_d.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def plot_value(results: Sequence[ValueResult], path: str | Path) -> Path:
    """Statement 2: the fixed G's against p_data (left); the estimates of V against
    -log 4 + 2 JSD (middle); their residuals with the tolerance (right).
    """
    fig, axes = _figure(15, 4.2, 1, 3, width_ratios=[1.1, 1, 1])
    ax_p, ax_v, ax_r = axes[0]
    data = get_toy("gmm1d")
    x = GRID[(GRID > -4) & (GRID < 6)]
    ax_p.fill_between(x, data.density(x), color="#cccccc", label="p_data (gmm1d)")
    names = [f"G{i + 1}" for i in range(len(results))]
    for i, r in enumerate(results):
        name = "p_data" if r.gen.name == data.name else r.gen.name
        ax_p.plot(
            x,
            r.gen.density(x),
            color=f"C{i}",
            ls="--" if i == 0 else "-",
            label=f"{names[i]} = {name}",
        )
    ax_p.set(xlabel="x", ylabel="density", title="data and the fixed generators")
    ax_p.legend(fontsize=8)
    js = np.linspace(0, math.log(2), 50)
    ax_v.plot(js, -math.log(4) + 2 * js, color="#1a1a1a", lw=1, label="-log 4 + 2 JSD")
    for i, r in enumerate(results):
        ax_v.plot(r.jsd, r.exact, "o", mfc="none", ms=9, color=f"C{i}")
        ax_v.plot(r.jsd, r.trained, "x", ms=7, color=f"C{i}")
    ax_v.plot([], [], "o", mfc="none", color="gray", label="V(D*, G), Monte Carlo")
    ax_v.plot([], [], "x", color="gray", label="V(trained D, G)")
    ax_v.set(
        xlabel="JSD(p_data || p_g), nats, by integration",
        ylabel="V",
        title="Statement 2: V(D*, G) = -log 4 + 2 JSD",
    )
    ax_v.legend(fontsize=8, loc="upper left")
    ax_r.axhspan(-VALUE_TOL, VALUE_TOL, color="#eeeeee", label=f"tolerance ±{VALUE_TOL}")
    ax_r.axhline(0, color="#1a1a1a", lw=1)
    pos = np.arange(len(results))
    ax_r.errorbar(
        pos - 0.1,
        [r.exact - r.theory for r in results],
        yerr=[2 * r.exact_se for r in results],
        fmt="o",
        mfc="none",
        capsize=3,
        color="#1b7837",
        label="D* (exact), ± 2 se",
    )
    ax_r.errorbar(
        pos + 0.1,
        [r.trained - r.theory for r in results],
        yerr=[2 * r.trained_se for r in results],
        fmt="x",
        capsize=3,
        color="#762a83",
        label="trained D, ± 2 se",
    )
    ax_r.set(xticks=pos, xticklabels=names, ylabel="estimate - (-log 4 + 2 JSD)", title="residuals")
    ax_r.legend(fontsize=8, loc="lower left")
    for ax in (ax_v, ax_r):
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_saturation(runs: dict[str, SaturationRun], path: str | Path) -> Path:
    """Statement 3: per training loss, both gradient norms on a log axis over the first steps."""
    fig, axes = _figure(11, 4.4, 1, len(runs), sharey=True)
    optimizer_names = {"sgd": "SGD", "adam": "Adam"}
    for ax, (loss, run) in zip(axes[0], runs.items()):
        steps = np.arange(len(run.norm_minimax))
        ax.semilogy(
            steps, run.norm_minimax, color="#d62728", label="minimax: ‖∂ log(1 - D(x)) / ∂x‖"
        )
        ax.semilogy(
            steps,
            run.norm_nonsaturating,
            color="#1f77b4",
            label="non-saturating: ‖∂ -log D(x) / ∂x‖",
        )
        ax.semilogy(steps, run.d_fake, color="#555555", ls=":", label="mean D(G(z))")
        ax.set(
            xlabel="step (after D was trained to reject the fakes)",
            title=f"G trained with the {loss} loss ({optimizer_names[run.optimizer]})",
        )
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("mean per-sample norm at x = G(z)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return _save(fig, path)


def plot_modes(runs: Sequence[ModeRun], path: str | Path) -> Path:
    """Statement 4: modes covered and off-mode share over training, per dist and loss."""
    dists = list(dict.fromkeys(r.dist for r in runs))
    fig, grid = _figure(5.5 * len(dists), 6.5, 2, len(dists), sharex=True)
    for col, dist in enumerate(dists):
        k = len(get_toy(dist).centers)
        ax_c, ax_o = grid[0, col], grid[1, col]
        for run in (r for r in runs if r.dist == dist):
            kw = {"color": COLORS.get(run.loss, "k"), "alpha": 0.8, "lw": 1.2}
            label = run.loss if run.seed == min(r.seed for r in runs) else None
            ax_c.plot(run.steps, run.covered, label=label, **kw)
            ax_o.plot(run.steps, run.off_mode, **kw)
        ax_c.set(title=f"{dist}: modes covered (of {k}), one line per seed", ylim=(-0.5, k + 0.5))
        ax_o.set(xlabel="step", ylabel="share of samples near no mode", ylim=(0, 1))
        ax_c.legend(fontsize=8, loc="center right")
        for ax in (ax_c, ax_o):
            ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_generator_losses(curves: LossCurves, path: str | Path) -> Path:
    """Each generator loss (left) and the size of its derivative on a log axis (right) against
    D's output on a fake sample; objectives with the same G loss share one line."""
    fig, axes = _figure(12, 4.6, 1, 2)
    ax_l, ax_g = axes[0]
    o = curves.outputs
    for group in curves.groups():
        name = group[0]
        kw = {"color": COLORS.get(name, "k"), "lw": 2, "label": ", ".join(group)}
        ax_l.plot(o, curves.losses[name], **kw)
        ax_g.semilogy(o, np.abs(curves.grads[name]), **kw)
    ax_l.set(
        ylabel="per-sample G loss ℓ(o)",
        title="generator losses",
        ylim=(-8, 8),
    )
    ax_g.set(
        ylabel="|dℓ/do|, per sample (N × the batch-mean gradient)",
        title="how hard each loss pushes a fake, by what D says of it",
        ylim=(1e-4, 20),
    )
    for ax in (ax_l, ax_g):
        ax.axvline(0, color="#888888", lw=0.8)
        ax.grid(alpha=0.3, which="both")
        ax.set_xlabel("D's output o on a fake: the logit a (BCE games), the score (others)")
        ax.annotate("D says fake", (0.03, 0.03), xycoords="axes fraction", fontsize=8)
        ax.annotate("D says real", (0.97, 0.03), xycoords="axes fraction", fontsize=8, ha="right")
    if "lsgan" in curves.losses:
        ax_g.axvline(1, color=COLORS["lsgan"], lw=0.8, ls=":")
        ax_g.annotate(" lsgan's target o = 1", (1, 12), color=COLORS["lsgan"], fontsize=8)
    ax_l.legend(fontsize=8, loc="upper right")
    return _save(fig, path)
