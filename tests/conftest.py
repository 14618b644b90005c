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
