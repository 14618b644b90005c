"""nn.Embedding and its math (minigan.functional.embedding): the weight gradient against finite
differences and against PyTorch, on both ways of adding up rows (one-hot GEMM, np.add.at)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan import nn
from minigan.functional import embedding as femb
from minigan.gradcheck import _embedding_checks, numeric_gradient, relative_error
from tests.devices import cupy_runs_here

PATHS = ("one_hot", "add_at")


@contextlib.contextmanager
def summing(path: str) -> Iterator[None]:
    """Force the backward's way of adding up: the one-hot GEMM or ``np.add.at``."""
    limit = 10**9 if path == "one_hot" else 0
    with mock.patch.object(femb, "ONE_HOT_MAX", limit):
        yield


@st.composite
def lookups(draw: st.DrawFn) -> tuple[int, int, np.ndarray, int]:
    """``(K, E, idx, seed)``: a small table and indices of 1 to 3 dimensions (at least 2
    positions), the last position repeating the first so that some row is looked up twice."""
    k = draw(st.integers(1, 6))
    e = draw(st.integers(1, 4))
    shape = (draw(st.integers(2, 4)), *draw(st.lists(st.integers(1, 3), max_size=2)))
    size = int(np.prod(shape))
    flat = draw(st.lists(st.integers(0, k - 1), min_size=size, max_size=size))
    flat[-1] = flat[0]
    return k, e, np.array(flat, np.int64).reshape(shape), draw(st.integers(0, 2**16))


@pytest.mark.parametrize("path", PATHS)
@settings(deadline=None, max_examples=30)
@given(case=lookups())
def test_weight_gradient_matches_finite_differences(path: str, case) -> None:
    k, e, idx, seed = case
    rng = np.random.default_rng(seed)
    emb = nn.Embedding(k, e, dtype=np.float64, rng=rng)
    dy = rng.standard_normal((*idx.shape, e))
    with summing(path):
        y = emb(idx)
        assert y.shape == (*idx.shape, e)
        assert emb.backward(dy) is None
    numeric, _ = numeric_gradient(lambda: float(np.vdot(emb.forward(idx), dy)), emb.weight.data)
    assert relative_error(numeric, emb.weight.grad) < 1e-8


@pytest.mark.parametrize("path", PATHS)
def test_repeated_indices_add_up(path: str) -> None:
    emb = nn.Embedding(3, 2, dtype=np.float64, rng=np.random.default_rng(0))
    idx = np.array([[2, 2], [0, 2]])
    dy = np.arange(8, dtype=np.float64).reshape(2, 2, 2)
    with summing(path):
        emb(idx)
        emb.backward(dy)
        emb(idx)
        emb.backward(dy)  # accumulates, as every layer does
    expected = 2 * np.array([[4.0, 5.0], [0.0, 0.0], [0 + 2 + 6, 1 + 3 + 7]])
    np.testing.assert_array_equal(emb.weight.grad, expected)


def test_both_paths_agree_in_float32(rng) -> None:
    idx = rng.integers(0, 300, (64,))
    dy = rng.standard_normal((64, 7)).astype(np.float32)
    cache = femb.EmbeddingCache(idx, 300)
    with summing("one_hot"):
        a = femb.embedding_backward(dy, cache)
    with summing("add_at"):
        b = femb.embedding_backward(dy, cache)
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_initialisation_is_standard_normal_from_the_rng() -> None:
    emb = nn.Embedding(200, 50, rng=np.random.default_rng(5))
    expected = np.random.default_rng(5).standard_normal((200, 50)).astype(np.float32)
    np.testing.assert_array_equal(emb.weight.data, expected)
    assert abs(emb.weight.data.std() - 1) < 0.02
    assert list(emb.state_dict()) == ["weight"]


def test_float32_stays_float32_and_nothing_is_mutated(backend, rng) -> None:
    emb = nn.Embedding(10, 4, rng=rng)
    idx = rng.integers(0, 10, (5, 3))
    idx_before, w_before = idx.copy(), emb.weight.data.copy()
    y = emb(idx)
    assert y.dtype == np.float32 and y.shape == (5, 3, 4)
    assert not np.shares_memory(y, emb.weight.data)  # a copy: an update of W leaves y alone
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dy_before = dy.copy()
    emb.backward(dy)
    assert emb.weight.grad.dtype == np.float32
    np.testing.assert_array_equal(idx, idx_before)
    np.testing.assert_array_equal(dy, dy_before)
    np.testing.assert_array_equal(emb.weight.data, w_before)


