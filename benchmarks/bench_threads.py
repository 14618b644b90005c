"""Where the second core goes: the numba backend's DCGAN-28 iteration for each split of threads
between the BLAS GEMMs and the Numba kernels, interleaved in one run.

A numba-backend iteration alternates about 30 OpenBLAS GEMMs with about 40 Numba kernels,
and the two libraries keep separate thread pools: OpenBLAS's workers spin for a while after each
GEMM, Numba's are woken for each parallel kernel (most of DCGAN-28's kernels now run on the
calling thread, where they measured faster: ``minigan.kernels.numba.launch``). PyTorch runs both kinds of work on one
OpenMP pool. Timing every (BLAS threads, Numba threads) pair in turn, in blocks of ``BLOCK``
iterations after an untimed one, shows what each pool's threads buy when the other is busy:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_threads.py
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import common

BLOCK = 5  # timed iterations per split per turn


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iters", type=int, default=20, help="timed iterations per split")
    parser.add_argument("--threads", type=int, default=2, help="most threads of either pool")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> str:
    from threadpoolctl import threadpool_limits

    info = common.pin_threads(args.threads)  # loads the numba backend first (its thread layer)
    import numba

    splits = list(itertools.product(range(args.threads, 0, -1), repeat=2))  # (BLAS, Numba)
    trainer = common.MiniganTrainer("numba", args.batch)
    for _ in range(3):
        trainer.step()
    times: dict[tuple[int, int], list[float]] = {split: [] for split in splits}
    while len(times[splits[-1]]) < args.iters:
        for blas, kernels in splits:
            with threadpool_limits(blas, user_api="blas"):
                numba.set_num_threads(kernels)
                trainer.step()  # untimed: the pools settle to this split
                for _ in range(min(BLOCK, args.iters - len(times[blas, kernels]))):
                    start = time.perf_counter()
                    trainer.step()
                    times[blas, kernels].append(time.perf_counter() - start)
    best = min(statistics.median(t) for t in times.values())
    rows = [
        [blas, kernels, statistics.median(t), f"{statistics.median(t) / best:.2f}x"]
        for (blas, kernels), t in times.items()
    ]
    table = common.markdown_table(["BLAS threads", "Numba threads", "s/iter", "vs best"], rows)
    return "\n".join(
        [
            common.blas_line(info),
            f"numba backend, batch {args.batch}, float32; median of {args.iters} iterations per "
            f"split, in interleaved blocks of {BLOCK}; wall clock",
            common.load_line(),
            "",
            table,
        ]
    )


def main(argv: list[str] | None = None) -> None:
    print(run(parse_args(argv)))


if __name__ == "__main__":
    main()
