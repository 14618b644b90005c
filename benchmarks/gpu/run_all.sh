#!/usr/bin/env bash
# The one command for a GPU machine (cupy, numba-cuda, and torch with CUDA for the comparison):
#   bash benchmarks/gpu/run_all.sh
# 1. the CUDA kernels against their NumPy references, on the device;
# 2. the cupy backend against the numpy backend (DCGAN-28 forward + backward, 1e-4 relative);
# 3. the GPU benchmark, written to benchmarks/gpu/RESULTS-gpu.md (paste it into
#    benchmarks/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m pytest -q -p no:cacheprovider tests/test_kernels_cuda.py tests/test_cupy_backend.py -rs
python benchmarks/gpu/bench_gpu.py --batches 64 1024 --repeats 50 --out benchmarks/gpu/RESULTS-gpu.md "$@"
