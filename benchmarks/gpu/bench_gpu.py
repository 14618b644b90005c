"""GPU benchmark of the ``cupy`` backend: custom kernels vs copy bandwidth, and the DCGAN-28
iteration eager, CUDA-graph-replayed, and PyTorch CUDA eager, at batch 64 and 1024.

Run through ``benchmarks/gpu/run_all.sh`` (it runs the agreement test first). Timing: CUDA events
around each call on the current stream, after warm-up; the median of ``--repeats`` runs. Writes a
Markdown report (``--out``) with the device, the date and the command.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cupy
import numpy as np

import minigan
from minigan import models, optim
from minigan.kernels import cuda as glue

FLOAT = 4  # bytes


def timed(fn: Callable[[], object], repeats: int, warmup: int = 5) -> float:
    """Median seconds of ``fn`` on the current stream, by CUDA events."""
    for _ in range(warmup):
        fn()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(repeats):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    return statistics.median(times)


def copy_bandwidth(repeats: int) -> float:
    """Device-to-device copy bandwidth in bytes/s (read + write of 256 MiB)."""
    src = cupy.ones(64 * 2**20, cupy.float32)
    dst = cupy.empty_like(src)
    return 2 * src.nbytes / timed(lambda: dst.__setitem__(Ellipsis, src), repeats)


def kernel_rows(batch: int, repeats: int, bandwidth: float) -> list[tuple[str, float, float]]:
    """(name, seconds, fraction of copy bandwidth) of each custom kernel at DCGAN-28 shapes,
    checked against the NumPy reference before timing.
    """
    rng = np.random.default_rng(0)

    def arr(*shape: int) -> cupy.ndarray:
        return cupy.asarray(rng.standard_normal(shape, dtype=np.float32))

    x64, g64 = arr(batch, 64, 14, 14), arr(64)
    x1d = arr(batch, 6272)
    rm, rv = cupy.zeros(64, cupy.float32), cupy.ones(64, cupy.float32)
    _, cache = glue.batchnorm_forward(x64, g64, g64, rm, rv, True, 0.1, 1e-5)
    w = arr(6272 * 100)
    cols = arr(batch, 7, 7, 64, 4, 4)
    logits = arr(batch, 1)
    t = cupy.ones_like(logits)
    y_ref, _ = minigan.functional.leaky_relu_forward(cupy.asnumpy(x64), 0.2)
    assert np.allclose(cupy.asnumpy(glue.leaky_relu_forward(x64, 0.2)[0]), y_ref)
    n = x64.size
    cases = [  # name, call, bytes moved
        ("leaky_relu fwd (64ch 14x14)", lambda: glue.leaky_relu_forward(x64, 0.2), n * (2 * FLOAT + 1)),
        ("relu bwd (64ch 14x14)", lambda: glue.relu_backward(x64, x64), 3 * n * FLOAT),
        ("tanh fwd (6272)", lambda: glue.tanh_forward(x1d), 2 * x1d.size * FLOAT),
        ("batchnorm2d fwd (64ch)", lambda: glue.batchnorm_forward(x64, g64, g64, rm, rv, True, 0.1, 1e-5), 5 * n * FLOAT),
        ("batchnorm2d bwd (64ch)", lambda: glue.batchnorm_backward(x64, cache), 4 * n * FLOAT),
        ("batchnorm1d fwd (6272ch)", lambda: glue.batchnorm_forward(x1d, arr(6272), arr(6272), cupy.zeros(6272, cupy.float32), cupy.ones(6272, cupy.float32), True, 0.1, 1e-5), 5 * x1d.size * FLOAT),
        ("im2col (64ch 14x14, k4 s2 p1)", lambda: glue.im2col(x64, 4, 4, 2, 1), (n + cols.size) * FLOAT),
        ("col2im (64ch 7x7 -> 14x14)", lambda: glue.col2im(cols, (batch, 64, 14, 14), 2, 1), (cols.size + n) * FLOAT),
        ("adam (627k weights)", lambda: glue.adam_update(w, w, w.copy(), cupy.abs(w), 2e-4, 0.5, 0.999, 1e-8, 10), 7 * w.size * FLOAT),
        ("bce_with_logits", lambda: glue.bce_with_logits(logits, t), 3 * logits.size * FLOAT),
    ]  # fmt: skip
    rows = []
    for name, call, nbytes in cases:
        seconds = timed(call, repeats)
        rows.append((name, seconds, nbytes / seconds / bandwidth))
    return rows


class Iteration:
    """One DCGAN-28 iteration on the GPU (D step on a real and a fake batch, then a G step),
    device-resident: noise from ``cupy.random``, losses as device scalars, no host sync.
    """

    def __init__(self, batch: int) -> None:
        self.G, self.D = models.dcgan28(rng=np.random.default_rng(0))
        self.G.to("cupy")
        self.D.to("cupy")
        self.opt_G = optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_D = optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.real = cupy.random.uniform(-1, 1, (batch, 1, 28, 28), dtype=cupy.float32)
        self.z = cupy.random.standard_normal((2, batch, 100), dtype=cupy.float32)
        self.ones = cupy.ones((batch, 1), cupy.float32)
        self.zeros = cupy.zeros((batch, 1), cupy.float32)

    def __call__(self) -> None:
        G, D, bce = self.G, self.D, glue.bce_with_logits
        D.zero_grad()
        D.backward(bce(D.forward(self.real), self.ones)[1])
        D.backward(bce(D.forward(G.forward(self.z[0])), self.zeros)[1])
        self.opt_D.step()
        G.zero_grad()
        G.backward(D.backward(bce(D.forward(G.forward(self.z[1])), self.ones)[1]))
        self.opt_G.step()

    def refresh_noise(self) -> None:
        """Fresh noise into the same buffer, outside any graph (a replay reads it from there)."""
        self.z[...] = cupy.random.standard_normal(self.z.shape, dtype=cupy.float32)


def iteration_rows(batch: int, repeats: int) -> dict[str, float | str]:
    """Seconds per iteration: minigan eager, minigan CUDA-graph replay, PyTorch CUDA eager."""
    out: dict[str, float | str] = {}
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        step = Iteration(batch)

        def eager() -> None:
            step.refresh_noise()
            step()

        out["minigan eager"] = timed(eager, repeats)
        try:
            stream.begin_capture()
            step()
            graph = stream.end_capture()

            def replay() -> None:
                step.refresh_noise()
                graph.launch(stream)

            out["minigan graph"] = timed(replay, repeats)
        except Exception as e:  # report, don't hide: capture may reject an op
            out["minigan graph"] = f"capture failed: {type(e).__name__}: {e}"[:120]
    out["torch eager"] = torch_iteration(batch, repeats)
    return out


def torch_iteration(batch: int, repeats: int) -> float | str:
    """PyTorch CUDA eager twin of :class:`Iteration` (same model, losses, Adam), by CUDA events."""
    try:
        import torch
    except ImportError:
        return "torch not installed"
    if not torch.cuda.is_available():
        return "torch has no CUDA"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import torch_dcgan

    dev = torch.device("cuda")
    G, D = (m.to(dev) for m in torch_dcgan.dcgan28())
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    real = torch.rand(batch, 1, 28, 28, device=dev) * 2 - 1
    ones, zeros = torch.ones(batch, 1, device=dev), torch.zeros(batch, 1, device=dev)

    def step() -> None:
        opt_D.zero_grad()
        bce(D(real), ones).backward()
        bce(D(G(torch.randn(batch, 100, device=dev)).detach()), zeros).backward()
        opt_D.step()
        opt_G.zero_grad()
        bce(D(G(torch.randn(batch, 100, device=dev))), ones).backward()
        opt_G.step()

    for _ in range(5):
        step()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(repeats):
        start.record()
        step()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / 1e3)
    return statistics.median(times)


def fmt(value: float | str, scale: float = 1e3, unit: str = "ms") -> str:
    return value if isinstance(value, str) else f"{value * scale:.3f} {unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/gpu/RESULTS-gpu.md"))
    args = parser.parse_args()
    minigan.use("cupy")
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    device = props["name"].decode()
    bandwidth = copy_bandwidth(args.repeats)
    lines = [
        f"## GPU: {device}, {datetime.date.today().isoformat()}",
        "",
        f"Command: `{' '.join(['python', *sys.argv])}`; CuPy {cupy.__version__}; "
        f"measured device-to-device copy bandwidth {bandwidth / 1e9:.0f} GB/s.",
        "",
        f"### Custom kernels (batch {args.batches[0]}; CUDA events, median of {args.repeats})",
        "",
        "| kernel | time | bytes moved / time, as a fraction of copy bandwidth |",
        "|---|---|---|",
    ]
    for name, seconds, fraction in kernel_rows(args.batches[0], args.repeats, bandwidth):
        lines.append(f"| {name} | {fmt(seconds, 1e6, 'us')} | {fraction:.0%} |")
    lines += [
        "",
        "### DCGAN-28 iteration (float32; D step on real + fake, G step; Adam)",
        "",
        "| batch | minigan eager | minigan CUDA graph | PyTorch CUDA eager | graph / PyTorch |",
        "|---|---|---|---|---|",
    ]
    for batch in args.batches:
        t0 = time.perf_counter()
        row = iteration_rows(batch, args.repeats)
        graph, torch_t = row["minigan graph"], row["torch eager"]
        timed_both = not isinstance(graph, str) and not isinstance(torch_t, str)
        ratio = f"{graph / torch_t:.2f}x" if timed_both else "-"
        lines.append(
            f"| {batch} | {fmt(row['minigan eager'])} | {fmt(graph)} | {fmt(torch_t)} | {ratio} |"
        )
        print(f"batch {batch}: {row} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
