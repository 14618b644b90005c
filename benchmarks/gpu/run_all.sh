#!/usr/bin/env bash
# The one command for a GPU machine (cupy, numba-cuda, and torch with CUDA for the comparison):
#   bash benchmarks/gpu/run_all.sh
# 1. the CUDA kernels against their NumPy references, on the device;
# 2. the cupy backend against the numpy backend (DCGAN-28 forward + backward, 1e-4 relative);
# 3. the GPU benchmark, written to benchmarks/gpu/RESULTS-gpu.md (paste it into
#    benchmarks/RESULTS.md);
# 4. bench_step.py and bench_ops.py on the cupy backend (eager, CUDA graph, PyTorch CUDA eager;
#    each layer), their tables in benchmarks/gpu/bench_{step,ops}-cupy.md, charts beside them.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=benchmarks/gpu
python -m pytest -q -p no:cacheprovider tests/test_kernels_cuda.py tests/test_cupy_backend.py -rs
python benchmarks/gpu/bench_gpu.py --batches 64 1024 --repeats 50 --out "$out/RESULTS-gpu.md" "$@"
python benchmarks/bench_step.py --backend cupy --batch 64 1024 \
    --chart "$out/bench_step-cupy.png" | tee "$out/bench_step-cupy.md"
python benchmarks/bench_ops.py --backend cupy --batch 64 1024 \
    --chart "$out/bench_ops-cupy.png" | tee "$out/bench_ops-cupy.md"
