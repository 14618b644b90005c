"""No per-iteration allocation growth: resident memory stays flat over training iterations.

Short by design (batch 8, 40 iterations per backend); ``bench_step.py --memory 500`` is the
full measurement, reported in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from minigan import backend

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_resident_memory_stays_flat(name):
    if name not in backend.available():
        pytest.skip(f"backend {name!r} is not installed")
    sys.path.insert(0, str(BENCH))
    try:
        import bench_step
        import common
    finally:
        sys.path.remove(str(BENCH))
    trainer = common.MiniganTrainer(name, batch=8)
    for _ in range(10):  # warm-up: compilation, caches, allocator pools
        trainer.step()
    before = bench_step.rss_mib()
    for _ in range(30):
        trainer.step()
    assert bench_step.rss_mib() - before < 4.0
