"""GPU benchmark of the ``cupy`` backend: custom kernels vs copy bandwidth, and the DCGAN-28
iteration eager, CUDA-graph-replayed, and PyTorch CUDA eager, at batch 64 and 1024.

Run through ``benchmarks/gpu/run_all.sh`` (it runs the agreement test first). Timing: CUDA events
around each call on its stream, after warm-up, each call started on an idle stream; the median of
``--repeats`` runs. The timers, the minigan iteration (eager and as a CUDA graph) and PyTorch's
twin are those of ``bench_step.py`` (``gpu_common.py``, ``torch_dcgan.py``). Writes a Markdown
report (``--out``) with the device, the date and the command.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import cupy
import numpy as np

import minigan
from minigan import backend
from minigan import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared helpers
import common
import gpu_common

FLOAT = 4  # bytes


def copy_bandwidth(repeats: int) -> float:
    """Device-to-device copy bandwidth in bytes/s (read + write of 256 MiB)."""
    src = cupy.ones(64 * 2**20, cupy.float32)
    dst = cupy.empty_like(src)
    return 2 * src.nbytes / gpu_common.cuda_time(lambda: dst.__setitem__(Ellipsis, src), repeats)


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

    ops = (
        F.leaky_relu_forward, F.relu_backward, F.tanh_forward, F.batchnorm_forward,
        F.batchnorm_backward, F.im2col, F.col2im, F.adam_update, F.bce_with_logits,
    )  # fmt: skip
    gpu = {op: backend.kernel(op, x64) for op in ops}  # what runs on CuPy arrays, looked up once
    assert all(gpu[op] is not op for op in ops), "an op without a CUDA kernel"
    _, cache = gpu[F.batchnorm_forward](x64, g64, g64, rm, rv, True, 0.1, 1e-5)
    w = arr(6272 * 100)
    cols = arr(batch, 7, 7, 64, 4, 4)
    logits = arr(batch, 1)
    t = cupy.ones_like(logits)
    y_ref, _ = F.leaky_relu_forward(cupy.asnumpy(x64), 0.2)
    assert np.allclose(cupy.asnumpy(gpu[F.leaky_relu_forward](x64, 0.2)[0]), y_ref)
    n = x64.size
    cases = [  # name, call, bytes moved
        ("leaky_relu fwd (64ch 14x14)", lambda: gpu[F.leaky_relu_forward](x64, 0.2), n * (2 * FLOAT + 1)),
        ("relu bwd (64ch 14x14)", lambda: gpu[F.relu_backward](x64, x64), 3 * n * FLOAT),
        ("tanh fwd (6272)", lambda: gpu[F.tanh_forward](x1d), 2 * x1d.size * FLOAT),
        ("batchnorm2d fwd (64ch)", lambda: gpu[F.batchnorm_forward](x64, g64, g64, rm, rv, True, 0.1, 1e-5), 5 * n * FLOAT),
        ("batchnorm2d bwd (64ch)", lambda: gpu[F.batchnorm_backward](x64, cache), 4 * n * FLOAT),
        ("batchnorm1d fwd (6272ch)", lambda: gpu[F.batchnorm_forward](x1d, arr(6272), arr(6272), cupy.zeros(6272, cupy.float32), cupy.ones(6272, cupy.float32), True, 0.1, 1e-5), 5 * x1d.size * FLOAT),
        ("im2col (64ch 14x14, k4 s2 p1)", lambda: gpu[F.im2col](x64, 4, 4, 2, 1), (n + cols.size) * FLOAT),
        ("col2im (64ch 7x7 -> 14x14)", lambda: gpu[F.col2im](cols, (batch, 64, 14, 14), 2, 1), (cols.size + n) * FLOAT),
        ("adam (627k weights)", lambda: gpu[F.adam_update](w, w, w.copy(), cupy.abs(w), 2e-4, 0.5, 0.999, 1e-8, 10), 7 * w.size * FLOAT),
        ("bce_with_logits", lambda: gpu[F.bce_with_logits](logits, t), 3 * logits.size * FLOAT),
    ]  # fmt: skip
    rows = []
    for name, call, nbytes in cases:
        seconds = gpu_common.cuda_time(call, repeats)
        rows.append((name, seconds, nbytes / seconds / bandwidth))
    return rows


def iteration_rows(batch: int, repeats: int) -> dict[str, float | str]:
    """Seconds per iteration: minigan eager, minigan CUDA-graph replay, PyTorch CUDA eager (or
    why a column has no timing).
    """
    out: dict[str, float | str] = {
        "minigan eager": gpu_common.cuda_time(gpu_common.CupyTrainer(batch).step, repeats)
    }
    graph = gpu_common.graph_or_reason(batch)
    out["minigan graph"] = (
        graph
        if isinstance(graph, str)
        else gpu_common.cuda_time(graph.step, repeats, stream=graph.stream)
    )
    out["torch eager"] = torch_iteration(batch, repeats)
    return out


def torch_setup() -> str:
    """PyTorch's header line (TF32 turned off, as CuPy runs float32), or why it is left out."""
    if not common.importlib_find("torch"):
        return "PyTorch: not installed"
    import torch_dcgan

    return torch_dcgan.prepare_cuda() if torch_dcgan.cuda_available() else "PyTorch: no CUDA"


def torch_iteration(batch: int, repeats: int) -> float | str:
    """PyTorch CUDA eager twin of the minigan iteration (same model, losses, Adam, weights), by
    CUDA events; a string when PyTorch or its CUDA is missing.
    """
    if not common.importlib_find("torch"):
        return "torch not installed"
    import torch_dcgan

    if not torch_dcgan.cuda_available():
        return "torch has no CUDA"
    trainer = torch_dcgan.twin(common.MiniganTrainer("numpy", batch), "cuda")
    return common.median_seconds(torch_dcgan.cuda_timer(), trainer.step, repeats, warmup=5)


def fmt(value: float | str, scale: float = 1e3, unit: str = "ms") -> str:
    return value if isinstance(value, str) else f"{value * scale:.3f} {unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/gpu/RESULTS-gpu.md"))
    args = parser.parse_args()
    minigan.use("cupy")
    bandwidth = copy_bandwidth(args.repeats)
    lines = [
        f"## GPU: {gpu_common.device_name()}, {datetime.date.today().isoformat()}",
        "",
        f"Command: `{' '.join(['python', *sys.argv])}`; CuPy {cupy.__version__}; "
        f"measured device-to-device copy bandwidth {bandwidth / 1e9:.0f} GB/s. "
        f"{torch_setup()}.",
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
