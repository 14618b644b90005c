"""``minigan.backend``: kernels found from their reference functions, the array deciding the
device, choosing the host backend, the environment variable, errors and fallback."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from minigan import backend
from minigan import functional as F

needs_numba = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba is not installed"
)
HOST = np.zeros(2, np.float32)


@pytest.fixture(autouse=True)
def fresh_backend(monkeypatch):
    """Each test starts with no backend chosen and no $MINIGAN_BACKEND."""
    monkeypatch.delenv("MINIGAN_BACKEND", raising=False)
    monkeypatch.setattr(backend, "_active", None)


def test_default_is_numpy_reference():
    assert backend.current() == "numpy"
    assert backend.kernel(F.conv2d_forward, HOST) is F.conv2d_forward
    assert backend.kernel(F.adam_update, HOST) is F.adam_update
    assert backend.kernel(F.bce_with_logits) is F.bce_with_logits  # no array: the host's


def test_environment_variable_chooses(monkeypatch):
    monkeypatch.setenv("MINIGAN_BACKEND", "numpy")
    assert backend.current() == "numpy"


@needs_numba
def test_environment_variable_numba(monkeypatch):
    from minigan.kernels.numba import KERNELS

    monkeypatch.setenv("MINIGAN_BACKEND", "numba")
    assert backend.current() == "numba"
    assert backend.kernel(F.conv2d_forward, HOST) is KERNELS[F.conv2d_forward]


def test_unknown_backend_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown backend 'tpu'.*numba"):
        backend.use("tpu")
    monkeypatch.setenv("MINIGAN_BACKEND", "tpu")
    with pytest.raises(ValueError, match="unknown backend"):
        backend.current()


@pytest.mark.parametrize(("name", "extra"), [("numba", "numba"), ("cupy", "cuda")])
def test_missing_package_names_the_extra(monkeypatch, name, extra):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda pkg, *a: None if pkg in ("numba", "cupy") else real_find_spec(pkg, *a),
    )
    monkeypatch.setattr(backend, "_tables", {})
    with pytest.raises(backend.BackendUnavailableError, match=rf"minigan\[{extra}\]"):
        backend.use(name)
    assert name not in backend.available()
    assert backend.current() == "numpy"  # the failed choice left nothing behind


@needs_numba
def test_fastest_cpu_is_numba_when_it_imports():
    assert backend.fastest_cpu() == "numba"
    assert backend.current() == "numpy"  # asking selects nothing


def test_fastest_cpu_without_numba_is_numpy(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda pkg, *a: None if pkg in ("numba", "cupy") else real_find_spec(pkg, *a),
    )
    monkeypatch.setattr(backend, "_tables", {})
    assert backend.fastest_cpu() == "numpy"


def test_fastest_cpu_with_a_broken_numba_is_numpy(monkeypatch):
    """Numba installed but its kernels fail to import (e.g. a NumPy it does not support)."""
    monkeypatch.setattr(backend, "_tables", {})
    monkeypatch.setattr(backend, "_missing", lambda name: [])
    monkeypatch.setitem(backend.BACKENDS, "numba", (("numba",), "numba", "minigan.no_such_mod"))
    assert backend.fastest_cpu() == "numpy"


def test_chosen_is_the_programs_choice_only(monkeypatch):
    monkeypatch.setattr(backend, "_explicit", False)
    assert backend.current() == "numpy" and backend.chosen() is None  # a default, not a choice
    backend.use("numpy")
    assert backend.chosen() == "numpy"
    monkeypatch.setattr(backend, "_active", None)
    monkeypatch.setenv("MINIGAN_BACKEND", "numpy")
    assert backend.chosen() == "numpy"


@needs_numba
def test_using_restores_an_unchosen_default(monkeypatch):
    monkeypatch.setattr(backend, "_explicit", False)
    assert backend.current() == "numpy"
    with backend.using("numba"):
        assert backend.chosen() == "numba"
    assert backend.current() == "numpy" and backend.chosen() is None


@needs_numba
def test_use_and_using_restore():
    backend.use("numba")
    assert backend.current() == "numba"
    with pytest.raises(RuntimeError), backend.using("numpy"):
        assert backend.current() == "numpy"
        raise RuntimeError("leaves the block")
    assert backend.current() == "numba"


@needs_numba
def test_ops_without_a_fast_kernel_run_the_reference(monkeypatch):
    from minigan.kernels.numba import KERNELS

    with backend.using("numba"):
        assert backend.kernel(F.linear_forward, HOST) is F.linear_forward
        assert backend.kernel(F.tanh_forward, HOST) is F.tanh_forward
        for reference, fast in KERNELS.items():
            assert backend.kernel(reference, HOST) is fast
        monkeypatch.setitem(KERNELS, F.sigmoid, len)
        assert backend.kernel(F.sigmoid, HOST) is len
    assert backend.kernel(F.sigmoid, HOST) is F.sigmoid


class FakeDeviceArray:
    """Stands for a CuPy array: ``device_of`` reads the class's module."""


FakeDeviceArray.__module__ = "cupy._core.core"


def test_the_array_decides_the_device(monkeypatch):
    """A CuPy array gets the CUDA table whatever the host backend; host arrays never do."""
    device_relu = object()
    monkeypatch.setitem(backend._tables, "cupy", {F.relu_forward: device_relu})
    assert backend.device_of(FakeDeviceArray()) == "cupy"
    assert backend.kernel(F.relu_forward, FakeDeviceArray()) is device_relu
    assert backend.kernel(F.tanh_forward, FakeDeviceArray()) is F.tanh_forward  # generic
    assert backend.kernel(F.relu_forward, HOST) is F.relu_forward
    monkeypatch.setattr(backend, "_active", "cupy")  # cupy chosen: host arrays, references
    assert backend.kernel(F.relu_forward, HOST) is F.relu_forward


@needs_numba
def test_choosing_numba_changes_nothing_process_wide():
    """Selecting the numba backend leaves Numba's threading layer (and the allocator) alone;
    :func:`minigan.tuning.tune_process` is the opt-in that sets it."""
    code = """
import numba
before = numba.config.THREADING_LAYER
import minigan
minigan.use("numba")
assert numba.config.THREADING_LAYER == before, numba.config.THREADING_LAYER
from minigan import tuning
assert "numba threading layer workqueue" in tuning.tune_process("numba")
assert numba.config.THREADING_LAYER == "workqueue"
"""
    env = {k: v for k, v in __import__("os").environ.items() if k != "NUMBA_THREADING_LAYER"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_import_minigan_needs_numpy_alone():
    code = (
        "import sys, minigan; heavy = {'numba', 'cupy', 'matplotlib', 'scipy', 'torch', 'PIL'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
