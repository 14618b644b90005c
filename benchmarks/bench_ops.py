"""Forward and backward of every DCGAN-28 layer at its own shapes, for each installed backend.

For each batch size of the sweep, each layer of ``minigan.models.dcgan28`` (and the Adam step
over each network's parameters) is run through its module, so through ``backend.kernel``, on
every backend. Each backend's output and input gradient are first checked against the NumPy
backend's, then timed: the median of ``--repeats`` forward calls and of as many backward calls.
The table gives those times, the GEMM GFLOP/s of forward + backward, the ratio to the NumPy
backend (to the first backend listed when ``numpy`` is not among them), and the layer's share
of one training iteration (D's layers run 3 forwards and 3 backwards per iteration, G's 2 and 1:
see ``common.iteration_gemms``).

With ``--backend cupy`` (included by default when CuPy sees a CUDA device) the layer, its input
and upstream gradient, and the optimizer state live on the GPU, and its rows are timed by CUDA
events after warm-up (``gpu_common.py``); the header names the device.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ops.py
    python benchmarks/bench_ops.py --batch 8 --repeats 2 --chart ''    # smoke
    python benchmarks/bench_ops.py --backend cupy --batch 64 1024      # GPU
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import common
import gpu_common
import numpy as np

from minigan import backend, models, nn, optim

HERE = Path(__file__).resolve().parent
# runs per training iteration (forward, backward) of a layer of G and of D
RUNS = {"G": (2, 1), "D": (3, 3)}
# allowed difference from the numpy backend, relative to the largest magnitude of y or dx: the
# CPU kernels run NumPy's GEMMs; cuBLAS sums in another order (tests/test_cupy_backend.py's bound)
ATOL = {"numpy": 1e-5, "cupy": 1e-4}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--backend", nargs="+", default=None, choices=list(backend.BACKENDS),
        help="default: every installed (cupy when CuPy sees a CUDA device)",
    )  # fmt: skip
    parser.add_argument("--chart", default=str(HERE / "bench_ops.png"), help="'' for none")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with the process's CPU clock (robust to other load; use with --threads 1)",
    )
    args = parser.parse_args(argv)
    args.backend = gpu_common.select_backends(parser, args.backend)
    return args


def layer_cases(batch: int):
    """(label, network, layer, input) for every layer with work in it, at DCGAN-28's shapes."""
    rng = np.random.default_rng(0)
    G, D = models.dcgan28(rng=rng)
    for net_name, net, shape in (("G", G, (batch, common.Z_DIM)), ("D", D, (batch, 1, 28, 28))):
        for i, layer in enumerate(net):
            x = rng.standard_normal(shape, dtype=np.float32)
            x[np.abs(x) < 1e-3] = 1e-3  # away from the kink of (Leaky)ReLU
            if not isinstance(layer, (nn.Flatten, nn.Reshape)):
                yield f"{net_name}.{i} {type(layer).__name__} {shape[1:]}", net_name, layer, x
            shape = layer(x).shape


def forward_backward(layer: nn.Module, x: Any, dy: Any) -> tuple[np.ndarray, np.ndarray]:
    """Host copies of ``layer``'s output on ``x`` and of its input gradient for ``dy``."""
    y = np.array(backend.to_numpy(layer(x)))
    return y, np.array(backend.to_numpy(layer.backward(dy)))


