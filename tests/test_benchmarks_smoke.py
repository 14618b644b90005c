"""The benchmarks keep working: each script runs a couple of tiny iterations and prints its
table (timings are benchmark figures, never asserted). PyTorch is optional: without it the
torch contender is left out by itself; with it, its DCGAN-28 twin must compute what minigan
computes from the same weights.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
HAS_TORCH = importlib.util.find_spec("torch") is not None


def run_script(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_bench_ops_prints_its_table():
    out = run_script("bench_ops.py", "--batch", "4", "--repeats", "1", "--chart", "")
    assert "| layer (input shape) | batch | backend |" in out
    assert "D.2 Conv2d (64, 14, 14)" in out
    assert "G Adam step" in out


@pytest.mark.parametrize("torch_flag", [[], ["--no-torch"]])
def test_bench_step_prints_its_table(tmp_path, torch_flag):
    chart = tmp_path / "step.png"
    out = run_script(
        "bench_step.py", "--batch", "4", "--iters", "2", "--warmup", "1",
        "--no-compile-time", "--chart", str(chart), *torch_flag,
    )  # fmt: skip
    assert "| contender | batch | s/iter | images/s |" in out
    assert "| numpy | 4 |" in out
    assert "GEMM FLOPs per iteration" in out and "NumPy BLAS:" in out
    assert ("| torch | 4 |" in out) == (HAS_TORCH and not torch_flag)
    assert chart.stat().st_size > 0


def test_bench_step_memory_mode():
    out = run_script("bench_step.py", "--batch", "4", "--memory", "12", "--backend", "numpy")
    assert "| numpy | 4 |" in out and "growth" in out


def test_step_flops_match_the_layer_sums():
    sys.path.insert(0, str(BENCH))
    try:
        import common
    finally:
        sys.path.remove(str(BENCH))
    # batch 64 by hand: G forward 0.93 GFLOP (Linear 80.3M, ConvT 822.1M + 25.7M), D forward
    # 0.849 GFLOP (Conv 25.7M + 822.1M, Linear 0.8M); 9 D forwards' worth + 4 G's
    g = 2 * 64 * (100 * 6272 + 49 * 128 * 1024 + 196 * 64 * 16)
    d = 2 * 64 * (196 * 64 * 16 + 49 * 128 * 1024 + 6272)
    assert common.step_flops(64) == 9 * d + 4 * g


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed (optional)")
def test_torch_twin_computes_what_minigan_computes():
    import torch

    sys.path.insert(0, str(BENCH))
    try:
        import torch_dcgan
    finally:
        sys.path.remove(str(BENCH))
    from minigan import models

    rng = np.random.default_rng(0)
    G, D = models.dcgan28(rng=rng)
    tG, tD = torch_dcgan.dcgan28()
    torch_dcgan.load_minigan_state(tG, G.state_dict())
    torch_dcgan.load_minigan_state(tD, D.state_dict())
    z = rng.standard_normal((6, 100), dtype=np.float32)
    dy = rng.standard_normal((6, 1), dtype=np.float32)

    logits = D(G(z))
    dz = G.backward(D.backward(dy))
    tz = torch.from_numpy(z).requires_grad_()
    t_logits = tD(tG(tz))
    t_logits.backward(torch.from_numpy(dy))

    def rel(a: np.ndarray, b) -> float:
        b = b.detach().numpy()
        return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))

    assert rel(logits, t_logits) <= 1e-4
    assert rel(dz, tz.grad) <= 1e-4
    # a bias straight before BatchNorm has gradient 0 (BN subtracts the batch mean): both
    # engines give the float32 rounding noise of a per-channel sum (3136 terms in D.2), so
    # check it is noise on the scale of the network's gradients instead of comparing it
    before_batchnorm = {("G", "0.bias"), ("G", "4.bias"), ("D", "2.bias")}
    for net_name, net, tnet in (("G", G, tG), ("D", D, tD)):
        grads = dict(tnet.named_parameters())
        scale = max(np.abs(p.grad).max() for p in net.parameters())
        for name, p in net.named_parameters():
            if (net_name, name) in before_batchnorm:
                assert np.abs(p.grad).max() <= 1e-4 * scale, name
            else:
                assert rel(p.grad, grads[name].grad) <= 1e-4, (net_name, name)
