"""Statements 1-3 of the minimax lab, checked numerically with stated tolerances."""

import math

import numpy as np
import pytest

from minigan.data.toy import get_toy
from minigan.lab import theory
from minigan.lab.games import BCE_LOSSES
from minigan.lab.toy_gan import point_gradients, toy_mlps
from minigan.objectives import OBJECTIVES


@pytest.fixture(scope="module")
def optimal_d():
    """Statement 1's run: D trained 3000 steps against G = N(0, 1) on gmm1d (seed 0)."""
    return theory.check_optimal_d(np.random.default_rng(0))


# ---- the integrals -----------------------------------------------------------------------------
def test_jsd_of_half_overlapping_uniforms_is_half_log2():
    # U[0, 1] and U[0.5, 1.5]: each puts half its mass where the other has none -> (1/2) log 2
    x = np.linspace(-1, 3, 400_001)
    p = np.where((x >= 0) & (x <= 1), 1.0, 0.0)
    q = np.where((x >= 0.5) & (x <= 1.5), 1.0, 0.0)
    assert theory.jsd(p, q, x) == pytest.approx(0.5 * math.log(2), abs=1e-4)
    assert theory.jsd(q, p, x) == pytest.approx(theory.jsd(p, q, x), rel=1e-12)


def test_jsd_bounds():
    x = theory.GRID
    data = get_toy("gmm1d").density(x)
    assert theory.jsd(data, data, x) == pytest.approx(0.0, abs=1e-12)
    far = theory.gaussian(7.0, 0.1).density(x)  # 20 stds from the nearest mode: no overlap
    assert theory.jsd(data, far, x) == pytest.approx(math.log(2), abs=1e-6)


def test_d_star_maximises_the_integrand_pointwise():
    # a log D + b log(1 - D) over D in (0, 1) peaks at a / (a + b)
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.01, 2, 50), rng.uniform(0.01, 2, 50)
    d = np.linspace(1e-4, 1 - 1e-4, 20_001)[:, None]
    best = d[np.argmax(a * np.log(d) + b * np.log1p(-d), axis=0), 0]
    np.testing.assert_allclose(best, a / (a + b), atol=1e-4)


# ---- statement 1 -------------------------------------------------------------------------------
def test_trained_d_converges_to_d_star(optimal_d):
    r = optimal_d
    assert r.region.sum() > 400  # the compared region spans about [-2.5, 2.5]
    assert r.max_gap < theory.OPTIMAL_D_TOL
    assert r.max_gap == pytest.approx(np.abs(r.d - r.d_star)[r.region].max())


def test_d_star_closed_form():
    data, gen = get_toy("gmm1d"), theory.gaussian(0.0, 1.0)
    x = np.array([0.0, 2.0, -1.0])
    p, q = data.density(x), gen.density(x)
    np.testing.assert_allclose(theory.optimal_discriminator(data, gen, x), p / (p + q))
    assert theory.optimal_discriminator(data, data, x) == pytest.approx(0.5)


# ---- statement 2 -------------------------------------------------------------------------------
def test_value_with_exact_d_star_is_minus_log4_plus_2jsd():
    results = theory.check_value(np.random.default_rng(2), n=200_000, steps=0)
    assert len(results) == len(theory.default_generators())
    for r in results:
        # the math, free of any training: Monte Carlo agreement within 4 standard errors
        assert abs(r.exact - r.theory) <= 4 * r.exact_se + 1e-12, r.gen.name
        assert r.exact_se < 0.003
        assert math.isnan(r.trained)
    # G = p_data: the global optimum, JSD 0 and V = -log 4
    assert results[0].jsd == pytest.approx(0.0, abs=1e-9)
    assert results[0].theory == pytest.approx(-math.log(4))
    assert all(0 <= r.jsd <= math.log(2) for r in results)


