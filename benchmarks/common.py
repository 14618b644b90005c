"""What ``bench_ops.py`` and ``bench_step.py`` share: thread pinning, the BLAS report, the GEMM
ceiling, FLOP counts, timing, DCGAN-28 set up for minigan's training step
(:func:`minigan.step.train_step`, the step ``minigan train`` runs), Markdown tables and charts.

The scripts put this directory on ``sys.path`` themselves (``python benchmarks/bench_step.py``
does so by running from it), so this module is imported as ``common``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigan import backend, models, nn, optim, tuning
from minigan.step import train_step

Z_DIM = 100


def pin_threads(n: int) -> dict[str, Any]:
    """Limit every thread pool in this process to ``n``: BLAS and OpenMP (threadpoolctl), Numba.

    Returns the BLAS description to print: library, kernel architecture, threads, version.
    Needs ``threadpoolctl``; PyTorch is pinned by its own contender (``torch.set_num_threads``).
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    limiter = threadpool_limits(n)
    pin_threads.limiter = limiter  # keep the limit alive for the life of the process
    # the tuning minigan train applies: malloc keeps freed memory, and Numba's workqueue pool,
    # chosen before set_num_threads starts the pool (OpenMP's spinning workers made an
    # iteration 2.5x slower here)
    tuning.tune_process("numba")
    if importlib_find("numba"):
        import numba

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
    return median_seconds(clock_timer(clock), fn, repeats, warmup)


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


def layer_gemms(
    layer: nn.Module, x_shape: tuple[int, ...]
) -> tuple[dict[str, tuple[int, int, int]], tuple[int, ...]]:
    """The GEMMs of ``layer`` on input ``x_shape`` as minigan runs them, each an (M, K, N) for
    an (M, K) @ (K, N) product: ``forward``, ``input`` (``dx``) and ``weight`` (``dW``); ``{}``
    for a layer without one (its elementwise work is left out of the FLOP counts). Also the
    output shape.
    """
    n = x_shape[0]
    if isinstance(layer, nn.Linear):  # y = x W^T: (n, in) @ (in, out)
        i, o = layer.in_features, layer.out_features
        return {"forward": (n, i, o), "input": (n, o, i), "weight": (o, n, i)}, (n, o)
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        k, s, p = layer.kernel_size, layer.stride, layer.padding
        c, o, h = layer.in_channels, layer.out_channels, x_shape[2]
        if isinstance(layer, nn.Conv2d):  # y_rows = cols @ W^T: (n Ho Wo, C k k) @ (C k k, O)
            ho = (h + 2 * p - k) // s + 1
            m, depth, width = n * ho * ho, c * k * k, o
            gemms = {"forward": (m, depth, width), "input": (m, width, depth)}
            return {**gemms, "weight": (width, m, depth)}, (n, o, ho, ho)
        # cols = x_rows @ W: (n H W, C) @ (C, O k k)
        ho = (h - 1) * s - 2 * p + k + layer.output_padding
        m, depth, width = n * h * h, c, o * k * k
        gemms = {"forward": (m, depth, width), "input": (m, width, depth)}
        return {**gemms, "weight": (depth, m, width)}, (n, o, ho, ho)
    if isinstance(layer, nn.Flatten):
        return {}, (n, int(np.prod(x_shape[1:])))
    if isinstance(layer, nn.Reshape):
        return {}, (n, *layer.shape)
    return {}, x_shape


def gemm_flops(shape: tuple[int, int, int]) -> int:
    """``2 M K N``."""
    m, k, n = shape
    return 2 * m * k * n


def iteration_gemms(batch: int) -> list[tuple[tuple[int, int, int], int]]:
    """Every GEMM shape of one DCGAN-28 iteration as :class:`MiniganTrainer` runs it, with how
    many times it runs.

    D step: D forward + backward on the real batch, G forward, D forward + backward on the
    fake batch; G step: G forward, D forward + input-only backward (``D.backward_input``: no
    weight gradient), G backward. So D runs 3 forwards, 3 input-gradient passes and 2
    weight-gradient passes, G 2 forwards and 1 backward. A model's first layer computes its
    input gradient only where someone reads it: D's in the G step (the gradient G learns from),
    G's never (``backward_params``; PyTorch skips the same products, its inputs need no
    gradient).
    """
    G, D = models.dcgan28()
    runs = []
    for model, x_shape, forwards, weights, inputs, first_dx in (
        (D, (batch, 1, 28, 28), 3, 2, 3, 1),
        (G, (batch, Z_DIM), 2, 1, 1, 0),
    ):
        first = True
        for layer in model:
            gemms, x_shape = layer_gemms(layer, x_shape)
            if gemms:
                runs += [(gemms["forward"], forwards), (gemms["weight"], weights)]
                runs.append((gemms["input"], first_dx if first else inputs))
                first = False
    return runs


