"""The metrics' math on synthetic features (no classifier, no dataset): FID against closed forms
and an independent matrix square root, KID's unbiasedness, precision/recall and
density/coverage on known sets, the inception score and class histogram."""

from __future__ import annotations

import numpy as np
import pytest

from minigan.metrics import classes, frechet, manifold, mmd

# --- FID -------------------------------------------------------------------------------------


def _spd(rng: np.random.Generator, d: int, scale: float = 1.0) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return scale * (a @ a.T / d + 0.1 * np.eye(d))


def _denman_beavers_sqrt(a: np.ndarray, steps: int = 60) -> np.ndarray:
    """The principal square root of a (non-symmetric) matrix with positive eigenvalues, by the
    Denman-Beavers iteration: independent of the eigen-decomposition the library uses."""
    y, z = a.copy(), np.eye(len(a))
    for _ in range(steps):
        y, z = (y + np.linalg.inv(z)) / 2, (z + np.linalg.inv(y)) / 2
    return y


def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 16)) @ rng.standard_normal((16, 16))
    b = rng.standard_normal((300, 16)) * 2 + 1
    assert frechet.fid(a, a) <= 1e-10 * np.trace(np.cov(a.T))
    assert frechet.fid(a, b) == pytest.approx(frechet.fid(b, a), rel=1e-10)
    assert frechet.fid(a, b) > 1


def test_frechet_distance_matches_closed_forms():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    dmu2 = float(((mu1 - mu2) ** 2).sum())
    # diagonal covariances: sum of (sqrt(a) - sqrt(b))^2
    a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    expected = dmu2 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(
        expected, 1e-12
    )
    # sigma2 = c^2 sigma1: tr sqrt(sigma1 sigma2) = c tr sigma1
    s, c = _spd(rng, 5), 1.7
    expected = dmu2 + (1 - c) ** 2 * np.trace(s)
    assert frechet.frechet_distance(mu1, s, mu2, c**2 * s) == pytest.approx(expected, rel=1e-10)
    # 2 x 2, not commuting: the eigenvalues l1, l2 of S1 S2 give
    # (sqrt(l1) + sqrt(l2))^2 = tr(S1 S2) + 2 sqrt(det S1 det S2)
    s1, s2 = np.array([[2.0, 0.8], [0.8, 1.0]]), np.array([[1.0, -0.3], [-0.3, 0.5]])
    assert not np.allclose(s1 @ s2, s2 @ s1)
    tr_sqrt = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet.frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(
        expected, 1e-12
    )


@pytest.mark.parametrize("d", [3, 16, 64])
def test_trace_sqrt_product_matches_an_independent_square_root(d):
    rng = np.random.default_rng(d)
    s1, s2 = _spd(rng, d), _spd(rng, d, scale=3.0)
    reference = np.trace(_denman_beavers_sqrt(s1 @ s2)).real
    assert frechet.trace_sqrt_product(s1, s2) == pytest.approx(reference, rel=1e-9)
    assert frechet.trace_sqrt_product(s2, s1) == pytest.approx(reference, rel=1e-9)


def test_sqrtm_psd_squares_back_and_handles_singular_matrices():
    rng = np.random.default_rng(2)
    v = rng.standard_normal((6, 2))
    singular = v @ v.T  # rank 2
    r = frechet.sqrtm_psd(singular)
    np.testing.assert_allclose(r, r.T, atol=1e-12)
    np.testing.assert_allclose(r @ r, singular, atol=1e-10)


def test_fid_of_a_collapsed_set_is_finite_and_exact():
    """All samples equal: covariance 0, so FID = |mu1 - mu2|^2 + tr(sigma2)."""
    rng = np.random.default_rng(3)
    spread = rng.standard_normal((500, 8)) * 1.5
    collapsed = np.tile(rng.standard_normal(8), (50, 1))
    mu, sigma = frechet.gaussian_stats(spread)
    expected = ((collapsed[0] - mu) ** 2).sum() + np.trace(sigma)
    assert frechet.fid(collapsed, spread) == pytest.approx(expected, rel=1e-10)


def test_fid_on_samples_approaches_the_gaussians_distance():
    rng = np.random.default_rng(4)
    mu1, mu2 = np.zeros(3), np.array([1.0, -1.0, 0.5])
    s1, s2 = _spd(rng, 3), _spd(rng, 3, 2.0)
    x = rng.multivariate_normal(mu1, s1, 200_000)
    y = rng.multivariate_normal(mu2, s2, 200_000)
    expected = frechet.frechet_distance(mu1, s1, mu2, s2)
    assert frechet.fid(x, y) == pytest.approx(expected, rel=0.02)


def test_fid_bad_shapes():
    with pytest.raises(ValueError, match="N >= 2"):
        frechet.gaussian_stats(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="shapes differ"):
        frechet.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


