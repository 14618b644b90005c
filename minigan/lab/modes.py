r"""Statement 4, mode collapse measured: how many modes of a mixture a generator covers.

A sample :math:`x` is *near* mode :math:`k` when :math:`\|x - c_k\| \le r\,\sigma_k` (``radius``
:math:`r = 3`); mode :math:`k` is *covered* when at least a share ``min_share`` of all samples is
near it; the *off-mode share* is the share of samples near no mode (the generator's "bad"
samples). A collapsed generator covers few modes; one that smears mass between the modes has a
large off-mode share. :func:`mode_collapse_runs` follows both numbers over training for each
objective (:mod:`minigan.objectives`; each with its toy settings,
:data:`minigan.lab.games.TOY_SETTINGS`) and seed, and :func:`mode_table` writes the result as a
Markdown table.

>>> import numpy as np
>>> centers, std = np.array([[0.0, 0.0], [2.0, 0.0]]), 0.1
>>> samples = np.array([[0.0, 0.05], [0.1, 0.0], [2.0, 0.2], [1.0, 1.0]])
>>> count_modes(samples, centers, std, min_share=0.25)
ModeCoverage(covered=2, off_mode=0.25, shares=array([0.5 , 0.25]))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from minigan.data.toy import GaussianMixture, get_toy
from minigan.lab.games import BCE_LOSSES
from minigan.lab.toy_gan import ToyGAN

__all__ = ["ModeCoverage", "ModeRun", "count_modes", "mode_collapse_runs", "mode_table"]


class ModeCoverage(NamedTuple):
    """``covered``: number of modes with a share >= ``min_share``; ``off_mode``: share of
    samples near no mode; ``shares`` (k,): share of samples near each mode.
    """

    covered: int
    off_mode: float
    shares: np.ndarray


def count_modes(
    samples: np.ndarray,
    centers: np.ndarray,
    std: float | np.ndarray,
    min_share: float = 0.01,
    radius: float = 3.0,
) -> ModeCoverage:
    """Count the modes that ``samples`` (n, d) cover among ``centers`` (k, d).

    ``std`` is one standard deviation for all modes or one per mode (k,). Each sample is
    assigned to its nearest centre and counts there when it lies within ``radius * std`` of it.
    """
    samples = np.asarray(samples, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    if samples.ndim != 2 or centers.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(
            f"count_modes: need samples (n, d) and centers (k, d), got {samples.shape} and "
            f"{centers.shape}"
        )
    if len(samples) == 0:
        raise ValueError("count_modes: no samples")
    std = np.broadcast_to(np.asarray(std, dtype=np.float64), (len(centers),))
    dist = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=2)  # (n, k)
    nearest = dist.argmin(axis=1)
    near = dist[np.arange(len(samples)), nearest] <= radius * std[nearest]
    shares = np.bincount(nearest[near], minlength=len(centers)) / len(samples)
    return ModeCoverage(int((shares >= min_share).sum()), float(1 - near.mean()), shares)


@dataclass
class ModeRun:
    """One training run's coverage: at each of ``steps``, modes ``covered`` and ``off_mode``;
    ``loss`` is the objective's name."""

    dist: str
    loss: str
    seed: int
    steps: list[int]
    covered: list[int]
    off_mode: list[float]


def mode_collapse_runs(
    dists: Sequence[str] = ("ring8", "grid25"),
    losses: Sequence[str] = BCE_LOSSES,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 3000,
    every: int = 250,
    n_samples: int = 2000,
    min_share: float = 0.01,
    progress: Callable[[str], None] | None = None,
) -> list[ModeRun]:
    """Train a :class:`~minigan.lab.toy_gan.ToyGAN` for each (dist, objective ``losses``, seed)
    and measure :func:`count_modes` on ``n_samples`` generated points every ``every`` steps
    (a step is one iteration: ``n_critic`` D steps and a G step).

    Run ``seed`` uses ``np.random.default_rng(seed)`` for its weights and batches, so every
    objective starts from the same G and D.
    """
    runs = []
    for dist_name in dists:
        dist = get_toy(dist_name)
        if not isinstance(dist, GaussianMixture):
            raise ValueError(f"mode_collapse_runs: {dist_name} is not a Gaussian mixture")
        for loss in losses:
            for seed in seeds:
                gan = ToyGAN(dist, loss, rng=np.random.default_rng(seed))
                run = ModeRun(dist_name, loss, seed, [], [], [])

                def measure(g: ToyGAN, run: ModeRun = run, dist: GaussianMixture = dist) -> None:
                    cov = count_modes(g.generate(n_samples), dist.centers, dist.std, min_share)
                    run.steps.append(g.steps_done)
                    run.covered.append(cov.covered)
                    run.off_mode.append(cov.off_mode)

                gan.train(steps, measure, every)
                runs.append(run)
                if progress is not None:
                    progress(
                        f"{dist_name} {loss} seed {seed}: {run.covered[-1]}/{len(dist.centers)} "
                        f"modes, off-mode {run.off_mode[-1]:.1%}"
                    )
    return runs


def mode_table(runs: Sequence[ModeRun]) -> str:
    """A Markdown table: per dist and objective, the final modes covered (of k) and off-mode
    share, mean over seeds, then the per-seed values in brackets.

    >>> runs = [ModeRun("ring8", "minimax", s, [0, 100], [1, c], [0.9, o])
    ...         for s, c, o in [(0, 8, 0.1), (1, 6, 0.3)]]
    >>> print(mode_table(runs))
    | data | objective | seeds | modes covered | off-mode share |
    |---|---|---|---|---|
    | ring8 | minimax | 2 | 7.0 of 8 [8, 6] | 20.0% [10%, 30%] |
    """
    groups: dict[tuple[str, str], list[ModeRun]] = {}
    for run in runs:
        groups.setdefault((run.dist, run.loss), []).append(run)
    lines = [
        "| data | objective | seeds | modes covered | off-mode share |",
        "|---|---|---|---|---|",
    ]
    for (dist, loss), group in groups.items():
        k = len(get_toy(dist).centers)
        covered = [r.covered[-1] for r in group]
        off = [r.off_mode[-1] for r in group]
        cov_text = f"{np.mean(covered):.1f} of {k} [{', '.join(map(str, covered))}]"
        off_text = f"{np.mean(off):.1%} [{', '.join(f'{o:.0%}' for o in off)}]"
        lines.append(f"| {dist} | {loss} | {len(group)} | {cov_text} | {off_text} |")
    return "\n".join(lines)
