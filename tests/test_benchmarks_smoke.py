"""The benchmarks keep working: each script runs a couple of tiny iterations and prints its
table (timings are benchmark figures, never asserted). PyTorch is optional: without it the
torch contender is left out by itself; with it, its DCGAN-28 twin must compute what minigan
computes from the same weights. Without CuPy or a CUDA device, asking for the ``cupy`` backend
is a clear argparse error; the GPU timing helpers are checked here as far as they are plain
Python (the CUDA calls themselves run only on a GPU, in ``benchmarks/gpu/run_all.sh``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from devices import cupy_runs_here  # tests/devices.py

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_NUMBA = importlib.util.find_spec("numba") is not None
HAS_GPU = cupy_runs_here()


def bench_module(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` (the scripts import each other by plain name)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


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


@pytest.mark.skipif(not HAS_NUMBA, reason="the numba backend is not installed")
def test_bench_threads_prints_every_split():
    out = run_script("bench_threads.py", "--batch", "4", "--iters", "1", "--threads", "2")
    for blas, kernels in ((2, 2), (2, 1), (1, 2), (1, 1)):
        assert f"| {blas} | {kernels} |" in out
    assert "NumPy BLAS:" in out


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


@pytest.mark.skipif(HAS_GPU, reason="CuPy sees a CUDA device here: --backend cupy runs")
@pytest.mark.parametrize("script", ["bench_step.py", "bench_ops.py"])
def test_cupy_backend_without_a_gpu_is_a_clear_error(script):
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--backend", "cupy"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "error: backend 'cupy'" in result.stderr
    if importlib.util.find_spec("cupy") is None:
        assert "pip install '.[cuda]'" in result.stderr
    else:
        assert "no CUDA device found" in result.stderr


@pytest.mark.skipif(HAS_GPU, reason="CuPy sees a CUDA device here: the default includes cupy")
def test_default_backends_are_the_installed_cpu_ones_without_a_gpu():
    gpu_common = bench_module("gpu_common")
    from minigan import backend

    cpu = [name for name in backend.available() if name != "cupy"]
    assert gpu_common.select_backends(argparse.ArgumentParser(), None) == cpu


class RecordingEvent:
    """Stands in for a CUDA event (the ``record``/``synchronize`` calls both CuPy's and
    PyTorch's have), writing what happens to a shared log; its time is the log's length.
    """

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.at = name, log, None

    def record(self, stream: object) -> None:
        self.log.append(f"{self.name}.record({stream})")
        self.at = len(self.log)

    def synchronize(self) -> None:
        self.log.append(f"{self.name}.synchronize")


def test_event_timer_records_around_the_call_from_an_idle_stream():
    gpu_common = bench_module("gpu_common")
    log: list[str] = []
    timer = gpu_common.EventTimer(
        RecordingEvent("start", log), RecordingEvent("stop", log),
        lambda start, stop: 1000.0 * (stop.at - start.at), stream="s",
    )  # fmt: skip
    seconds = timer(lambda: log.append("fn"))
    assert log == [
        "start.record(s)", "start.synchronize", "fn", "stop.record(s)", "stop.synchronize",
    ]  # fmt: skip
    assert seconds == 3.0  # milliseconds from elapsed_ms, returned in seconds


def test_median_seconds_warms_up_then_takes_the_median():
    common = bench_module("common")
    calls, readings = [], iter([5.0, 1.0, 3.0])
    timer = lambda fn: (fn(), next(readings))[1]  # noqa: E731
    assert common.median_seconds(timer, lambda: calls.append(1), repeats=3, warmup=2) == 3.0
    assert len(calls) == 5
    ticks = iter([0.0, 2.0])
    assert common.clock_timer(lambda: next(ticks))(lambda: None) == 2.0


class RecordingStream:
    """Stands in for a CuPy stream's capture calls (``with stream``, begin/end capture)."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def __enter__(self) -> RecordingStream:
        self.log.append("enter")
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.append("exit")

    def begin_capture(self) -> None:
        self.log.append("begin")

    def end_capture(self) -> str:
        self.log.append("end")
        return "graph"


def test_capture_graph_returns_the_graph_and_ends_a_failed_capture():
    gpu_common = bench_module("gpu_common")
    stream = RecordingStream()
    assert gpu_common.capture_graph(lambda: "losses", stream) == ("graph", "losses")
    assert stream.log == ["enter", "begin", "end", "exit"]

    def refused() -> None:
        raise RuntimeError("operation not permitted when stream is capturing")

    stream = RecordingStream()
    with pytest.raises(RuntimeError, match="not permitted"):
        gpu_common.capture_graph(refused, stream)
    assert stream.log == ["enter", "begin", "end", "exit"]


def test_bench_step_breakdown_mode():
    out = run_script("bench_step.py", "--batch", "4", "--breakdown", "2", "--backend", "numpy")
    assert "| op | numpy |" in out and "| conv2d_backward |" in out
    assert "| whole iteration |" in out and "GEMM-only floor" in out


def test_bench_step_memory_mode():
    out = run_script("bench_step.py", "--batch", "4", "--memory", "12", "--backend", "numpy")
    assert "| numpy | 4 |" in out and "growth" in out


def test_step_flops_match_the_layer_sums():
    common = bench_module("common")
    # batch 64 by hand: G forward 0.93 GFLOP (Linear 80.3M, ConvT 822.1M + 25.7M), D forward
    # 0.849 GFLOP (Conv 25.7M + 822.1M, Linear 0.8M); a backward costs two forwards (dx, dW):
    # 8 D forwards' worth (3 forwards, 3 input gradients, 2 weight gradients: the G step forms
    # no weight gradient of D) + 4 G's, less the input gradients of the first layers that
    # nobody reads (D's in the two D-step backwards, G's in its one)
    g0, d0 = 2 * 64 * 100 * 6272, 2 * 64 * 196 * 64 * 16
    g = g0 + 2 * 64 * (49 * 128 * 1024 + 196 * 64 * 16)
    d = d0 + 2 * 64 * (49 * 128 * 1024 + 6272)
    assert common.step_flops(64) == 8 * d + 4 * g - 2 * d0 - g0
    assert len(common.iteration_gemms(64)) == 3 * 3 + 3 * 3


def test_torch_twin_computes_what_minigan_computes(torch_one_thread):
    torch = torch_one_thread
    torch_dcgan = bench_module("torch_dcgan")
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
