"""What ``bench_ops.py`` and ``bench_step.py`` share: thread pinning, the BLAS report, the GEMM
ceiling, FLOP counts, timing, the minigan DCGAN-28 training step, Markdown tables and charts.

The scripts put this directory on ``sys.path`` themselves (``python benchmarks/bench_step.py``
does so by running from it), so this module is imported as ``common``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigan import backend, losses, models, nn, optim

Z_DIM = 100


def pin_threads(n: int) -> dict[str, Any]:
    """Limit every thread pool in this process to ``n``: BLAS and OpenMP (threadpoolctl), Numba.

    Returns the BLAS description to print: library, kernel architecture, threads, version.
    Needs ``threadpoolctl``; PyTorch is pinned by its own contender (``torch.set_num_threads``).
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    limiter = threadpool_limits(n)
    pin_threads.limiter = limiter  # keep the limit alive for the life of the process
    if importlib_find("numba"):
        # the numba backend picks Numba's threading layer; set_num_threads starts the pool, so
        # the backend must be loaded first (else the pool starts on OpenMP, whose spinning
        # workers made an iteration 2.5x slower here)
        import numba

        import minigan.kernels.numba_cpu  # noqa: F401

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    blas = next((p for p in threadpool_info() if p["user_api"] == "blas"), {})
    return {
        "blas": blas.get("internal_api", "?"),
        "architecture": blas.get("architecture", "?"),
        "threads": blas.get("num_threads", "?"),
        "version": blas.get("version", "?"),
        "overrides": {
            k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ
        },
    }


def importlib_find(name: str) -> bool:
    """Whether package ``name`` is installed (without importing it)."""
    import importlib.util

    return importlib.util.find_spec(name) is not None


def blas_line(info: dict[str, Any]) -> str:
    """One line naming the BLAS kernel NumPy runs, with a warning when the environment holds it
    to an older one (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE).
    """
    line = (
        f"NumPy BLAS: {info['blas']} {info['version']}, kernel {info['architecture']}, "
        f"{info['threads']} threads"
    )
    if info["overrides"]:
        line += (
            f" (WARNING: {info['overrides']} set; run under `env -u OPENBLAS_CORETYPE "
            "-u OPENBLAS_L2_SIZE` for the machine's own kernel)"
        )
    return line


