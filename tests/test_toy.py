"""Toy distributions: sample shapes, determinism, normalised densities, mixture moments; every
one trains the lab's toy GAN under each kind of objective."""

import itertools

import numpy as np
import pytest

from minigan.cli import main
from minigan.data.toy import (
    TOY_DISTRIBUTIONS,
    GaussianMixture,
    gaussian_mixture_1d,
    get_toy,
    grid25,
    ring8,
)

NAMES = ["gmm1d", "ring8", "grid25", "moons", "spiral", "uniform"]
DIMS = {"gmm1d": 1, "ring8": 2, "grid25": 2, "moons": 2, "spiral": 2, "uniform": 2}


def test_registry_names():
    assert list(TOY_DISTRIBUTIONS) == NAMES
    for name in NAMES:
        assert get_toy(name).name == name


def test_unknown_name_lists_valid_ones():
    with pytest.raises(
        ValueError, match="valid names: gmm1d, ring8, grid25, moons, spiral, uniform"
    ):
        get_toy("swissroll")


@pytest.mark.parametrize("name", NAMES)
def test_sample_shape_dtype_and_determinism(name):
    dist = get_toy(name)
    x = dist.sample(500, np.random.default_rng(0))
    assert dist.dim == DIMS[name]
    assert x.shape == (500, dist.dim) and x.dtype == np.float32
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x, dist.sample(500, np.random.default_rng(0)))
    assert not np.array_equal(x, dist.sample(500, np.random.default_rng(1)))
    assert dist.sample(0, np.random.default_rng(0)).shape == (0, dist.dim)


def test_negative_sample_count():
    with pytest.raises(ValueError):
        get_toy("ring8").sample(-1, np.random.default_rng(0))


def midpoint_grid(low, high, step, dim):
    """Cell midpoints of a regular grid on ``[low, high]^dim`` and the cell volume."""
    ticks = np.arange(low + step / 2, high, step)
    points = np.stack(np.meshgrid(*[ticks] * dim, indexing="ij"), axis=-1).reshape(-1, dim)
    return points, step**dim


# Midpoint sums with a step of at most half the smallest std integrate these Gaussians
# to far better than 1e-6; the uniform square's edges fall on cell boundaries, so its sum
# is exact up to rounding. The stated tolerance is 1e-6 for all.
@pytest.mark.parametrize(
    ("name", "low", "high", "step"),
    [
        ("gmm1d", -5.0, 5.0, 0.01),
        ("ring8", -3.0, 3.0, 0.025),
        ("grid25", -5.0, 5.0, 0.025),
        ("uniform", -2.0, 2.0, 0.01),
    ],
)
def test_density_integrates_to_one(name, low, high, step):
    dist = get_toy(name)
    points, volume = midpoint_grid(low, high, step, dist.dim)
    density = dist.density(points)
    assert density.dtype == np.float64 and density.shape == (len(points),)
    assert density.min() >= 0.0
    assert density.sum() * volume == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name", ["moons", "spiral"])
def test_no_closed_form_density(name):
    with pytest.raises(NotImplementedError, match=f"{name} has no closed-form density"):
        get_toy(name).density(np.zeros((3, 2)))


def test_density_values_and_input_checks():
    gmm = gaussian_mixture_1d(means=[0.0], stds=[1.0], weights=[1.0])
    assert gmm.density(np.array([0.0]))[0] == pytest.approx(1 / np.sqrt(2 * np.pi))
    assert gmm.density(np.array([[1.0]]))[0] == pytest.approx(np.exp(-0.5) / np.sqrt(2 * np.pi))
    uniform = get_toy("uniform")
    np.testing.assert_array_equal(
        uniform.density(np.array([[0.0, 0.0], [1.0, -1.0], [1.01, 0.0], [0.0, -3.0]])),
        [0.25, 0.25, 0.0, 0.0],
    )
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        ring8().density(np.zeros((4, 3)))


def test_mixture_parameters_exposed():
    ring = ring8()
    assert ring.centers.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(ring.centers, axis=1), 2.0)
    np.testing.assert_array_equal(ring.std, np.full(8, 0.05))
    grid = grid25()
    expected = set(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2))
    assert {tuple(c) for c in grid.centers} == expected
    np.testing.assert_array_equal(grid.std, np.full(25, 0.05))
    gmm = get_toy("gmm1d")
    np.testing.assert_array_equal(gmm.centers[:, 0], [-2.0, 0.0, 2.0])
    np.testing.assert_allclose(gmm.weights, [0.25, 0.5, 0.25])
    assert get_toy("ring8", std=0.1).std[0] == 0.1


