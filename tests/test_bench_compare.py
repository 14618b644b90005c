"""``benchmarks/bench_compare.py``: an earlier copy of the package, renamed, runs beside the
current one in one process and both print a row (timings are never asserted)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_compare_runs_a_copy_beside_the_current_package(tmp_path):
    shutil.copytree(
        ROOT / "minigan", tmp_path / "minigan", ignore=shutil.ignore_patterns("__pycache__")
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_compare.py"), "--before", str(tmp_path),
         "--batch", "4", "--iters", "1", "--backend", "numpy", "--no-torch"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| numpy ")]
    assert [row.split(" | ")[0] for row in rows] == ["| numpy before", "| numpy after"]


def test_bench_compare_refuses_a_directory_without_the_package(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_compare.py"), "--before", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"--before: no minigan package in {tmp_path}" in result.stderr
