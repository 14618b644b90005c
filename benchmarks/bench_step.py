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

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_step.py
    python benchmarks/bench_step.py --batch 8 --iters 2 --warmup 1 --no-compile-time   # smoke
    python benchmarks/bench_step.py --memory 500 --batch 64    # resident memory over 500 steps
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
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
    parser.add_argument("--backend", nargs="+", default=None, help="default: every installed")
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
    parser.add_argument("--first-step", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


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


def contenders(names: list[str], batch: int, torch_on: bool, threads: int) -> dict:
    """name -> trainer, every one starting from the numpy trainer's weights, batch and noise."""
    out = {name: common.MiniganTrainer(name, batch) for name in names}
    reference = out[names[0]]
    if torch_on:
        import torch_dcgan

        torch_dcgan.set_threads(threads)
        out["torch"] = torch_dcgan.Trainer(
            batch,
            copy.deepcopy(reference.rng),
            reference.real,
            (reference.G.state_dict(), reference.D.state_dict()),
        )
    return out


def check_first_iteration(trainers: dict) -> None:
    """Every contender's first-iteration losses equal the NumPy backend's (float32 tolerance)."""
    losses = {name: t.step() for name, t in trainers.items()}
    ref = losses["numpy"] if "numpy" in losses else next(iter(losses.values()))
    for name, value in losses.items():
        if not np.allclose(value, ref, rtol=1e-3, atol=1e-4):
            raise SystemExit(f"{name}'s losses {value} differ from numpy's {ref}")


def run(args: argparse.Namespace) -> str:
    names = args.backend or [b for b in ("numpy", "numba") if b in backend.available()]
    torch_on = not args.no_torch and common.importlib_find("torch")
    info = common.pin_threads(args.threads)
    lines = [
        f"Command: {' '.join([Path(sys.executable).name, *sys.argv])}",
        common.blas_line(info),
        f"Threads per contender: {args.threads}; float32; median of {args.iters} iterations "
        f"after {args.warmup} warm-up, in interleaved blocks of {BLOCK}; "
        f"{'process CPU' if args.cpu_time else 'wall'} clock",
        common.load_line(),
    ]
    if args.memory:
        return "\n".join([*lines, "", memory_report(names, args.batch[0], args.memory)])
    rate = common.gemm_rate()
    lines.append(f"NumPy float32 GEMM rate (same run): {rate / 1e9:.1f} GFLOP/s")
    if torch_on:
        import torch_dcgan

        lines.append(f"PyTorch {torch_dcgan.info()['torch']}")
    rows, chart = [], {}
    for batch in args.batch:
        trainers = contenders(names, batch, torch_on, args.threads)
        check_first_iteration(trainers)
        for trainer in trainers.values():
            for _ in range(args.warmup):
                trainer.step()
        clock = time.process_time if args.cpu_time else time.perf_counter
        times: dict[str, list[float]] = {name: [] for name in trainers}
        while len(times[next(iter(times))]) < args.iters:
            for name, trainer in trainers.items():
                trainer.step()  # settles the threads after the previous contender's block
                for _ in range(min(BLOCK, args.iters - len(times[name]))):
                    start = clock()
                    trainer.step()
                    times[name].append(clock() - start)
        flops = common.step_flops(batch)
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, seconds in medians.items():
            ratio = f"{seconds / medians['torch']:.2f}x" if "torch" in medians else "n/a"
            rows.append(
                [name, batch, seconds, batch / seconds, ratio, flops / seconds / 1e9,
                 f"{flops / seconds / rate:.0%}"]
            )  # fmt: skip
            chart.setdefault(name, []).append(seconds)
        lines.append(f"GEMM FLOPs per iteration at batch {batch}: {flops / 1e9:.2f} GFLOP")
    table = common.markdown_table(
        ["contender", "batch", "s/iter", "images/s", "vs PyTorch", "GFLOP/s", "of GEMM rate"],
        rows,
    )
    lines += ["", table, "", common.load_line()]
    if "numba" in names and not args.no_compile_time:
        cold, warm = compile_times(args.batch[0], args.threads)
        lines.append(
            f"\nNumba first-iteration overhead at batch {args.batch[0]}: {cold:.1f} s with an "
            f"empty cache (compilation), {warm:.2f} s with the cache of the previous run"
        )
    if args.chart:
        common.bar_chart(
            args.chart, [f"batch {b}" for b in args.batch], chart, "seconds per iteration",
            f"DCGAN-28 training iteration, {args.threads} threads (lower is better)",
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