@pytest.mark.parametrize(
    "dist",
    [
        get_toy("gmm1d"),
        gaussian_mixture_1d(means=[-1.0, 3.0], stds=[0.3, 0.6], weights=[2.0, 1.0]),
        ring8(),
        grid25(),
    ],
    ids=["gmm1d", "gmm1d-unequal", "ring8", "grid25"],
)
def test_mixture_empirical_moments(dist):
    n = 100_000
    x = dist.sample(n, np.random.default_rng(0)).astype(np.float64)
    nearest = np.argmin(((x[:, None, :] - dist.centers[None]) ** 2).sum(axis=2), axis=1)
    counts = np.bincount(nearest, minlength=len(dist.centers))
    # Mode frequencies: binomial std is at most sqrt(0.25 / n) ~ 0.0016; allow 5 of those.
    np.testing.assert_allclose(counts / n, dist.weights, atol=0.008)
    for k, center in enumerate(dist.centers):
        members = x[nearest == k]
        np.testing.assert_allclose(
            members.mean(axis=0), center, atol=5 * dist.std[k] / np.sqrt(len(members))
        )
        np.testing.assert_allclose(members.std(axis=0), dist.std[k], rtol=0.05)
    mean = dist.weights @ dist.centers
    np.testing.assert_allclose(x.mean(axis=0), mean, atol=0.03)


def test_gaussian_mixture_rejects_bad_parameters():
    with pytest.raises(ValueError):
        GaussianMixture(np.zeros((2, 2)), 0.1, weights=[1.0])
    with pytest.raises(ValueError):
        GaussianMixture(np.zeros((2, 2)), [0.1, -0.1])


def test_moons_and_spiral_shapes_without_noise():
    rng = np.random.default_rng(0)
    moons = get_toy("moons", noise=0.0).sample(2000, rng).astype(np.float64)
    upper = np.isclose(np.hypot(*moons.T), 1.0, atol=1e-6)
    lower = np.isclose(np.hypot(moons[:, 0] - 1.0, moons[:, 1] - 0.5), 1.0, atol=1e-6)
    assert (upper | lower).all()
    assert 0.45 < upper.mean() < 0.55
    assert (moons[upper, 1] >= -1e-6).all() and (moons[lower, 1] <= 0.5 + 1e-6).all()

    turns, radius = 1.5, 2.0
    points = get_toy("spiral", noise=0.0, turns=turns, radius=radius).sample(2000, rng)
    r = np.hypot(*points.astype(np.float64).T)
    theta = 2 * np.pi * turns * r / radius
    np.testing.assert_allclose(points[:, 0], r * np.cos(theta), atol=1e-5)
    np.testing.assert_allclose(points[:, 1], r * np.sin(theta), atol=1e-5)
    assert r.max() <= radius + 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_every_distribution_trains_the_toy_gan_under_each_kind_of_game(name):
    """A logit (the BCE game), a score (LSGAN) and a critic with its penalty (WGAN-GP), in the
    distribution's dimension: a few steps, finite numbers, samples of the data's shape."""
    from minigan.lab import ToyGAN

    for loss in ("nonsaturating", "lsgan", "wgan-gp"):
        gan = ToyGAN(name, loss, rng=np.random.default_rng(0), batch=16, hidden=16, n_critic=2)
        log = gan.train(2)
        assert np.isfinite(log.value + log.g_loss + log.d_fake + log.penalty).all()
        assert gan.generate(5).shape == (5, DIMS[name])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["toy", "--seed", "-1"], "--seed: expected a non-negative integer seed"),
        (["toy", "--fps", "1e-300"], "--fps: expected a frame rate"),
        (["toy", "--out", "/proc/minigan"], "--out: directory /proc/minigan: cannot create"),
        (["lab", "value", "--seed", "-1"], "--seed: expected a non-negative integer seed"),
        (["lab", "modes", "--out", __file__], "exists and is not a directory"),
    ],
)
def test_bad_toy_and_lab_flags_are_one_line_errors(argv, message, capsys):  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)


def test_an_unknown_backend_is_one_line_for_toy_and_lab(monkeypatch, capsys, tmp_path):  # type: ignore[no-untyped-def]
    from minigan import backend

    monkeypatch.chdir(tmp_path)  # were the backend accepted, nothing would land in the checkout

    monkeypatch.setenv("MINIGAN_BACKEND", "bogus")
    monkeypatch.setattr(backend, "_active", None)  # as in a fresh process: read the variable
    assert main(["toy", "--steps", "1"]) == 2
    assert main(["lab", "losses"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "minigan toy: error: unknown backend 'bogus'; choose one of ['cupy', 'numba', 'numpy']",
        "minigan lab: error: unknown backend 'bogus'; choose one of ['cupy', 'numba', 'numpy']",
    ]
