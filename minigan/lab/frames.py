r"""Pictures of a :class:`~minigan.lab.toy_gan.ToyGAN` while it trains, and ``run_toy``.

A frame has two panels. Left, the data space: what D says as a heat map (2-D) or a curve
(1-D), the real and generated points, and at the generated points arrows along
:math:`-\partial\ell_G/\partial x`, the direction the generator loss pushes each sample (scaled
to a fixed on-screen length, the scale printed in the legend). Right, the game's value and the
generator loss over the steps, with their values at the equilibrium (:math:`p_g =
p_\text{data}`, D optimal) where the game fixes them.

What D says and what the value is depend on the objective (:func:`minigan.lab.games.readout`):
for the BCE games the map is :math:`D(x) = \sigma(a)` on :math:`[0, 1]` and the value
:math:`V(D, G)` (the negated D loss, :math:`-\log 4` at equilibrium); for LSGAN and the hinge
game D's score on a scale centred on the score of an undecided D (1/2 and 0) and minus D's
loss; for the critics (WGAN, WGAN-GP) the critic's score centred on its median over the plot
(it is defined up to a constant) and its Wasserstein estimate :math:`\mathbb E f(x) -
\mathbb E f(G(z))`. Green is "real" in every game.

The renderer keeps one matplotlib figure and updates its artists in place; matplotlib and
Pillow (the ``plot`` extra) are imported inside the functions that draw.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minigan.data.toy import GaussianMixture
from minigan.lab.games import Readout
from minigan.lab.modes import count_modes
from minigan.lab.toy_gan import ToyGAN, point_gradients

__all__ = ["ToyRenderer", "ToyResult", "heat_range", "run_toy", "write_gif"]

REAL, FAKE, ARROW = "#1a1a1a", "#ff7f0e", "#0b2e8a"


def _limits(dist_sample: np.ndarray) -> list[tuple[float, float]]:
    """Axis limits from a large real sample: a square box around the data, padded by 25 %."""
    lo, hi = np.percentile(dist_sample, [0.5, 99.5], axis=0)
    center, half = (lo + hi) / 2, 0.625 * float(np.max(hi - lo))
    return [(float(c - half), float(c + half)) for c in center]


def heat_range(said: Readout, values: np.ndarray) -> tuple[float, float]:
    """The colour range of D's map: [0, 1] for probabilities; for scores, symmetric about the
    undecided score (a critic's median) and wide enough for all ``values``.

    >>> from minigan.lab.games import readout
    >>> heat_range(readout("lsgan"), np.array([0.0, 0.4, 1.5]))
    (-0.5, 1.5)
    """
    if said.kind == "probability":
        return 0.0, 1.0
    center = float(np.median(values)) if said.undecided is None else said.undecided
    half = max(float(np.abs(values - center).max()), 1e-6)
    return center - half, center + half


class ToyRenderer:
    """Draws frames of ``gan``; ``total_steps`` fixes the loss panel's x axis.

    Fixed draws from ``rng`` (``n_points`` real points and noise vectors, of which ``n_arrows``
    carry arrows) make the animation follow the same samples from frame to frame.
    """

    def __init__(
        self,
        gan: ToyGAN,
        total_steps: int,
        rng: np.random.Generator,
        n_points: int = 512,
        n_arrows: int = 96,
        grid: int = 100,
        dpi: int = 80,
    ) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.gan, self.total = gan, max(total_steps, 1)
        self.real = gan.dist.sample(n_points, rng)
        self.z = rng.standard_normal((n_points, gan.z_dim)).astype(gan.dtype)
        self.n_arrows = n_arrows
        self.heights = rng.uniform(0.03, 0.35, n_points)  # 1-D: where each point is drawn
        self.limits = _limits(gan.dist.sample(20_000, rng))
        self.fig = Figure(figsize=(11, 4.8), dpi=dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax, self.ax_loss = self.fig.subplots(1, 2, width_ratios=[1.1, 1])
        (x0, x1) = self.limits[0]
        if gan.dist.dim == 2:
            (y0, y1) = self.limits[1]
            gx, gy = np.meshgrid(np.linspace(x0, x1, grid), np.linspace(y0, y1, grid))
            self.grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(gan.dtype)
        else:
            self.grid = np.linspace(x0, x1, 4 * grid)[:, None].astype(gan.dtype)
        self._setup_data_panel(grid)
        self._setup_loss_panel()

    # ---- layout ----------------------------------------------------------------------------------
    def _setup_data_panel(self, grid: int) -> None:
        ax = self.ax
        (x0, x1) = self.limits[0]
        self.arrow_len = 0.1 * (x1 - x0)
        if self.gan.dist.dim == 2:
            (y0, y1) = self.limits[1]
            self.heat = ax.imshow(
                np.full((grid, grid), 0.5),
                extent=(x0, x1, y0, y1),
                origin="lower",
                cmap="PRGn",
                vmin=0,
                vmax=1,
                interpolation="bilinear",
            )
            bar = self.fig.colorbar(self.heat, cax=ax.inset_axes([1.03, 0.0, 0.04, 1.0]))
            bar.set_label(self.gan.readout.heat)
            self.fake = ax.scatter(
                *self.real.T, s=9, c=FAKE, edgecolors="k", linewidths=0.3, label="generated"
            )
            ax.scatter(*self.real.T, s=4, c=REAL, label="real", linewidths=0, zorder=3)
            ax.set(xlim=(x0, x1), ylim=(y0, y1), aspect="equal")
            self.points_y, self.ax_points = None, ax
        else:
            # densities on the left axis, D(x) and the points (at random heights) on the right
            density = self.gan.dist.density(self.grid.astype(np.float64))
            ax.plot(self.grid[:, 0], density, color=REAL, lw=1.2, label="p_data(x)")
            ax.fill_between([], [], color=FAKE, alpha=0.35, label="p_g(x), histogram")
            ax.set(
                xlim=(x0, x1), ylim=(0, 1.6 * float(density.max())), xlabel="x", ylabel="density"
            )
            self.hist = None
            self.ax_points = ax.twinx()
            name = "f(x)" if self.gan.readout.kind == "critic" else "D(x)"
            self.d_line = self.ax_points.plot(
                self.grid[:, 0], 0.5 + 0 * self.grid[:, 0], color="#1b7837", lw=2, label=name
            )[0]  # scores are drawn rescaled to [0, 1], the ticks in D's units
            self.points_y = self.heights
            self.fake = self.ax_points.scatter(
                self.real[:, 0],
                self.points_y,
                s=6,
                c=FAKE,
                linewidths=0,
                label="generated (random heights)",
            )
            self.ax_points.set(ylim=(0, 1), ylabel=self.gan.readout.heat)
        pos = self._arrow_points()
        self.quiver = self.ax_points.quiver(
            *pos.T,
            *np.zeros_like(pos).T,
            color=ARROW,
            angles="xy",
            scale_units="xy",
            scale=1,
            width=0.004,
            headwidth=4,
            label="push",
        )
        handles = ax.get_legend_handles_labels()[0]
        if self.ax_points is not ax:
            handles += self.ax_points.get_legend_handles_labels()[0]
        self.legend = ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.1),
            ncol=2,
            fontsize=8,
            markerscale=2,
        )

    def _setup_loss_panel(self) -> None:
        ax, gan, said = self.ax_loss, self.gan, self.gan.readout
        ax.axhline(
            said.value_eq,
            color="#d62728",
            ls="--",
            lw=1.2,
            label=f"{said.value} at equilibrium ({said.value_eq:+.3f})",
        )
        if said.g_eq is not None:
            ax.axhline(
                said.g_eq, color="#1f77b4", ls=":", lw=1.2, label=f"G loss there ({said.g_eq:+.3f})"
            )
        self.value_line = ax.plot([], [], color="#d62728", lw=1, label=said.value_label)[0]
        self.g_line = ax.plot([], [], color="#1f77b4", lw=1, label=f"G loss ({gan.loss})")[0]
        ax.set(xlim=(0, self.total), xlabel="step", title="the game's value and the G loss")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8)
        ax.grid(alpha=0.3)

    # ---- updating ---------------------------------------------------------------------------------
    def _arrow_points(self) -> np.ndarray:
        x = self.gan.generate(z=self.z[: self.n_arrows])
        if self.points_y is None:
            return x
        return np.column_stack([x[:, 0], self.points_y[: self.n_arrows]])

    def update(self) -> None:
        """Redraw every artist from the GAN's current state."""
        gan, ax = self.gan, self.ax
        fake = gan.generate(z=self.z)
        d_grid = gan.discriminate(self.grid)
        lo, hi = heat_range(gan.readout, d_grid)
        _, grad = point_gradients(gan.D, fake[: self.n_arrows], gan.loss)
        norms = np.linalg.norm(grad, axis=1)
        ref = float(np.percentile(norms, 90)) or 1.0
        push = -grad / ref * self.arrow_len
        push *= np.minimum(
            1.0, 1.5 * self.arrow_len / np.maximum(np.linalg.norm(push, axis=1), 1e-12)
        )[:, None]
        if self.points_y is None:
            self.heat.set_data(d_grid.reshape(self.heat.get_array().shape))
            self.heat.set_clim(lo, hi)
            self.fake.set_offsets(fake)
        else:
            self.d_line.set_ydata((d_grid - lo) / (hi - lo))
            if gan.readout.kind != "probability":
                ticks = np.linspace(0, 1, 5)
                self.ax_points.set_yticks(ticks, [f"{lo + t * (hi - lo):.2g}" for t in ticks])
            self.fake.set_offsets(np.column_stack([fake[:, 0], self.points_y]))
            if self.hist is not None:
                self.hist.remove()
            *_, self.hist = self.ax.hist(
                fake[:, 0], bins=60, range=self.limits[0], density=True, color=FAKE, alpha=0.35
            )
            push = np.column_stack([push[:, 0], np.zeros(len(push))])
        self.quiver.set_offsets(self._arrow_points())
        self.quiver.set_UVC(push[:, 0], push[:, 1])
        self.legend.get_texts()[-1].set_text(
            f"push -∂ℓ_G/∂x, scaled: |∇| = {ref:.2g} is drawn {self.arrow_len:.2g} long"
        )
        title = f"{gan.dist.name} · {gan.loss} · step {gan.steps_done}"
        if isinstance(gan.dist, GaussianMixture):
            cov = count_modes(fake, gan.dist.centers, gan.dist.std)
            title += f"\nmodes covered {cov.covered}/{len(gan.dist.centers)}, "
            title += f"off-mode {cov.off_mode:.0%}"
        ax.set_title(title, fontsize=10)
        self._update_losses()

    def _update_losses(self) -> None:
        log, ax, said = self.gan.log, self.ax_loss, self.gan.readout
        marks = [said.value_eq] + ([] if said.g_eq is None else [said.g_eq])
        if not log.value:
            ax.set_ylim(min(marks) - 0.6, max(marks) + 0.6)
            return
        steps = np.arange(1, len(log.value) + 1)
        self.value_line.set_data(steps, log.value)
        self.g_line.set_data(steps, log.g_loss)
        lo, hi = np.percentile(np.concatenate([log.value, log.g_loss]), [1, 99])
        lo, hi = min(lo, *marks), max(hi, *marks)
        pad = 0.1 * (hi - lo) + 0.05
        ax.set_ylim(lo - pad, hi + 2 * pad)

    def rgb(self) -> np.ndarray:
        """The current frame as an (H, W, 3) uint8 array. The constrained layout is computed on
        the first draw and then frozen: it is half the cost of a frame, and a still layout keeps
        the animation from jittering.
        """
        self.canvas.draw()
        self.fig.set_layout_engine("none")
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def save(self, path: str | Path, dpi: int | None = None) -> None:
        """Write the current frame as a PNG."""
        self.fig.savefig(path, dpi=dpi or self.fig.dpi)


@dataclass
class ToyResult:
    """What :func:`run_toy` made: the trained GAN, the frame files, the GIF and final PNG."""

    gan: ToyGAN
    frames: list[Path]
    gif: Path
    final: Path
    seconds: float


def run_toy(
    dist: str = "ring8",
    loss: str = "nonsaturating",
    steps: int = 3000,
    every: int = 100,
    seed: int = 0,
    out: str | Path = "toy_out",
    fps: float = 10.0,
    keep_frames: bool = True,
    verbose: bool = True,
    **gan_kwargs,
) -> ToyResult:
    """Train a :class:`ToyGAN` with the objective ``loss`` on ``dist`` for ``steps`` steps and
    write ``out/frames/*.png`` (one every ``every`` steps, and at 0 and the end; unless not
    ``keep_frames``), ``out/toy.gif`` (``fps`` frames a second) and ``out/final.png``.
    ``gan_kwargs`` go to :class:`ToyGAN` (``batch``, ``lr``, ``n_critic``, ...).

    ``seed`` seeds two independent generators (``SeedSequence(seed).spawn(2)``): one for the
    GAN's weights and batches, one for the drawing's fixed points, so the training does not
    depend on ``every``. Progress goes to stderr when ``verbose``.
    """
    if steps < 1 or every < 1:
        raise ValueError(f"run_toy: steps and every must be >= 1, got {steps}, {every}")
    train_seq, view_seq = np.random.SeedSequence(seed).spawn(2)
    gan = ToyGAN(dist, loss, rng=np.random.default_rng(train_seq), **gan_kwargs)
    out = Path(out)
    (out / "frames" if keep_frames else out).mkdir(parents=True, exist_ok=True)
    renderer = ToyRenderer(gan, steps, np.random.default_rng(view_seq))
    frames: list[Path] = []
    images: list[np.ndarray] = []
    start = time.perf_counter()

    def draw(g: ToyGAN) -> None:
        from PIL import Image

        renderer.update()
        images.append(renderer.rgb())
        if keep_frames:
            frames.append(out / "frames" / f"step_{g.steps_done:06d}.png")
            Image.fromarray(images[-1]).save(frames[-1])
        if verbose:
            said, log = g.readout, g.log
            v = f"{log.value[-1]:+.3f}" if log.value else "-"
            d = f"{log.d_fake[-1]:+.3f}" if log.d_fake else "-"
            p = f"  penalty {log.penalty[-1]:.3f}" if log.penalty else ""
            print(
                f"step {g.steps_done:>6}/{steps}  {said.value} {v}  {said.fake} {d}{p}  "
                f"({time.perf_counter() - start:.1f} s)",
                file=sys.stderr,
            )

    gan.train(steps, draw, every)
    gif = write_gif(images, out / "toy.gif", fps)
    final = out / "final.png"
    renderer.save(final, dpi=110)
    seconds = time.perf_counter() - start
    if verbose:
        print(f"wrote {len(images)} frames, {gif} and {final} in {seconds:.1f} s", file=sys.stderr)
    return ToyResult(gan, frames, gif, final, seconds)


def write_gif(images: list[np.ndarray], path: Path, fps: float) -> Path:
    """Write RGB frames (H, W, 3) as a looping GIF with one palette for all frames, taken from
    the first, middle and last frame: colours stay put from frame to frame.
    """
    from PIL import Image

    picks = [images[i] for i in sorted({0, len(images) // 2, len(images) - 1})]
    palette = Image.fromarray(np.concatenate(picks, axis=0)).quantize(colors=255)
    frames = [
        Image.fromarray(im).quantize(palette=palette, dither=Image.Dither.NONE) for im in images
    ]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0)
    return path
