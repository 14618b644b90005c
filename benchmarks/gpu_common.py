"""What the benchmarks share on a GPU: which backends a run may use, CUDA-event timing, the cuBLAS
GEMM rate, and the DCGAN-28 iteration on the ``cupy`` backend, eager and replayed as a CUDA graph.

``bench_ops.py``, ``bench_step.py`` and ``gpu/bench_gpu.py`` import it as ``gpu_common`` (with
this directory on ``sys.path``, as for ``common``). CuPy is imported inside the functions that
need it, so the CPU benchmarks import this module on a machine without CuPy.

Timing on a GPU: two CUDA events recorded on the stream around the call, after warm-up; the
median of the repeats. Each call starts on an idle stream (the timer waits for earlier work), so
a launch-bound loop is charged its launch gaps and a queue of earlier work is never overlapped.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import common
import numpy as np

from minigan import backend, optim

GPU_BACKENDS = ("cupy",)


def unavailable(name: str) -> str | None:
    """Why backend ``name`` cannot run here (a missing package, or no CUDA device), else None."""
    packages, extra, _ = backend.BACKENDS[name]
    missing = [p for p in packages if not common.importlib_find(p)]
    if missing:
        return (
            f"backend {name!r} needs {' and '.join(missing)}, not installed here: "
            f"pip install '.[{extra}]' (from the repository root)"
        )
    if name not in GPU_BACKENDS:
        return None
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, a broken CUDA install: CUDARuntimeError, ImportError, ...
        return f"backend {name!r}: no CUDA device found ({type(e).__name__}: {e})"
    return None if count else f"backend {name!r}: no CUDA device found (the runtime counts 0)"


def select_backends(parser: argparse.ArgumentParser, requested: list[str] | None) -> list[str]:
    """The backends a run times: ``requested``, each checked (an argparse error, exit code 2,
    says what is missing), or by default every installed CPU backend, plus ``cupy`` when CuPy
    imports and sees a device.
    """
    if requested is None:
        return [name for name in backend.BACKENDS if unavailable(name) is None]
    for name in requested:
        reason = unavailable(name)
        if reason is not None:
            parser.error(reason)
    return requested


def device_name() -> str:
    """The current CUDA device's name, e.g. ``NVIDIA H100 80GB HBM3``."""
    import cupy

    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    return name.decode() if isinstance(name, bytes) else name


def device_line() -> str:
    """The header line of a run with GPU rows: the device and how they are timed."""
    import cupy

    return (
        f"GPU: {device_name()}, CuPy {cupy.__version__}; GPU rows timed by CUDA events on their "
        "stream after warm-up, each call started on an idle stream"
    )


def run_label(threads: int, cpu_rows: bool, gpu_rows: bool) -> str:
    """What a chart's bars ran on: ``2 threads``, the GPU's name, or both."""
    parts = [f"{threads} threads"] if cpu_rows else []
    if gpu_rows:
        parts.append(device_name())
    return " + ".join(parts)


class EventTimer:
    """A :data:`common.Timer` for GPU work: CUDA events ``start`` and ``stop`` recorded on
    ``stream`` (None: the current stream) around the call; blocks until ``stop`` is reached.

    Works with CuPy's and PyTorch's events alike (``record(stream)``, ``synchronize()``);
    ``elapsed_ms(start, stop)`` reads the milliseconds between them.
    """

    def __init__(
        self, start: Any, stop: Any, elapsed_ms: Callable[[Any, Any], float], stream: Any = None
    ) -> None:
        self.start, self.stop, self.elapsed_ms, self.stream = start, stop, elapsed_ms, stream

    def __call__(self, fn: Callable[[], object]) -> float:
        self.start.record(self.stream)
        self.start.synchronize()  # earlier work on the stream is done: fn starts on an idle GPU
        fn()
        self.stop.record(self.stream)
        self.stop.synchronize()
        return self.elapsed_ms(self.start, self.stop) / 1e3


def cupy_timer(stream: Any = None) -> EventTimer:
    """An :class:`EventTimer` of CuPy events on ``stream`` (None: CuPy's current stream)."""
    import cupy

    return EventTimer(cupy.cuda.Event(), cupy.cuda.Event(), cupy.cuda.get_elapsed_time, stream)


def cuda_time(fn: Callable[[], object], repeats: int, warmup: int = 5, stream: Any = None) -> float:
    """Median seconds of ``fn`` on ``stream`` by CuPy events, after ``warmup`` calls."""
    return common.median_seconds(cupy_timer(stream), fn, repeats, warmup)


def synchronize() -> None:
    """Wait for all work on the current device, every stream included."""
    import cupy

    cupy.cuda.Device().synchronize()