def step_flops(batch: int) -> int:
    """GEMM FLOPs of one DCGAN-28 iteration (:func:`iteration_gemms`)."""
    return sum(gemm_flops(shape) * count for shape, count in iteration_gemms(batch))


def gemm_floor(batch: int, repeats: int = 10) -> float:
    """Seconds that one iteration's GEMMs take alone: each shape of :func:`iteration_gemms`
    timed as one ``np.matmul`` (median of ``repeats``), times its count.

    A floor for any engine that lowers its layers to these products on this BLAS: the rest of
    an iteration (lowering, transposes, BatchNorm, activations, Adam) comes on top of it.
    """
    rng = np.random.default_rng(0)
    total = 0.0
    for (m, k, n), count in iteration_gemms(batch):
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out = np.empty((m, n), np.float32)
        total += count * median_time(lambda a=a, b=b, out=out: np.matmul(a, b, out=out), repeats)
    return total


def op_breakdown(name: str, batch: int, iterations: int) -> tuple[dict[str, float], float]:
    """Seconds per iteration in each op of backend ``name``, timed inside the training step
    (wall clock; every function ``backend.kernel`` hands out is wrapped in a timer for the run,
    named after its reference), and the seconds per iteration of the whole step, over
    ``iterations`` after 3 warm-up.
    """
    spent: dict[str, float] = defaultdict(float)
    lookup = backend.kernel

    def timed_kernel(reference: Callable, like: Any = None) -> Callable:
        fn = lookup(reference, like)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[reference.__name__] += time.perf_counter() - start

        return timed

    trainer = MiniganTrainer(name, batch)
    backend.kernel = timed_kernel
    try:
        for _ in range(3):
            trainer.step()
        spent.clear()
        start = time.perf_counter()
        for _ in range(iterations):
            trainer.step()
        step = (time.perf_counter() - start) / iterations
    finally:
        backend.kernel = lookup
    return {op: seconds / iterations for op, seconds in spent.items()}, step


class MiniganTrainer:
    """DCGAN-28 trained by :func:`minigan.step.train_step` on backend ``name``: the iteration
    ``minigan train`` runs (D step on a real batch and a fresh fake batch, gradients
    accumulating; G step on fresh noise; non-saturating loss; Adam(2e-4, (0.5, 0.999))), the
    same loop as ``torch_dcgan.Trainer``. The real batch and the noise come from
    ``np.random.default_rng(seed)``, so two trainers with the same seed see the same numbers.
    """

    def __init__(self, name: str, batch: int, seed: int = 0) -> None:
        self.name, self.batch = name, batch
        self.rng = np.random.default_rng(seed)
        self.G, self.D = models.dcgan28(Z_DIM, rng=self.rng)
        betas = (0.5, 0.999)
        self.opt_g = optim.Adam(self.G.parameters(), lr=2e-4, betas=betas)
        self.opt_d = optim.Adam(self.D.parameters(), lr=2e-4, betas=betas)
        self.real = self.rng.uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)

    def noise(self, n: int) -> np.ndarray:
        """``n`` noise vectors (n, Z_DIM) from the trainer's generator."""
        return self.rng.standard_normal((n, Z_DIM), dtype=np.float32)

    def step(self) -> tuple[float, float]:
        """One :func:`~minigan.step.train_step`; returns ``(loss_d, loss_g)`` (0-d device arrays
        on a GPU: the ``cupy`` backend's loss kernel does not wait for the device).
        """
        with backend.using(self.name):
            record = train_step(
                self.G, self.D, self.opt_g, self.opt_d, self.real, self.noise, "nonsaturating"
            )
        return record["loss_D"], record["loss_G"]


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


# ---- timers: one call of a function, on a host clock here, by CUDA events in gpu_common ----------
Timer = Callable[[Callable[[], object]], float]


def clock_timer(clock: Callable[[], float] = time.perf_counter) -> Timer:
    """A :data:`Timer` reading ``clock`` before and after the call (host work only)."""

    def time_once(fn: Callable[[], object]) -> float:
        start = clock()
        fn()
        return clock() - start

    return time_once


def median_seconds(timer: Timer, fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median of ``timer(fn)`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    return statistics.median(timer(fn) for _ in range(repeats))
