"""``minigan.latent``: lerp and slerp paths, the seeds' noise, the truncation trick, and the
``--truncation`` flag of ``sample`` and ``evaluate``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan.cli import main
from minigan.config import TrainConfig
from minigan.latent import lerp, path, seed_noise, slerp, truncated_normal
from minigan.models import build
from minigan.sampling import sample
from minigan.train import Trainer


def vectors(draw, d: int, dtype=np.float64) -> np.ndarray:
    """A vector (d,) with entries in [-3, 3] and norm at least 0.5 (a zero endpoint has no
    direction: slerp's lerp fallback is tested on its own)."""
    v = np.array(draw(st.lists(st.floats(-3, 3), min_size=d, max_size=d)), dtype)
    v[draw(st.integers(0, d - 1))] += 0.5 if v.sum() >= 0 else -0.5
    return v if np.linalg.norm(v) >= 0.5 else np.full(d, 1.0, dtype)


@st.composite
def pairs(draw, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    d = draw(st.integers(2, 12))
    return vectors(draw, d, dtype), vectors(draw, d, dtype)


def angle(u: np.ndarray, v: np.ndarray) -> float:
    cos = u @ v / (np.linalg.norm(u) * np.linalg.norm(v))
    return float(np.arccos(np.clip(cos, -1, 1)))


@settings(deadline=None, max_examples=60)
@given(pairs(), st.sampled_from([np.float32, np.float64]))
def test_endpoints_are_exact_and_dtype_kept(ab, dtype):
    a, b = (x.astype(dtype) for x in ab)
    for f in (lerp, slerp):
        out = f(a, b, np.array([0.0, 0.3, 1.0]))
        assert out.dtype == dtype and out.shape == (3, len(a))
        assert np.array_equal(out[0], a) and np.array_equal(out[2], b)
        assert np.array_equal(f(a, b, 0.0), a) and np.array_equal(f(a, b, 1.0), b)


@settings(deadline=None, max_examples=60)
@given(pairs(), st.floats(0.5, 4))
def test_slerp_keeps_the_norm_of_equal_norm_endpoints(ab, radius):
    a, b = (radius * x / np.linalg.norm(x) for x in ab)
    norms = np.linalg.norm(slerp(a, b, np.linspace(0, 1, 7)), axis=1)
    np.testing.assert_allclose(norms, radius, rtol=1e-9)


@settings(deadline=None, max_examples=60)
@given(pairs())
def test_slerp_turns_at_constant_angular_speed(ab):
    a, b = ab
    omega = angle(a, b)
    if np.sin(omega) < 1e-3:  # nearly parallel: the lerp fallback, tested below
        return
    t = np.linspace(0, 1, 9)
    out = slerp(a, b, t)
    steps = [angle(out[i], out[i + 1]) for i in range(len(t) - 1)]
    np.testing.assert_allclose(steps, omega / 8, atol=1e-7)
    np.testing.assert_allclose([angle(a, p) for p in out], t * omega, atol=1e-7)
    # the norm goes linearly from |a| to |b|
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), (1 - t) * na + t * nb, rtol=1e-9)


@settings(deadline=None, max_examples=40)
@given(pairs(), st.sampled_from([0.5, 1.0, 3.0]))
def test_parallel_vectors_and_a_zero_endpoint_fall_back_to_lerp(ab, factor):
    a = ab[0]
    t = np.linspace(0, 1, 5)
    np.testing.assert_allclose(slerp(a, factor * a, t), lerp(a, factor * a, t), atol=1e-12)
    zero = np.zeros_like(a)
    np.testing.assert_allclose(slerp(zero, a, t), lerp(zero, a, t))
    np.testing.assert_allclose(slerp(a, zero, t), lerp(a, zero, t))


