"""One full DCGAN-28 training iteration (D step + G step), every contender side by side.

Contenders: each installed minigan backend (``numpy``, ``numba``) and, when PyTorch is
installed, its CPU twin (``torch_dcgan.py``), all pinned to the same thread count. Before
timing, the first iteration's losses of every contender are checked against the NumPy backend
from the same weights, batch and noise. Then the contenders take turns in blocks of
``BLOCK`` timed iterations, each block opened by one untimed iteration, so that load from
elsewhere on the machine falls on all of them alike while no timed iteration inherits the
previous contender's threads (PyTorch's OpenMP workers spin for a while after each parallel
region, and measured, interleaving single iterations made the numba backend's 0.14 s iteration
take 0.33-0.39 s). The median per contender is reported with images/s, the ratio to PyTorch,
the GEMM FLOP rate and its fraction of NumPy's float32 matrix-multiply rate measured in the
same run. Numba's first-call compile time is measured in a child process with an empty cache
(cold) and again with the cache it filled (warm).

On a GPU (``--backend cupy``, or by default when CuPy sees a device): the ``cupy`` backend's
iteration (``gpu_common.CupyTrainer``: parameters, optimizer state, data and noise on the
device), the same iteration captured once as a CUDA graph and replayed (``cupy (graph)``), and
PyTorch CUDA eager on the same GPU when PyTorch has CUDA (``torch (cuda)``, TF32 off). GPU rows
are timed by CUDA events on their stream, each iteration started on an idle device, and their
GEMM rate fraction is against cuBLAS's float32 rate measured in the same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_step.py
    python benchmarks/bench_step.py --batch 8 --iters 2 --warmup 1 --no-compile-time   # smoke
    python benchmarks/bench_step.py --memory 500 --batch 64    # resident memory over 500 steps
    python benchmarks/bench_step.py --breakdown 20 --batch 64  # time per op inside the step
    python benchmarks/bench_step.py --backend cupy --batch 64 1024    # GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
import gpu_common
import numpy as np

from minigan import backend

HERE = Path(__file__).resolve().parent
BLOCK = 5  # timed iterations per contender per turn


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--iters", type=int, default=20, help="timed iterations per contender")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--backend", nargs="+", default=None, choices=list(backend.BACKENDS),
        help="default: every installed (cupy when CuPy sees a CUDA device)",
    )  # fmt: skip
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--no-compile-time", action="store_true")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with the process's CPU clock instead of the wall clock: robust to other "
        "load on the machine, meaningful with --threads 1 (with more, spinning threads count)",
    )
    parser.add_argument("--chart", default=str(HERE / "bench_step.png"), help="'' for none")
    parser.add_argument(
        "--memory", type=int, default=0, metavar="N", help="only measure RSS over N iterations"
    )
    parser.add_argument(
        "--breakdown",
        type=int,
        default=0,
        metavar="N",
        help="only time each op inside N iterations, per CPU backend, against the GEMM-only floor",
    )
    parser.add_argument("--first-step", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    gpu_asked = any(name in gpu_common.GPU_BACKENDS for name in args.backend or [])
    if (args.memory or args.breakdown) and gpu_asked:
        parser.error("--memory and --breakdown measure the host: CPU backends only")
    args.backend = gpu_common.select_backends(parser, args.backend)
    if args.memory or args.breakdown:  # the default may hold a GPU backend
        args.backend = [name for name in args.backend if name not in gpu_common.GPU_BACKENDS]
    return args


def rss_mib() -> float:
    """Resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_report(names: list[str], batch: int, iterations: int) -> str:
    """RSS after each tenth of ``iterations`` per backend: it must stay flat after warm-up."""
    rows = []
    for name in names:
        trainer = common.MiniganTrainer(name, batch)
        samples = []
        for i in range(1, iterations + 1):
            trainer.step()
            if i % max(iterations // 10, 1) == 0 or i == 10:
                samples.append((i, rss_mib()))
        after_warmup = next(r for i, r in samples if i >= 10)
        growth = samples[-1][1] - after_warmup
        rows.append(
            [
                name,
                batch,
                f"{after_warmup:.1f}",
                f"{samples[-1][1]:.1f}",
                f"{growth:+.1f}",
                " ".join(f"{r:.0f}" for _, r in samples),
            ]
        )
    return common.markdown_table(
        ["backend", "batch", "RSS @10 (MiB)", f"RSS @{iterations} (MiB)", "growth", "samples"],
        rows,
    )


def breakdown_report(names: list[str], batch: int, iterations: int) -> str:
    """Milliseconds per iteration in each op inside the step, per backend, with the GEMM-only
    floor for scale: the convolutions' time above it is their data movement.
    """
    results = {name: common.op_breakdown(name, batch, iterations) for name in names}
    ops = sorted({op for per_op, _ in results.values() for op in per_op},
                 key=lambda op: -max(r[0].get(op, 0.0) for r in results.values()))  # fmt: skip
    rows = [[op, *(results[name][0].get(op, 0.0) * 1e3 for name in names)] for op in ops]
    rows.append(["all ops", *(sum(results[n][0].values()) * 1e3 for n in names)])
    rows.append(["whole iteration", *(results[n][1] * 1e3 for n in names)])
    floor = common.gemm_floor(batch)
    return "\n".join(
        [
            f"ms per iteration inside the step, batch {batch}, {iterations} iterations, wall "
            "clock (each op call timed)",
            "",
            common.markdown_table(["op", *names], rows),
            "",
            f"GEMM-only floor at batch {batch}: {floor * 1e3:.1f} ms (the iteration's GEMM "
            "shapes alone, np.matmul, this run)",
        ]
    )


def first_step_seconds(batch: int) -> None:
    """Child-process mode: print the first numba iteration's time and the steady median."""
    trainer = common.MiniganTrainer("numba", batch)
    start = time.perf_counter()
    trainer.step()
    first = time.perf_counter() - start
    print(first, common.median_time(trainer.step, 5, warmup=1))


def compile_times(batch: int, threads: int) -> tuple[float, float]:
    """(cold, warm) first-iteration overhead of the numba backend: a child process with an
    empty ``NUMBA_CACHE_DIR`` compiles every kernel; a second one reuses that cache.
    """
    overheads = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, __file__, "--first-step", "--batch", str(batch),
                 "--threads", str(threads)],
                env=env, check=True, capture_output=True, text=True,
            ).stdout.split()  # fmt: skip
            first, steady = map(float, out[-2:])
            overheads.append(first - steady)
    return overheads[0], overheads[1]


