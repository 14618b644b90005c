"""The figures of ``minigan lab mistakes``: one PNG per mistake, ``mistakes_<name>.png``
(``-`` in the name written ``_``), from the result of :func:`minigan.lab.mistakes.run_mistake`.

matplotlib is imported inside the functions (the ``plot`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from minigan.data.toy import get_toy
from minigan.lab.figures import _figure, _save, plot_saturation
from minigan.lab.mistakes import BatchNormResult, BCEResult, SaturationResult
from minigan.lab.mistakes_toy import DIST, ToyComparison

__all__ = ["figure_path", "plot_batchnorm", "plot_bce", "plot_mistake", "plot_toy"]

WRONG, RIGHT, CLAMPED = "#d62728", "#1f77b4", "#ff7f0e"


def figure_path(out: str | Path, name: str) -> Path:
    """Where the figure of mistake ``name`` goes in directory ``out``."""
    return Path(out) / f"mistakes_{name.replace('-', '_')}.png"


def plot_bce(result: BCEResult, path: str | Path) -> Path:
    """Both BCE terms (top) and their gradients (bottom) against the float32 logit: naive,
    clamped and ``bce_with_logits``; where the naive one is inf or NaN it is simply not drawn,
    and the dotted lines mark where that starts."""
    fig, axes = _figure(11, 6.5, 2, 2, sharex=True)
    a = result.grid
    for col, (term, where, title) in enumerate(
        (
            ("real", result.inf_real, "target 1 (real; G's non-saturating loss): -log σ(a)"),
            ("fake", result.inf_fake, "target 0 (fake): -log(1 - σ(a))"),
        )
    ):
        for row, kind in enumerate(("loss", "grad")):
            ax, key = axes[row, col], f"{kind}_{term}"
            ax.plot(a, result.stable[key], color=RIGHT, lw=3, alpha=0.6, label="bce_with_logits")
            ax.plot(a, result.clamped[key], color=CLAMPED, ls="--", label="bce, p clamped to 1e-7")
            ax.plot(a, result.naive[key], color=WRONG, label="sigmoid, then log (naive)")
            ax.axvline(where, color=WRONG, ls=":", lw=1)
            ax.grid(alpha=0.3)
        axes[0, col].set(title=title, ylabel="per-sample loss")
        axes[0, col].annotate(
            f" naive: inf from a = {where:.2f},\n gradient NaN ",
            (where, 0.55),
            xycoords=("data", "axes fraction"),
            ha="left" if where < 0 else "right",
            fontsize=8,
            color=WRONG,
        )
        axes[1, col].set(xlabel="logit a (float32)", ylabel="dℓ/da")
    axes[1, 0].annotate(
        f" clamped: gradient 0 from a = {result.zero_grad_clamped:.1f}",
        (result.zero_grad_clamped, 0.3),
        xycoords=("data", "axes fraction"),
        fontsize=8,
        color=CLAMPED,
    )
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return _save(fig, path)


def plot_toy(result: ToyComparison, path: str | Path) -> Path:
    """The samples of both runs at the end over the ring's modes, the distance to the data and
    D's mean outputs over training; for ``zero-grad`` also the gradient norms per step."""
    grads = result.name == "zero-grad"
    fig, axes = _figure(16 if grads else 12.5, 4.2, 1, 4 if grads else 3)
    ax_s, ax_d, ax_p = axes[0, :3]
    centers = get_toy(DIST).centers
    for trace, color, label in ((result.right, RIGHT, "correct"), (result.wrong, WRONG, "wrong")):
        x = trace.samples
        ax_s.scatter(x[:, 0], x[:, 1], s=3, alpha=0.4, color=color, label=label)
        ax_d.semilogy(trace.steps, trace.distance, color=color, label=label)
        ax_p.plot(trace.steps, trace.d_real, color=color, label=f"{label}: D(x)")
        ax_p.plot(trace.steps, trace.d_fake, color=color, ls="--", label=f"{label}: D(G(z))")
    ax_s.scatter(centers[:, 0], centers[:, 1], s=12, marker="x", color="k", label="modes")
    ax_s.set(title=f"G(z) after {result.right.steps[-1]} steps", aspect="equal")
    ax_s.legend(fontsize=8, markerscale=3)
    ax_d.set(title="mean distance of G(z) to the nearest mode", xlabel="step")
    ax_p.set(title="mean D on probe points", xlabel="step", ylim=(-0.02, 1.02))
    ax_p.legend(fontsize=8)
    if grads:
        ax_g = axes[0, 3]
        for trace, color, label in (
            (result.right, RIGHT, "correct"),
            (result.wrong, WRONG, "wrong"),
        ):
            steps = np.arange(1, len(trace.grads.applied) + 1)
            ax_g.loglog(steps, trace.grads.applied, color=color, label=f"{label}: applied")
        ax_g.loglog(steps, result.wrong.grads.fresh, color=WRONG, ls=":", lw=1, label="wrong: own")
        first = result.wrong.grads.applied[0]
        ax_g.loglog(steps, first * steps, color="#555555", ls="--", lw=1, label="first × k")
        ax_g.set(title="‖G's gradient‖ per step", xlabel="step k")
        ax_g.legend(fontsize=8)
    for ax in axes[0]:
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"{result.name}: correct step against the mistake (ring8)")
    return _save(fig, path)


def plot_batchnorm(result: BatchNormResult, path: str | Path) -> Path:
    """The image of one noise vector in each batch, train mode (top), its absolute change from
    batch 1 (middle), eval mode (bottom); and the mean change against the batch size."""
    n = len(result.train_images)
    fig, axes = _figure(2.0 * n + 4, 6.6, 3, n + 2)
    lim = max(np.abs(result.train_images).max(), np.abs(result.eval_images).max())
    diff = np.abs(result.train_images - result.train_images[:1])
    rows = (
        (result.train_images, "train", "gray", -lim, lim),
        (diff, "train |Δ| from 1", "magma", 0, max(diff.max(), 1e-12)),
        (result.eval_images, "eval", "gray", -lim, lim),
    )
    for row, (images, mode, cmap, lo, hi) in enumerate(rows):
        for i, image in enumerate(images):
            ax = axes[row, i]
            ax.imshow(image[0], cmap=cmap, vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{mode}, batch {i + 1}", fontsize=8)
        for ax in axes[row, n:]:
            ax.remove()
    gs = axes[0, 0].get_gridspec()
    ax = fig.add_subplot(gs[:, n:])
    sizes = sorted(result.by_batch)
    ax.plot(sizes, [result.by_batch[s] for s in sizes], "o-", color=WRONG, label="train mode")
    ax.plot(sizes, [0.0] * len(sizes), "o-", color=RIGHT, label="eval mode")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set(xlabel="batch size", ylabel="mean |Δpixel| of the same z", title="change of one image")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    which = "trained" if result.trained else "untrained"
    fig.suptitle(f"DCGAN-28's G ({which}): the same z with other batch-mates")
    return _save(fig, path)


def plot_mistake(name: str, result: Any, out: str | Path) -> Path:
    """Draw ``result`` of mistake ``name`` into directory ``out``; returns the path."""
    path = figure_path(out, name)
    if isinstance(result, BCEResult):
        return plot_bce(result, path)
    if isinstance(result, BatchNormResult):
        return plot_batchnorm(result, path)
    if isinstance(result, SaturationResult):
        return plot_saturation(result.runs, path)
    if isinstance(result, ToyComparison):
        return plot_toy(result, path)
    raise TypeError(f"plot_mistake: no figure for a {type(result).__name__}")
