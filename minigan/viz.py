"""Pictures: image grids (PNG), the training curves, and an animated GIF of the grids.

:func:`make_grid` is NumPy alone. Writing files needs the ``plot`` extra (Pillow for PNG and GIF,
matplotlib for :func:`plot_training`), imported inside the functions, so ``import minigan`` never
needs them; without them the writers raise an ``ImportError`` that says what to install.
matplotlib is driven through its object-oriented API with the Agg canvas: no ``pyplot``, no
global backend switch, safe in a notebook. Every file is written to a temporary name and renamed,
so a reader never sees half a picture.

>>> import numpy as np
>>> images = np.linspace(-1, 1, 6 * 28 * 28, dtype=np.float32).reshape(6, 1, 28, 28)
>>> grid = make_grid(images, nrow=3, padding=2)
>>> grid.shape, grid.dtype  # 2 rows and 3 columns of 28 + 2 pixels, plus the outer border
((62, 92), dtype('uint8'))
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from minigan.data.loader import to_uint8

__all__ = ["PLOT_HINT", "make_grid", "plot_training", "save_gif", "save_image_grid"]

PLOT_HINT = "pip install 'minigan[plot]'"


def _require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` that says what needs it and how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{what} needs matplotlib and Pillow: {PLOT_HINT}") from exc


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def make_grid(
    images: np.ndarray, nrow: int = 8, padding: int = 2, pad_value: int = 128
) -> np.ndarray:
    """Tile images into one ``uint8`` picture, ``nrow`` images per row (as torchvision).

    ``images`` is ``(N, C, H, W)`` with 1 or 3 channels, or ``(N, H, W)``: floats in [-1, 1] (a
    generator's output, clipped) or ``uint8`` pixels. Every image gets ``padding`` pixels of
    ``pad_value`` (grey by default) on each side; a last row with fewer images is filled with
    ``pad_value``. Returns ``uint8`` ``(rows * (H + padding) + padding, nrow * (W + padding) +
    padding)``, with a last axis of 3 for colour images.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] not in (1, 3) or len(images) == 0:
        raise ValueError(
            f"make_grid: expected (N, 1, H, W), (N, 3, H, W) or (N, H, W), got {images.shape}"
        )
    if images.dtype != np.uint8:
        images = to_uint8(images)
    n, c, h, w = images.shape
    ncol = max(1, min(nrow, n))
    rows = math.ceil(n / ncol)
    cells = np.full((rows * ncol, h + padding, w + padding, c), pad_value, np.uint8)
    cells[:n, padding:, padding:] = images.transpose(0, 2, 3, 1)
    grid = cells.reshape(rows, ncol, h + padding, w + padding, c).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(rows * (h + padding), ncol * (w + padding), c)
    grid = np.pad(grid, ((0, padding), (0, padding), (0, 0)), constant_values=pad_value)
    return grid[..., 0] if c == 1 else grid