@dataclasses.dataclass
class Contender:
    """A trainer to time: ``trainer.step()`` runs one iteration, ``timer`` times one call,
    ``gpu`` says which GEMM rate its FLOP rate is a fraction of.
    """

    trainer: Any
    timer: common.Timer
    gpu: bool


def contenders(
    names: list[str],
    batch: int,
    torch_device: str | None,
    threads: int,
    clock: Callable[[], float],
    notes: list[str],
) -> tuple[common.MiniganTrainer, dict[str, Contender]]:
    """The ``numpy`` reference trainer, and name -> contender, every one starting from its
    weights, real batch and noise: the minigan backends (``cupy`` also replayed as a CUDA graph,
    ``cupy (graph)``, unless the capture fails: the reason goes to ``notes``) and PyTorch on
    ``torch_device`` (``"torch"`` on the CPU, ``"torch (cuda)"``; None: left out).
    """
    reference = common.MiniganTrainer("numpy", batch)
    out = {}
    for name in names:
        if name in gpu_common.GPU_BACKENDS:
            out[name] = Contender(gpu_common.CupyTrainer(batch), gpu_common.cupy_timer(), True)
            graph = gpu_common.graph_or_reason(batch)
            if isinstance(graph, str):
                notes.append(f"{name} (graph) at batch {batch}: {graph}")
            else:
                out[f"{name} (graph)"] = Contender(graph, gpu_common.cupy_timer(graph.stream), True)
        else:
            trainer = reference if name == "numpy" else common.MiniganTrainer(name, batch)
            out[name] = Contender(trainer, common.clock_timer(clock), False)
    if torch_device is not None:
        import torch_dcgan

        torch_dcgan.set_threads(threads)
        twin = torch_dcgan.twin(reference, torch_device)
        if torch_device == "cuda":
            out["torch (cuda)"] = Contender(twin, torch_dcgan.cuda_timer(), True)
        else:
            out["torch"] = Contender(twin, common.clock_timer(clock), False)
    return reference, out


def check_first_iteration(reference: common.MiniganTrainer, trainers: dict[str, Contender]) -> None:
    """Every contender's first-iteration losses equal the NumPy backend's (float32 tolerance)."""
    values = {name: c.trainer.step() for name, c in trainers.items()}
    if any(c.gpu for c in trainers.values()):
        gpu_common.synchronize()  # a graph's losses are written on a stream of its own
    losses = {name: tuple(float(v) for v in value) for name, value in values.items()}
    ref = losses["numpy"] if "numpy" in losses else reference.step()
    for name, value in losses.items():
        if not np.allclose(value, ref, rtol=1e-3, atol=1e-4):
            raise SystemExit(f"{name}'s losses {value} differ from numpy's {ref}")


def header(
    args: argparse.Namespace, info: dict[str, Any], names: list[str], cpu_rows: bool
) -> list[str]:
    """What was measured and how: the BLAS and threads of the CPU rows, the GPU of the GPU rows."""
    lines = [f"Command: {' '.join([Path(sys.executable).name, *sys.argv])}"]
    repeats = (
        "float32"
        if args.memory or args.breakdown  # these modes say how they run in their own lines
        else f"float32; median of {args.iters} iterations after {args.warmup} warm-up, "
        f"in interleaved blocks of {BLOCK}"
    )
    if cpu_rows:
        lines += [
            common.blas_line(info),
            f"Threads per contender: {args.threads}; {repeats}; "
            f"{'process CPU' if args.cpu_time else 'wall'} clock",
        ]
    if any(name in gpu_common.GPU_BACKENDS for name in names):
        lines.append(f"{gpu_common.device_line()}; {repeats}")
    return [*lines, common.load_line()]