def reference(layer: nn.Module, x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """An upstream gradient ``dy`` for ``layer`` and the NumPy backend's ``(y, dx)`` with it."""
    layer = copy.deepcopy(layer)
    with backend.using("numpy"):
        dy = np.random.default_rng(1).standard_normal(layer(x).shape, dtype=np.float32)
        return dy, forward_backward(layer, x, dy)


def check(label: str, name: str, got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> None:
    """Stop the run when backend ``name``'s ``(y, dx)`` differ from the NumPy backend's."""
    for g, w in zip(got, want):
        scale = float(np.abs(w).max()) or 1.0
        if not np.allclose(g, w, rtol=1e-4, atol=ATOL[device(name)] * scale):
            raise SystemExit(f"{label}: {name} differs from numpy")


def time_layer(
    layer: nn.Module, x: Any, dy: Any, repeats: int, timer: common.Timer
) -> tuple[float, float]:
    """Median forward and backward seconds of ``layer`` on ``x`` and ``dy``."""
    forward = common.median_seconds(timer, lambda: layer(x), repeats)
    layer(x)
    backward = common.median_seconds(timer, lambda: layer.backward(dy), repeats)
    return forward, backward


def adam_cases() -> Iterator[tuple[str, nn.Module]]:
    """(label, network) for one Adam step over each network's parameters (the fused-update
    candidates).
    """
    G, D = models.dcgan28(rng=np.random.default_rng(0))
    for net_name, net in (("G", G), ("D", D)):
        size = sum(p.data.size for p in net.parameters())
        yield f"{net_name} Adam step ({size / 1e6:.2f}M params)", net


def adam_on(net: nn.Module, where: str) -> optim.Adam:
    """Adam over a copy of ``net``'s parameters on device ``where``, every gradient 0.01."""
    params = copy.deepcopy(net).to(where).parameters()
    for p in params:
        p.grad[...] = 0.01
    return optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


def device(name: str) -> str:
    """Where backend ``name`` keeps its arrays: ``"cupy"`` (the GPU) or ``"numpy"``."""
    return "cupy" if name in gpu_common.GPU_BACKENDS else "numpy"


def run(args: argparse.Namespace) -> str:
    names = args.backend
    info = common.pin_threads(args.threads)
    clock = time.process_time if args.cpu_time else time.perf_counter
    timers = {
        name: gpu_common.cupy_timer() if device(name) == "cupy" else common.clock_timer(clock)
        for name in names
    }
    base = "numpy" if "numpy" in names else names[0]
    rows, chart, labels = [], {name: [] for name in names}, []
    chart_batch = 64 if 64 in args.batch else args.batch[0]
    for batch in args.batch:
        for label, net, layer, x in layer_cases(batch):
            flops = sum(map(common.gemm_flops, common.layer_gemms(layer, x.shape)[0].values()))
            per_iter = RUNS[net]
            dy, want = reference(layer, x)
            results = {}
            for name in names:
                where = device(name)
                on_device = copy.deepcopy(layer).to(where)
                xd, dyd = backend.to_device(x, where), backend.to_device(dy, where)
                with backend.using(name):
                    check(label, name, forward_backward(on_device, xd, dyd), want)
                    results[name] = time_layer(on_device, xd, dyd, args.repeats, timers[name])
            base_seconds = sum(results[base])
            for name in names:
                fwd, bwd = results[name]
                rows.append(
                    [label, batch, name, fwd * 1e3, bwd * 1e3,
                     flops / (fwd + bwd) / 1e9 if flops else "-",
                     f"{base_seconds / (fwd + bwd):.2f}x",
                     (per_iter[0] * fwd + per_iter[1] * bwd) * 1e3]
                )  # fmt: skip
                if batch == chart_batch:
                    chart[name].append(fwd + bwd)
            if batch == chart_batch:
                labels.append(label)
        for label, net in adam_cases():
            seconds = {}
            for name in names:
                opt = adam_on(net, device(name))
                with backend.using(name):
                    seconds[name] = common.median_seconds(timers[name], opt.step, args.repeats)
            for name in names:
                rows.append(
                    [label, batch, name, seconds[name] * 1e3, "-", "-",
                     f"{seconds[base] / seconds[name]:.2f}x", seconds[name] * 1e3]
                )  # fmt: skip
    table = common.markdown_table(
        ["layer (input shape)", "batch", "backend", "fwd ms", "bwd ms", "GEMM GFLOP/s",
         f"speed-up vs {base}", "ms per training iteration"],
        rows,
    )  # fmt: skip
    cpu_rows = any(device(name) == "numpy" for name in names)
    gpu_rows = any(device(name) == "cupy" for name in names)
    lines = []
    if cpu_rows:
        lines += [
            common.blas_line(info),
            f"Threads: {args.threads}; median of {args.repeats}; "
            f"{'process CPU' if args.cpu_time else 'wall'} clock",
        ]
    if gpu_rows:
        lines.append(f"{gpu_common.device_line()}; median of {args.repeats}")
    lines += [common.load_line(), "", table]
    if args.chart:
        common.bar_chart(
            args.chart, labels, chart, "forward + backward seconds",
            f"DCGAN-28 layers at batch {chart_batch}, "
            f"{gpu_common.run_label(args.threads, cpu_rows, gpu_rows)} (lower is better)",
        )  # fmt: skip
        lines.append(f"\nChart: {args.chart}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    print(run(parse_args(argv)))


if __name__ == "__main__":
    main()