def load_line() -> str:
    """The machine's load average and core count: other processes skew wall-clock timings of
    multi-threaded code far more than single-threaded code, so every report states it.
    """
    one, five, _ = os.getloadavg()
    return f"Load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def median_time(
    fn: Callable[[], object],
    repeats: int,
    warmup: int = 2,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median seconds of ``fn()`` on ``clock`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def gemm_rate(repeats: int = 10) -> float:
    """NumPy's float32 matrix-multiply rate in FLOP/s: the best of a square 1024^3 product and
    DCGAN-28's largest GEMM (3136 x 1024 x 128, the 64->128 convolution at batch 64).
    """
    rng = np.random.default_rng(0)
    best = 0.0
    for m, k, n in ((1024, 1024, 1024), (3136, 1024, 128)):
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out = np.empty((m, n), np.float32)
        seconds = median_time(lambda a=a, b=b, out=out: np.matmul(a, b, out=out), repeats)
        best = max(best, 2 * m * n * k / seconds)
    return best


def layer_gemm_flops(layer: nn.Module, x_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """FLOPs of ``layer``'s one forward GEMM (``2 M N K``) on input ``x_shape``, and its output
    shape. Its backward runs two GEMMs of the same size (``dx`` and ``dW``). Layers without a
    GEMM count 0: their elementwise work is < 1% of the total and is left out.
    """
    n = x_shape[0]
    if isinstance(layer, nn.Linear):
        return 2 * n * layer.in_features * layer.out_features, (n, layer.out_features)
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        k, s, p = layer.kernel_size, layer.stride, layer.padding
        c, o, h = layer.in_channels, layer.out_channels, x_shape[2]
        if isinstance(layer, nn.Conv2d):
            ho = (h + 2 * p - k) // s + 1
            return 2 * (n * ho * ho) * o * (c * k * k), (n, o, ho, ho)
        ho = (h - 1) * s - 2 * p + k + layer.output_padding
        return 2 * (n * h * h) * (o * k * k) * c, (n, o, ho, ho)
    if isinstance(layer, nn.Flatten):
        return 0, (n, int(np.prod(x_shape[1:])))
    if isinstance(layer, nn.Reshape):
        return 0, (n, *layer.shape)
    return 0, x_shape


def model_flops(model: nn.Sequential, x_shape: tuple[int, ...]) -> int:
    """GEMM FLOPs of one forward pass of ``model``."""
    total = 0
    for layer in model:
        flops, x_shape = layer_gemm_flops(layer, x_shape)
        total += flops
    return total


def step_flops(batch: int) -> int:
    """GEMM FLOPs of one DCGAN-28 iteration as :class:`MiniganTrainer` runs it.

    D step: D forward + backward on the real batch, G forward, D forward + backward on the
    fake batch; G step: G forward, D forward + backward, G backward. So D runs 3 forwards and 3
    backwards, G 2 forwards and 1 backward, and a backward costs twice its forward (``dx`` and
    ``dW``; minigan also computes ``dx`` of D's first layer, which PyTorch skips in the D step).
    """
    G, D = models.dcgan28()
    g = model_flops(G, (batch, Z_DIM))
    d = model_flops(D, (batch, 1, 28, 28))
    return 3 * d + 3 * 2 * d + 2 * g + 2 * g


class MiniganTrainer:
    """One DCGAN-28 training iteration in minigan, on backend ``name``.

    The loop of ``torch_dcgan.Trainer`` step for step (D step: real batch, then a fresh fake
    batch, gradients accumulating; G step on fresh noise; Adam(2e-4, (0.5, 0.999))). Noise and
    the real batch come from ``np.random.default_rng(seed)``, so two trainers with the same seed
    see the same numbers.
    """

    def __init__(self, name: str, batch: int, seed: int = 0) -> None:
        self.name, self.batch = name, batch
        self.rng = np.random.default_rng(seed)
        self.G, self.D = models.dcgan28(Z_DIM, rng=self.rng)
        betas = (0.5, 0.999)
        self.opt_g = optim.Adam(self.G.parameters(), lr=2e-4, betas=betas)
        self.opt_d = optim.Adam(self.D.parameters(), lr=2e-4, betas=betas)
        self.real = self.rng.uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)
        self.ones = np.ones((batch, 1), np.float32)
        self.zeros = np.zeros((batch, 1), np.float32)

    def noise(self) -> np.ndarray:
        return self.rng.standard_normal((self.batch, Z_DIM), dtype=np.float32)

    def step(self) -> tuple[float, float]:
        """One D step and one G step; returns ``(loss_d, loss_g)``."""
        with backend.using(self.name):
            # D step: maximise log D(x) + log(1 - D(G(z)))
            self.D.zero_grad()
            loss_real, d_logits = losses.bce_with_logits(self.D(self.real), self.ones)
            self.D.backward(d_logits)
            fake = self.G(self.noise())
            loss_fake, d_logits = losses.bce_with_logits(self.D(fake), self.zeros)
            self.D.backward(d_logits)
            self.opt_d.step()
            # G step: minimise -log D(G(z)) (non-saturating)
            self.G.zero_grad()
            self.D.zero_grad()
            loss_g, d_logits = losses.bce_with_logits(self.D(self.G(self.noise())), self.ones)
            self.G.backward(self.D.backward(d_logits))
            self.opt_g.step()
        return loss_real + loss_fake, loss_g


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; floats are printed with 4 significant digits."""

    def cell(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def bar_chart(
    path: str, groups: Sequence[str], series: dict[str, Sequence[float]], ylabel: str, title: str
) -> None:
    """Grouped bar chart (one group per x label, one bar per series) saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(groups) * len(series) ** 0.5), 4))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, groups, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