@settings(deadline=None, max_examples=40)
@given(pairs(), st.sampled_from([1.0, 2.0]))
def test_opposite_vectors_turn_half_a_circle(ab, factor):
    a, b = ab[0], -factor * ab[0]
    t = np.linspace(0, 1, 9)
    out = slerp(a, b, t)
    assert np.all(np.isfinite(out)) and np.array_equal(out[-1], b)
    np.testing.assert_allclose([angle(a, p) for p in out], t * np.pi, atol=1e-7)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), (1 - t) * na + t * nb, rtol=1e-9)


@pytest.mark.parametrize("delta", [1e-9, 1e-7, 1e-6, 1e-5, 1e-3, np.pi - 1e-7, np.pi - 1e-3])
def test_slerp_of_nearly_parallel_or_opposite_unit_vectors(delta):
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([np.cos(delta), np.sin(delta), 0.0])
    out = slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-12)
    # within _PARALLEL of opposite, the plane is chosen: off by at most sin(delta) < 1e-6
    np.testing.assert_allclose(out[2], [np.cos(delta / 2), np.sin(delta / 2), 0], atol=1e-6)


def test_lerp_midpoint_of_gaussian_noise_leaves_the_shell_and_slerp_does_not():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 2000, 100))
    lerp_mid = np.linalg.norm((a + b) / 2, axis=1).mean()
    slerp_mid = np.mean([np.linalg.norm(slerp(x, y, 0.5)) for x, y in zip(a, b)])
    assert abs(lerp_mid - np.sqrt(50)) < 0.1 and abs(slerp_mid - 10) < 0.1


def test_path_joins_segments_sharing_their_ends():
    points = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    for mode, f in (("lerp", lerp), ("slerp", slerp)):
        out = path(points, 6, mode)
        assert out.shape == (3 * 5 + 1, 5) and out.dtype == np.float32
        assert np.array_equal(out[::5], points)  # every point, exactly, in order
        np.testing.assert_allclose(out[5:11], f(points[1], points[2], np.linspace(0, 1, 6)))


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.zeros((1, 3)), 3, "lerp"), "P >= 2"),
        ((np.zeros((2, 3)), 1, "lerp"), "steps must be an integer >= 2"),
        ((np.zeros((2, 3)), 3, "cubic"), "mode must be one of"),
        ((np.zeros(3), 3, "slerp"), "P >= 2"),
    ],
)
def test_path_refuses_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        path(*args)


def test_lerp_and_slerp_refuse_bad_input():
    with pytest.raises(ValueError, match="one shape"):
        slerp(np.zeros(3), np.zeros(4), 0.5)
    with pytest.raises(TypeError, match="floating-point"):
        lerp(np.arange(3), np.arange(3), 0.5)
    with pytest.raises(ValueError, match="1-D"):
        lerp(np.zeros(3), np.ones(3), np.zeros((2, 2)))


def test_seed_noise_is_the_first_sample_of_that_seed():
    for dtype in (np.float32, np.float64):
        z = np.random.default_rng(7).standard_normal((3, 16), dtype=dtype)
        assert (
            np.array_equal(seed_noise(7, 16, dtype), z[0])
            and seed_noise(7, 16, dtype).dtype == dtype
        )
    with pytest.raises(ValueError, match="non-negative"):
        seed_noise(-1, 4)


@settings(deadline=None, max_examples=40)
@given(
    st.floats(0.05, 4.0),
    st.tuples(st.integers(1, 40), st.integers(1, 20)),
    st.integers(0, 2**32 - 1),
    st.sampled_from([np.float32, np.float64]),
)
def test_truncated_normal_bounds_dtype_and_seed(psi, shape, seed, dtype):
    z = truncated_normal(np.random.default_rng(seed), shape, psi, dtype)
    assert z.shape == shape and z.dtype == dtype and np.abs(z).max() <= psi
    assert np.array_equal(z, truncated_normal(np.random.default_rng(seed), shape, psi, dtype))
    # the entries the first draw put inside are kept
    plain = np.random.default_rng(seed).standard_normal(shape, dtype=dtype)
    inside = np.abs(plain) <= psi
    assert np.array_equal(z[inside], plain[inside])