def cublas_gemm_rate(repeats: int = 10, n: int = 4096) -> float:
    """cuBLAS float32 matrix-multiply rate in FLOP/s: ``cupy.matmul`` of two n x n matrices."""
    import cupy

    a = cupy.random.standard_normal((n, n), dtype=cupy.float32)
    b = cupy.random.standard_normal((n, n), dtype=cupy.float32)
    out = cupy.empty((n, n), cupy.float32)
    return 2 * n**3 / cuda_time(lambda: cupy.matmul(a, b, out=out), repeats)


def capture_graph(fn: Callable[[], Any], stream: Any) -> tuple[Any, Any]:
    """``(graph, fn's result)``: the work ``fn()`` queues on ``stream``, captured (not run) as a
    CUDA graph; ``graph.launch(stream)`` replays it. Every kernel must be compiled and loaded
    before (run ``fn``'s work once eagerly): capture records launches, it cannot wait for one.
    """
    with stream:
        stream.begin_capture()
        try:
            result = fn()
        except BaseException:
            # end the capture so the stream stays usable; fn's error is the one to report
            with contextlib.suppress(Exception):
                stream.end_capture()
            raise
        return stream.end_capture(), result


class CupyTrainer(common.MiniganTrainer):
    """:class:`common.MiniganTrainer` on the GPU: its loop, weights and real batch (from the same
    seed), with parameters, optimizer state and data on the device, run on CuPy's current stream.

    The noise lives on the device in ``z`` (D step, G step), which :meth:`iterate` reads and
    :meth:`refresh_noise` refills with ``cupy.random`` after it; the first iteration's noise is
    the host draws of ``MiniganTrainer``'s first step, so the first losses can be checked against
    the ``numpy`` backend's. :meth:`iterate` never waits for the device (losses are 0-d device
    arrays) and never copies from the host, so it can be captured as a CUDA graph.
    """

    def __init__(self, batch: int, seed: int = 0) -> None:
        import cupy

        super().__init__("cupy", batch, seed)
        self.G.to("cupy")
        self.D.to("cupy")
        self.opt_g, self.opt_d = (  # the same optimizers, state on the device
            optim.Adam(opt.params, lr=opt.lr, betas=opt.betas, eps=opt.eps)
            for opt in (self.opt_g, self.opt_d)
        )
        self.real = cupy.asarray(self.real)
        self.z = cupy.asarray(self.rng.standard_normal((2, batch, common.Z_DIM), np.float32))
        self._noise = itertools.cycle(self.z)

    def noise(self, n: int) -> Any:
        """``z[0]`` and ``z[1]`` in turn (each (batch, Z_DIM)): the step asks for the D step's
        noise, then the G step's.
        """
        return next(self._noise)

    def iterate(self) -> tuple[Any, Any]:
        """One D step and one G step on the noise in ``z``; ``(loss_d, loss_g)`` on the device."""
        return super().step()

    def refresh_noise(self) -> None:
        """New noise into ``z``, in place (a captured iteration reads it from there)."""
        import cupy

        self.z[...] = cupy.random.standard_normal(self.z.shape, dtype=cupy.float32)

    def step(self) -> tuple[Any, Any]:
        """:meth:`iterate`, then :meth:`refresh_noise` for the next one."""
        losses = self.iterate()
        self.refresh_noise()
        return losses


class GraphReplay:
    """A :class:`CupyTrainer` iteration captured once as a CUDA graph on a stream of its own;
    :meth:`step` replays it, then refreshes the noise outside the graph.

    Kernel arguments are frozen at capture, so every replay runs Adam with the step ``t = 1`` it
    was captured with: the same work as an eager iteration, and the same numbers on the first
    replay (whose losses can be checked), not after.
    """

    def __init__(self, batch: int, seed: int = 0) -> None:
        import cupy

        CupyTrainer(batch, seed).step()  # compiles every kernel outside the capture
        self.trainer = CupyTrainer(batch, seed)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        synchronize()  # the trainer's arrays were filled on the default stream
        self.graph, self.losses = capture_graph(self.trainer.iterate, self.stream)

    def step(self) -> tuple[Any, Any]:
        """One replayed iteration and fresh noise, queued on ``self.stream``; the losses are
        the device arrays the graph writes (read them after :func:`synchronize`).
        """
        self.graph.launch(self.stream)
        with self.stream:
            self.trainer.refresh_noise()
        return self.losses


def graph_or_reason(batch: int) -> GraphReplay | str:
    """A :class:`GraphReplay` at ``batch``, or why its capture failed (to report in its place)."""
    try:
        return GraphReplay(batch)
    except Exception as e:  # CUDA may refuse an op inside a capture: report it, don't hide it
        return f"capture failed: {type(e).__name__}: {e}"[:200]
