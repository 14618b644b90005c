"""Forward and backward of every DCGAN-28 layer at its own shapes, for each installed backend.

For each batch size of the sweep, each layer of ``minigan.models.dcgan28`` (and the Adam step
over each network's parameters) is run through its module, so through ``backend.kernel``, on
every backend. Each backend's output and input gradient are first checked against the NumPy
backend's, then timed: the median of ``--repeats`` forward calls and of as many backward calls.
The table gives those times, the GEMM GFLOP/s of forward + backward, the ratio to the NumPy
backend, and the layer's share of one training iteration (D's layers run 3 forwards and 3
backwards per iteration, G's 2 and 1: see ``common.step_flops``).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ops.py
    python benchmarks/bench_ops.py --batch 8 --repeats 2 --chart ''    # smoke
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import common
import numpy as np

from minigan import backend, models, nn, optim

HERE = Path(__file__).resolve().parent
# runs per training iteration (forward, backward) of a layer of G and of D
RUNS = {"G": (2, 1), "D": (3, 3)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", nargs="+", default=None, help="default: every installed")
    parser.add_argument("--chart", default=str(HERE / "bench_ops.png"), help="'' for none")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with the process's CPU clock (robust to other load; use with --threads 1)",
    )
    return parser.parse_args(argv)


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


def time_layer(
    layer: nn.Module, x: np.ndarray, repeats: int, clock: Callable[[], float]
) -> tuple[float, float, tuple]:
    """Median forward and backward seconds, and ``(y, dx)`` of one pass for the check."""
    y = layer(x)
    dy = np.random.default_rng(1).standard_normal(y.shape, dtype=np.float32)
    out = (y.copy(), layer.backward(dy).copy())
    forward = common.median_time(lambda: layer(x), repeats, clock=clock)
    layer(x)
    backward = common.median_time(lambda: layer.backward(dy), repeats, clock=clock)
    return forward, backward, out


def adam_cases():
    """One Adam step over each network's parameters (the fused-update candidates)."""
    G, D = models.dcgan28(rng=np.random.default_rng(0))
    for net_name, net in (("G", G), ("D", D)):
        params = net.parameters()
        for p in params:
            p.grad[...] = 0.01
        opt = optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))
        size = sum(p.data.size for p in params)
        yield f"{net_name} Adam step ({size / 1e6:.2f}M params)", opt


def run(args: argparse.Namespace) -> str:
    names = args.backend or [b for b in ("numpy", "numba") if b in backend.available()]
    info = common.pin_threads(args.threads)
    clock = time.process_time if args.cpu_time else time.perf_counter
    rows, chart, labels = [], {name: [] for name in names}, []
    chart_batch = 64 if 64 in args.batch else args.batch[0]
    for batch in args.batch:
        for label, net, layer, x in layer_cases(batch):
            flops = 3 * common.layer_gemm_flops(layer, x.shape)[0]
            per_iter = RUNS[net]
            results = {}
            for name in names:
                with backend.using(name):
                    results[name] = time_layer(layer, x, args.repeats, clock)
                ref = results[names[0]][2]
                for got, want in zip(results[name][2], ref):
                    scale = float(np.abs(want).max()) or 1.0
                    if not np.allclose(got, want, rtol=1e-4, atol=1e-5 * scale):
                        raise SystemExit(f"{label}: {name} differs from {names[0]}")
            base = sum(results[names[0]][:2])
            for name in names:
                fwd, bwd, _ = results[name]
                rows.append(
                    [label, batch, name, fwd * 1e3, bwd * 1e3,
                     flops / (fwd + bwd) / 1e9 if flops else "-", f"{base / (fwd + bwd):.2f}x",
                     (per_iter[0] * fwd + per_iter[1] * bwd) * 1e3]
                )  # fmt: skip
                if batch == chart_batch:
                    chart[name].append(fwd + bwd)
            if batch == chart_batch:
                labels.append(label)
        for label, opt in adam_cases():
            base = None
            for name in names:
                with backend.using(name):
                    seconds = common.median_time(opt.step, args.repeats, clock=clock)
                base = base or seconds
                rows.append(
                    [label, batch, name, seconds * 1e3, "-", "-", f"{base / seconds:.2f}x",
                     seconds * 1e3]
                )  # fmt: skip
    table = common.markdown_table(
        ["layer (input shape)", "batch", "backend", "fwd ms", "bwd ms", "GEMM GFLOP/s",
         "speed-up vs numpy", "ms per training iteration"],
        rows,
    )  # fmt: skip
    lines = [
        common.blas_line(info),
        f"Threads: {args.threads}; median of {args.repeats}; "
        f"{'process CPU' if args.cpu_time else 'wall'} clock",
        common.load_line(),
        "",
        table,
    ]
    if args.chart:
        common.bar_chart(
            args.chart, labels, chart, "forward + backward seconds",
            f"DCGAN-28 layers at batch {chart_batch}, "
            f"{args.threads} threads (lower is better)",
        )  # fmt: skip
        lines.append(f"\nChart: {args.chart}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    print(run(parse_args(argv)))


if __name__ == "__main__":
    main()