# --- KID -------------------------------------------------------------------------------------


def test_mmd2_unbiased_matches_its_definition():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((9, 3)) + 0.5
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(9)) / (7 * 9)
    assert mmd.mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_of_two_samples_of_one_distribution_is_zero_within_its_std():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((3000, 16)), rng.standard_normal((3000, 16))
    mean, std = mmd.kid(x, y, subsets=50, subset_size=500, rng=0)
    assert std > 0 and abs(mean) <= std
    shifted_mean, shifted_std = mmd.kid(x, y + 0.5, subsets=50, subset_size=500, rng=0)
    assert shifted_mean > 10 * shifted_std


def test_kid_is_seeded_and_needs_two_samples():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((50, 4)), rng.standard_normal((40, 4))
    assert mmd.kid(x, y, subsets=5, rng=3) == mmd.kid(x, y, subsets=5, rng=3)
    with pytest.raises(ValueError, match="at least 2"):
        mmd.kid(x, y[:1])


# --- precision / recall / density / coverage -------------------------------------------------


def _clusters(rng, per_class: int, classes_: int = 10, d: int = 8):
    """``classes_`` well-separated Gaussian clusters: features and their cluster index."""
    centres = rng.standard_normal((classes_, d)) * 20
    labels = np.repeat(np.arange(classes_), per_class)
    return centres[labels] + rng.standard_normal((len(labels), d)), labels


def test_knn_sq_radii_match_brute_force(monkeypatch):
    monkeypatch.setattr(manifold, "BLOCK", 7)  # several blocks, one of them short
    x = np.random.default_rng(8).standard_normal((30, 4))
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    for k in (1, 3, 5):
        expected = np.sort(d2, axis=1)[:, k]  # column 0 is the point itself
        np.testing.assert_allclose(manifold.knn_sq_radii(x, k), expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="more than k=5"):
        manifold.knn_sq_radii(x[:5], 5)


def _metrics(real, fake):
    r3, r5 = manifold.knn_sq_radii(real, 3), manifold.knn_sq_radii(real, 5)
    return manifold.manifold_metrics(real, r3, r5, fake)


def test_precision_and_recall_of_a_set_against_itself_are_one(monkeypatch):
    monkeypatch.setattr(manifold, "BLOCK", 64)
    x = np.random.default_rng(9).standard_normal((300, 6))
    scores = _metrics(x, x)
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0 and scores["coverage"] == 1.0
    assert scores["density"] == pytest.approx(1.2, abs=0.01)  # (k + 1) / k: see the docstring


def test_a_fresh_sample_scores_near_one_and_a_collapsed_one_low_coverage():
    rng = np.random.default_rng(10)
    real, _ = _clusters(rng, 100)
    fresh = real + rng.standard_normal(real.shape) * 0.01  # the same points, a hair off
    assert _metrics(real, fresh)["coverage"] > 0.95
    collapsed = real[:100] + rng.standard_normal((100, real.shape[1])) * 0.1  # cluster 0 only
    scores = _metrics(real, collapsed)
    assert scores["coverage"] <= 0.11  # one cluster of ten
    assert scores["recall"] <= 0.11
    assert scores["precision"] > 0.9  # what it draws looks real


def test_precision_falls_for_samples_off_the_manifold():
    rng = np.random.default_rng(11)
    real, _ = _clusters(rng, 50)
    off = real + 50.0  # far from every cluster
    scores = _metrics(real, off)
    assert scores["precision"] == 0.0 and scores["density"] == 0.0 and scores["coverage"] == 0.0


# --- inception score and class histogram -----------------------------------------------------


def test_inception_score_bounds():
    assert classes.inception_score(np.full((20, 10), 0.1)) == pytest.approx(1.0)
    balanced = np.eye(10)[np.arange(200) % 10]
    assert classes.inception_score(balanced) == pytest.approx(10.0)
    collapsed = np.eye(10)[np.zeros(200, int)]
    assert classes.inception_score(collapsed) == pytest.approx(1.0)


def test_class_summary_balanced_and_collapsed():
    balanced = classes.class_summary(np.arange(1000) % 10)
    assert balanced["classes_covered"] == 10
    assert balanced["class_entropy"] == pytest.approx(np.log(10))
    assert balanced["max_class_share"] == pytest.approx(0.1)
    assert balanced["class_histogram"] == pytest.approx([0.1] * 10)
    collapsed = classes.class_summary(np.full(1000, 7))
    assert collapsed["classes_covered"] == 1
    assert collapsed["class_entropy"] == 0.0 and collapsed["max_class_share"] == 1.0
    # a few stray predictions (under the threshold) do not count as covering a class
    stray = classes.class_summary(np.r_[np.full(995, 7), np.arange(5)])
    assert stray["classes_covered"] == 1