def save_image_grid(
    images: np.ndarray,
    path: str | os.PathLike[str],
    nrow: int = 8,
    *,
    padding: int = 2,
    scale: int = 1,
) -> Path:
    """Save :func:`make_grid` of ``images`` (N, C, H, W) in [-1, 1] as a PNG (greyscale for
    one channel, RGB for three).

    ``scale`` enlarges every pixel to ``scale x scale`` (nearest neighbour), for viewing.
    Needs Pillow. Returns the path written.
    """
    image_module = _require("PIL.Image", "save_image_grid")
    grid = make_grid(images, nrow, padding)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    tmp = _temporary(path)
    image_module.fromarray(grid).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average; the first ``window - 1`` points average what there is."""
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumsum[1:] - cumsum[np.arange(1, len(values) + 1) - counts]) / counts


def plot_training(metrics: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Plot ``metrics`` (the records of ``metrics.jsonl``) as a PNG of two or three panels.

    Left: ``loss_D`` and ``loss_G``. Middle: ``D(x)`` and ``D(G(z))`` with the line 0.5, where an
    optimal discriminator of a perfect generator sits, for the games whose D outputs a
    probability; the critic's Wasserstein estimate for the critic games. Right, when the
    records hold evaluations (``minigan train --eval-every``): FID and coverage. Each series of
    every iteration is drawn faintly with a moving average over it. Needs matplotlib. Returns
    the path written.
    """
    figure_module = _require("matplotlib.figure", "plot_training")
    if not metrics:
        raise ValueError("plot_training: no metrics to plot")
    window = max(1, len(metrics) // 40)
    evaluated = any("fid" in m for m in metrics)
    fig = figure_module.Figure(figsize=(15 if evaluated else 10, 3.8), layout="constrained")
    axes = fig.subplots(1, 3 if evaluated else 2)
    ax_loss, ax_d = axes[0], axes[1]
    probabilities = any("D_x" in m for m in metrics)
    panels = [
        (ax_loss, (("loss_D", "loss_D", "C0"), ("loss_G", "loss_G", "C1"))),
        (ax_d, (("D_x", "D(x)", "C2"), ("D_G_z", "D(G(z))", "C3"))
         if probabilities else (("wasserstein", "E[D(x)] - E[D(G(z))]", "C2"),)),
    ]  # fmt: skip
    for ax, series in panels:
        for key, label, color in series:
            points = [(m["iteration"], m[key]) for m in metrics if key in m]
            if not points:
                continue
            x, y = np.array(points, dtype=np.float64).T
            ax.plot(x, y, color=color, alpha=0.25, linewidth=0.6)
            ax.plot(x, _smooth(y, window), color=color, linewidth=1.6, label=label)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    if probabilities:
        ax_d.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="0.5")
        ax_d.set_ylim(0, 1)
        ax_d.set_title("discriminator outputs (mean sigmoid)")
    else:
        ax_d.set_title("critic's Wasserstein estimate" if any("wasserstein" in m for m in metrics)
                       else "D's outputs are scores, not probabilities")  # fmt: skip
    ax_loss.set_title("losses")
    if evaluated:
        _plot_evaluations(axes[2], metrics)
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right")
    path = Path(path)
    tmp = _temporary(path)
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)
    return path


def _plot_evaluations(ax: Any, metrics: Sequence[Mapping[str, Any]]) -> None:
    """FID (left axis) and coverage (right axis) at the iterations that were evaluated."""
    points = np.array([(m["iteration"], m["fid"], m["coverage"]) for m in metrics if "fid" in m])
    ax.plot(points[:, 0], points[:, 1], "o-", color="C4", label="FID")
    ax.set_ylabel("FID (minigan Fashion-MNIST classifier)")
    ax.set_xlabel("iteration")
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    twin.plot(points[:, 0], points[:, 2], "s--", color="C5", label="coverage")
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("coverage")
    twin.legend(loc="center right")
    ax.set_title("evaluations")


def save_gif(
    frames: Sequence[np.ndarray | str | os.PathLike[str]],
    path: str | os.PathLike[str],
    seconds_per_frame: float = 0.3,
    hold_last: float = 2.0,
) -> Path:
    """Save ``frames`` (``uint8`` arrays, greyscale (H, W) or RGB (H, W, 3), or image files
    such as the grid PNGs) as a looping GIF; the last frame stays ``hold_last`` seconds. Needs
    Pillow. Returns the path.
    """
    image_module = _require("PIL.Image", "save_gif")
    if not frames:
        raise ValueError("save_gif: no frames")
    images = [
        image_module.fromarray(np.asarray(f, np.uint8))
        if isinstance(f, np.ndarray)
        else image_module.open(f)
        for f in frames
    ]
    mode = "RGB" if any(image.mode not in ("L", "1") for image in images) else "L"
    images = [image.convert(mode) for image in images]
    durations = [round(1000 * seconds_per_frame)] * (len(images) - 1) + [round(1000 * hold_last)]
    path = Path(path)
    tmp = _temporary(path)
    images[0].save(
        tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
    )
    os.replace(tmp, path)
    return path
