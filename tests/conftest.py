"""Shared fixtures: the ``backend`` fixture runs one test body on every installed backend."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend as backends

CPU_BACKENDS = ("numpy", "numba")


@pytest.fixture(params=CPU_BACKENDS)
def backend(request) -> str:
    """Run the test under each CPU backend; a backend whose packages are missing is skipped."""
    name = request.param
    if name not in backends.available():
        extra = backends.BACKENDS[name][1]
        pytest.skip(f"backend {name!r} not installed (pip install 'minigan[{extra}]')")
    with backends.using(name):
        yield name


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def torch_one_thread():
    """PyTorch, pinned to one thread for the test (skips without PyTorch).

    The comparisons with PyTorch run it on one thread: with 2 threads PyTorch 2.13's CPU kernels
    gave 3 different DCGAN-28 forward + backward results over 25 fresh processes, one of them
    with image gradients 5% off (minigan's were bit-identical in all 25); with one thread its
    results were identical in 20 of 20.
    """
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional comparison)")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield torch
    finally:
        torch.set_num_threads(threads)
