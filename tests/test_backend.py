"""``minigan.backend``: choosing a backend, the environment variable, errors, and fallback."""

from __future__ import annotations

import importlib.util

import pytest

from minigan import backend, functional, optim

needs_numba = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba is not installed"
)


@pytest.fixture(autouse=True)
def fresh_backend(monkeypatch):
    """Each test starts with no backend chosen and no $MINIGAN_BACKEND."""
    monkeypatch.delenv("MINIGAN_BACKEND", raising=False)
    monkeypatch.setattr(backend, "_active", None)


def test_default_is_numpy_reference():
    assert backend.current() == "numpy"
    assert backend.kernel("conv2d_forward") is functional.conv2d_forward
    assert backend.kernel("adam_update") is optim.adam_update


def test_environment_variable_chooses(monkeypatch):
    monkeypatch.setenv("MINIGAN_BACKEND", "numpy")
    assert backend.current() == "numpy"


@needs_numba
def test_environment_variable_numba(monkeypatch):
    monkeypatch.setenv("MINIGAN_BACKEND", "numba")
    assert backend.current() == "numba"
    assert backend.kernel("conv2d_forward").__module__ == "minigan.kernels.conv"


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
    with pytest.raises(backend.BackendUnavailableError, match=rf"minigan\[{extra}\]"):
        backend.use(name)
    assert name not in backend.available()
    assert backend.current() == "numpy"  # the failed choice left nothing behind


@needs_numba
def test_use_and_using_restore():
    backend.use("numba")
    assert backend.current() == "numba"
    with pytest.raises(RuntimeError), backend.using("numpy"):
        assert backend.current() == "numpy"
        raise RuntimeError("leaves the block")
    assert backend.current() == "numba"


@needs_numba
def test_unregistered_ops_fall_back_to_the_reference(monkeypatch):
    from minigan.kernels import numba_cpu

    with backend.using("numba"):
        assert backend.kernel("linear_forward") is functional.linear_forward
        assert backend.kernel("tanh_forward") is functional.tanh_forward
        for op, fn in numba_cpu.OPS.items():
            assert backend.kernel(op) is fn
        monkeypatch.setitem(backend._kernels["numba"], "sigmoid", len)
        assert backend.kernel("sigmoid") is len
    assert backend.kernel("sigmoid") is functional.sigmoid


def test_unknown_op_lists_the_known_ones():
    with pytest.raises(KeyError, match="no op named 'conv3d_forward'"):
        backend.kernel("conv3d_forward")