def test_float64_model_by_to() -> None:
    emb = nn.Embedding(4, 2).to(np.float64)
    assert emb(np.array([1, 3])).dtype == np.float64


@pytest.mark.parametrize(
    "idx, error, match",
    [
        (np.array([0.0, 1.0]), TypeError, r"integers in \[0, 9\], got dtype float64"),
        (np.array([True, False]), TypeError, r"got dtype bool"),
        ([1, 2], TypeError, r"expected an integer array of indices, got list"),
        (
            np.array([3, 10]),
            ValueError,
            r"must be in \[0, 9\] \(10 rows\), got values from 3 to 10",
        ),
        (np.array([[-1, 2]]), ValueError, r"must be in \[0, 9\].*from -1 to 2"),
    ],
)
def test_bad_indices_give_clear_errors(idx, error, match) -> None:
    emb = nn.Embedding(10, 3)
    with pytest.raises(error, match=match):
        emb(idx)


def test_bad_construction_and_backward_give_clear_errors() -> None:
    with pytest.raises(TypeError, match="floating dtype, got int32"):
        nn.Embedding(3, 2, dtype=np.int32)
    with pytest.raises(ValueError, match="num_embeddings must be an integer >= 1, got 0"):
        nn.Embedding(0, 2)
    with pytest.raises(ValueError, match="embedding_dim must be an integer >= 1"):
        nn.Embedding(3, 2.5)
    emb = nn.Embedding(3, 2)
    with pytest.raises(RuntimeError, match="backward\\(\\) called before forward\\(\\)"):
        emb.backward(np.ones((1, 2), np.float32))
    emb(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"expected dy of shape \(2, 2\) and dtype float32"):
        emb.backward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"got \(2, 2\) float64"):
        emb.backward(np.ones((2, 2)))


@pytest.mark.torch
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch_embedding(torch_one_thread, path: str, dtype, rng) -> None:
    torch = torch_one_thread
    emb = nn.Embedding(12, 5, dtype=dtype, rng=rng)
    ref = torch.nn.Embedding(12, 5).to(torch.float32 if dtype == np.float32 else torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(emb.weight.data))
    idx = rng.integers(0, 12, (6, 4))
    dy = rng.standard_normal((6, 4, 5)).astype(dtype)
    with summing(path):
        y = emb(idx)
        emb.backward(dy)
    out = ref(torch.from_numpy(idx))
    out.backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(y, out.detach().numpy())  # a lookup: bit for bit
    tol = 1e-6 if dtype == np.float32 else 1e-12  # sums in another order
    np.testing.assert_allclose(emb.weight.grad, ref.weight.grad.numpy(), rtol=tol, atol=tol)
    assert list(emb.state_dict()) == list(ref.state_dict())


def test_gradcheck_suite_entries_pass() -> None:
    for seed in range(3):
        rng = np.random.default_rng(seed)
        reports = _embedding_checks(rng, int(rng.integers(2, 5)))
        assert reports[0].name == "Embedding(4, 3)" and len(reports) == 3
        assert all(r.passed for r in reports), [(r.name, r.errors) for r in reports]


@pytest.mark.skipif(not cupy_runs_here(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("path", PATHS)
def test_cupy_agrees_with_numpy(path: str, rng) -> None:
    import cupy

    emb = nn.Embedding(10, 6, rng=rng)
    idx = rng.integers(0, 10, (8, 2))
    dy = rng.standard_normal((8, 2, 6)).astype(np.float32)
    with summing(path):
        y = emb(idx)
        emb.backward(dy)
        gpu = nn.Embedding(10, 6).to("cupy")
        gpu.load_state_dict(emb.state_dict())
        y_gpu = gpu(cupy.asarray(idx))
        gpu.backward(cupy.asarray(dy))
    np.testing.assert_array_equal(cupy.asnumpy(y_gpu), y)
    np.testing.assert_allclose(cupy.asnumpy(gpu.weight.grad), emb.weight.grad, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="numpy array but the module's parameters are cupy"):
        gpu(idx)