def run(args: argparse.Namespace) -> str:
    names = args.backend
    gpu = any(name in gpu_common.GPU_BACKENDS for name in names)
    info = common.pin_threads(args.threads)  # before PyTorch loads its own BLAS
    torch_device = None
    if not (args.no_torch or args.memory or args.breakdown) and common.importlib_find("torch"):
        import torch_dcgan

        torch_device = "cuda" if gpu and torch_dcgan.cuda_available() else "cpu"
    cpu_rows = torch_device == "cpu" or any(n not in gpu_common.GPU_BACKENDS for n in names)
    lines = header(args, info, names, cpu_rows)
    if args.memory:
        return "\n".join([*lines, "", memory_report(names, args.batch[0], args.memory)])
    if args.breakdown:
        return "\n".join([*lines, "", breakdown_report(names, args.batch[0], args.breakdown)])
    rates = {}  # GEMM rate measured in this run, of the CPU rows (False) and the GPU rows (True)
    if cpu_rows:
        rates[False] = common.gemm_rate()
        lines.append(f"NumPy float32 GEMM rate (same run): {rates[False] / 1e9:.1f} GFLOP/s")
    if gpu:
        rates[True] = gpu_common.cublas_gemm_rate()
        lines.append(
            f"cuBLAS float32 GEMM rate (same run, cupy.matmul 4096^3): {rates[True] / 1e9:.1f} "
            "GFLOP/s, the rate the GPU rows are a fraction of"
        )
    if torch_device == "cuda":
        lines.append(torch_dcgan.prepare_cuda())
    elif torch_device == "cpu":
        lines.append(f"PyTorch {torch_dcgan.info()['torch']}")
    clock = time.process_time if args.cpu_time else time.perf_counter
    rows, chart, notes = [], {}, []
    for batch in args.batch:
        reference, trainers = contenders(names, batch, torch_device, args.threads, clock, notes)
        check_first_iteration(reference, trainers)
        for c in trainers.values():
            for _ in range(args.warmup):
                c.trainer.step()
        times: dict[str, list[float]] = {name: [] for name in trainers}
        while len(times[next(iter(times))]) < args.iters:
            for name, c in trainers.items():
                c.trainer.step()  # settles the threads after the previous contender's block
                if gpu:
                    gpu_common.synchronize()  # and the device: no other stream still busy
                for _ in range(min(BLOCK, args.iters - len(times[name]))):
                    times[name].append(c.timer(c.trainer.step))
        flops = common.step_flops(batch)
        medians = {name: statistics.median(t) for name, t in times.items()}
        torch_name = next((name for name in medians if name.startswith("torch")), None)
        for name, seconds in medians.items():
            ratio = f"{seconds / medians[torch_name]:.2f}x" if torch_name else "n/a"
            rows.append(
                [name, batch, seconds, batch / seconds, ratio, flops / seconds / 1e9,
                 f"{flops / seconds / rates[trainers[name].gpu]:.0%}"]
            )  # fmt: skip
            chart.setdefault(name, []).append(seconds)
        lines.append(f"GEMM FLOPs per iteration at batch {batch}: {flops / 1e9:.2f} GFLOP")
        if cpu_rows:
            floor = common.gemm_floor(batch)
            vs = f" = {floor / medians[torch_name]:.2f}x {torch_name}" if torch_name else ""
            lines.append(
                f"GEMM-only floor at batch {batch}: {floor:.4f} s{vs} (the iteration's "
                f"{len(common.iteration_gemms(batch))} GEMM shapes alone, np.matmul, this run)"
            )
    table = common.markdown_table(
        ["contender", "batch", "s/iter", "images/s", "vs PyTorch", "GFLOP/s", "of GEMM rate"],
        rows,
    )
    lines += ["", table, *notes, "", common.load_line()]
    if "numba" in names and not args.no_compile_time:
        cold, warm = compile_times(args.batch[0], args.threads)
        lines.append(
            f"\nNumba first-iteration overhead at batch {args.batch[0]}: {cold:.1f} s with an "
            f"empty cache (compilation), {warm:.2f} s with the cache of the previous run"
        )
    if args.chart:
        common.bar_chart(
            args.chart, [f"batch {b}" for b in args.batch], chart, "seconds per iteration",
            f"DCGAN-28 training iteration, {gpu_common.run_label(args.threads, cpu_rows, gpu)} "
            "(lower is better)",
        )  # fmt: skip
        lines.append(f"\nChart: {args.chart}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.first_step:
        common.pin_threads(args.threads)
        first_step_seconds(args.batch[0])
        return
    print(run(args))


if __name__ == "__main__":
    main()