def test_truncated_normal_is_the_conditioned_normal():
    z = truncated_normal(np.random.default_rng(0), 200_000, 1.0, np.float64)
    # Var(z | |z| <= 1) = 1 - 2 phi(1) / (2 Phi(1) - 1) = 0.29112
    assert abs(z.var() - 0.29112) < 0.005 and abs(z.mean()) < 0.005


@pytest.mark.parametrize("psi", [0, -1.0, float("inf"), float("nan")])
def test_truncated_normal_refuses_a_bad_psi(psi):
    with pytest.raises(ValueError, match="positive finite"):
        truncated_normal(np.random.default_rng(0), 3, psi)
    with pytest.raises(TypeError, match="psi"):
        truncated_normal(np.random.default_rng(0), 3, "1")
    with pytest.raises(TypeError, match="Generator"):
        truncated_normal(0, 3, 1.0)


def test_sample_with_truncation_is_seeded_and_bounded(monkeypatch):
    G, _ = build("mlp", z_dim=8, rng=np.random.default_rng(0))
    seen = []
    real = G.forward
    monkeypatch.setattr(G, "forward", lambda z: seen.append(z.copy()) or real(z))
    a = sample(G, 6, 8, rng=3, truncation=0.7)
    b = sample(G, 6, 8, rng=3, truncation=0.7)
    assert np.array_equal(a, b) and np.abs(seen[0]).max() <= 0.7 and seen[0].dtype == np.float32
    assert np.array_equal(seen[0], truncated_normal(np.random.default_rng(3), (6, 8), 0.7))
    assert not np.array_equal(a, sample(G, 6, 8, rng=3))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("latent") / "run"
    images = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    config = TrainConfig(data="random", model="mlp", batch=8, z_dim=8)
    Trainer(config, out, images=images, quiet=True, pictures=False).fit(max_iters=2)
    return out


def test_sample_command_truncation(run_dir, tmp_path, capsys):
    for name, psi in (("a", "0.5"), ("b", "0.5"), ("c", "2")):
        argv = ["sample", str(run_dir), "--n", "5", "--truncation", psi]
        assert main([*argv, "--out", str(tmp_path / f"{name}.npy")]) == 0
    a, b, c = (np.load(tmp_path / f"{name}.npy") for name in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert "truncation 0.5" in capsys.readouterr().out
    for bad in ("0", "-1", "x"):
        with pytest.raises(SystemExit) as exit_info:
            main(["sample", str(run_dir), "--truncation", bad, "--out", str(tmp_path / "d.npy")])
        assert exit_info.value.code == 2
    assert "--truncation: expected a positive number" in capsys.readouterr().err


def test_evaluate_truncation_refuses_a_npy(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((4, 28, 28), np.uint8))
    assert main(["evaluate", str(tmp_path / "x.npy"), "--truncation", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--truncation needs a generator" in err


def test_evaluate_truncation_reaches_the_noise_and_the_report(run_dir, monkeypatch, capsys):
    from minigan.commands import evaluate as command

    seen = {}

    def fake_sample(G, n, z_dim, seed, labels=None, **kwargs):
        seen.update(kwargs, n=n, seed=seed)
        return np.zeros((n, 1, 28, 28), np.float32)

    class FakeEvaluator:
        def __init__(self, *args):
            pass

        def __call__(self, images, n=None, seed=0):
            return {"fid": 1.0, "reference": {"name": "x"}, "extractor": {"name": "x"}}

    monkeypatch.setattr("minigan.sampling.sample", fake_sample)
    monkeypatch.setattr("minigan.metrics.Evaluator", FakeEvaluator)
    assert main(["evaluate", str(run_dir), "--n", "8", "--truncation", "0.7", "--json"]) == 0
    assert seen == {"truncation": 0.7, "n": 8, "seed": 0}
    assert '"truncation": 0.7' in capsys.readouterr().out
    seen.clear()  # without the flag, sample() is called as before it existed
    _, _, what = command.load_samples(str(run_dir), 4, 1)
    assert seen == {"n": 4, "seed": 1} and "truncation" not in what