def test_value_with_trained_d(optimal_d):
    rng = np.random.default_rng(3)
    data, gen = get_toy("gmm1d"), theory.gaussian(0.0, 1.0)
    div = theory.jsd(data.density(theory.GRID), gen.density(theory.GRID), theory.GRID)
    real, fake = data.sample(200_000, rng)[:, 0], gen.sample(200_000, rng)[:, 0]
    trained, se = theory.value_estimate(
        theory.discriminator_prob(optimal_d.D, real), theory.discriminator_prob(optimal_d.D, fake)
    )
    exact, _ = theory.value_estimate(
        theory.optimal_discriminator(data, gen, real), theory.optimal_discriminator(data, gen, fake)
    )
    assert abs(trained - (-math.log(4) + 2 * div)) < theory.VALUE_TOL
    # D* maximises V: on the same samples, no trained D does better (beyond noise)
    assert trained <= exact + 4 * se


def test_value_with_a_briefly_trained_d_for_another_g():
    (r,) = theory.check_value(
        np.random.default_rng(4), [theory.gaussian(2.0, 0.25)], n=100_000, steps=1000
    )
    assert abs(r.trained - r.theory) < theory.VALUE_TOL


# ---- statement 3 -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", BCE_LOSSES)
def test_point_gradients_match_finite_differences(kind):
    rng = np.random.default_rng(5)
    _, D = toy_mlps(2, hidden=16, dtype=np.float64, rng=rng)
    x = rng.standard_normal((4, 2))
    _, grad = point_gradients(D, x, kind)

    def per_sample_loss(points):
        a = D(points)[:, 0]
        return np.log1p(-1 / (1 + np.exp(-a))) if kind == "minimax" else np.log1p(np.exp(-a))

    h = 1e-6
    for j in range(2):
        step = np.zeros_like(x)
        step[:, j] = h
        numeric = (per_sample_loss(x + step) - per_sample_loss(x - step)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-6, atol=1e-9)
    assert all(np.all(p.grad == 0) for p in D.parameters())  # no trace left on D


@pytest.mark.parametrize("kind", list(OBJECTIVES))
def test_point_gradients_use_the_objectives_g_loss(kind):
    """Every objective: the per-sample gradient is that of its own ``g_loss`` on one sample."""
    rng = np.random.default_rng(7)
    _, D = toy_mlps(2, hidden=16, dtype=np.float64, rng=rng)
    x = rng.standard_normal((5, 2))
    outputs, grad = point_gradients(D, x, kind)
    np.testing.assert_array_equal(outputs, D(x)[:, 0])
    g_loss = OBJECTIVES[kind].g_loss

    def per_sample_loss(points):  # the G loss of a batch of one, sample by sample
        return np.array([float(g_loss(D(points[i : i + 1]))[0]) for i in range(len(points))])

    h = 1e-6
    for j in range(2):
        step = np.zeros_like(x)
        step[:, j] = h
        numeric = (per_sample_loss(x + step) - per_sample_loss(x - step)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-6, atol=1e-9)
    assert all(np.all(p.grad == 0) for p in D.parameters())


def test_gradient_ratio_is_exp_logit():
    rng = np.random.default_rng(6)
    _, D = toy_mlps(2, hidden=16, dtype=np.float64, rng=rng)
    x = 3 * rng.standard_normal((64, 2))
    logits, g_mm = point_gradients(D, x, "minimax")
    _, g_ns = point_gradients(D, x, "nonsaturating")
    ratio = np.linalg.norm(g_mm, axis=1) / np.linalg.norm(g_ns, axis=1)
    np.testing.assert_allclose(ratio, np.exp(logits), rtol=1e-10)


def test_minimax_gradient_saturates_while_d_rejects_fakes():
    runs = theory.measure_saturation(seed=0, steps=20)
    mm, ns = runs["minimax"], runs["nonsaturating"]
    # both runs start from the same warmed-up D, which rejects the fakes
    assert mm.d_fake[0] == ns.d_fake[0] < 0.01
    assert mm.norm_nonsaturating[0] > 100 * mm.norm_minimax[0]
    # trained on the minimax loss (SGD), G stays stuck: its gradient stays ~1000x smaller
    assert max(a / b for a, b in zip(mm.norm_minimax, mm.norm_nonsaturating)) < 0.01
    assert max(mm.d_fake) < 0.01
    # trained on the non-saturating loss, G escapes: D(G(z)) rises by orders of magnitude
    assert max(ns.d_fake) > 100 * ns.d_fake[0]
