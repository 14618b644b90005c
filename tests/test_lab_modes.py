"""Statement 4's counter on hand-made samples, and a tiny mode-collapse run."""

import numpy as np
import pytest

from minigan.data.toy import get_toy
from minigan.lab.modes import ModeRun, count_modes, mode_collapse_runs, mode_table

RING = get_toy("ring8")  # centres on the circle of radius 2, std 0.05 -> 3 sigma = 0.15


def at_mode(k, n, offset=(0.0, 0.0)):
    """``n`` copies of mode ``k``'s centre moved by ``offset``."""
    return np.tile(RING.centers[k] + np.asarray(offset), (n, 1))


def test_all_samples_on_centres_cover_every_mode():
    samples = np.concatenate([at_mode(k, 10) for k in range(8)])
    cov = count_modes(samples, RING.centers, RING.std)
    assert cov.covered == 8 and cov.off_mode == 0.0
    np.testing.assert_allclose(cov.shares, 1 / 8)


def test_collapse_to_one_mode():
    samples = at_mode(3, 100, offset=(0.05, -0.05))  # 0.07 from the centre: inside 3 sigma
    cov = count_modes(samples, RING.centers, RING.std)
    assert cov.covered == 1 and cov.off_mode == 0.0
    assert cov.shares[3] == 1.0


def test_radius_is_three_sigma_and_off_mode_share():
    inside = at_mode(0, 6, offset=(0.0, 0.149))
    outside = at_mode(1, 3, offset=(0.0, 0.151))  # just past 3 sigma
    far = np.zeros((1, 2))  # the ring's centre: near no mode
    cov = count_modes(np.concatenate([inside, outside, far]), RING.centers, RING.std)
    assert cov.covered == 1
    assert cov.off_mode == pytest.approx(0.4)
    assert count_modes(outside, RING.centers, RING.std, radius=3.1).covered == 1


def test_min_share_threshold():
    # 97 samples at mode 0, 2 at mode 1, 1 at mode 2: shares 0.97, 0.02, 0.01
    samples = np.concatenate([at_mode(0, 97), at_mode(1, 2), at_mode(2, 1)])
    assert count_modes(samples, RING.centers, RING.std, min_share=0.01).covered == 3
    assert count_modes(samples, RING.centers, RING.std, min_share=0.015).covered == 2
    assert count_modes(samples, RING.centers, RING.std, min_share=0.5).covered == 1


def test_per_mode_std_and_nearest_centre():
    centers = np.array([[0.0, 0.0], [1.0, 0.0]])
    samples = np.array([[0.4, 0.0], [0.6, 0.0]])  # 0.4 from their nearest centre
    cov = count_modes(samples, centers, np.array([0.2, 0.1]))  # radii 0.6 and 0.3
    assert cov.covered == 1 and cov.off_mode == 0.5
    np.testing.assert_allclose(cov.shares, [0.5, 0.0])


def test_bad_inputs():
    with pytest.raises(ValueError, match="samples"):
        count_modes(np.zeros((3, 3)), RING.centers, RING.std)
    with pytest.raises(ValueError, match="no samples"):
        count_modes(np.zeros((0, 2)), RING.centers, RING.std)


def test_tiny_mode_collapse_run():
    runs = mode_collapse_runs(["ring8"], seeds=[0], steps=20, every=10, n_samples=200)
    assert [(r.dist, r.loss, r.seed) for r in runs] == [
        ("ring8", "nonsaturating", 0),
        ("ring8", "minimax", 0),
    ]
    for run in runs:
        assert run.steps == [0, 10, 20]
        assert all(0 <= c <= 8 for c in run.covered)
        assert all(0.0 <= o <= 1.0 for o in run.off_mode)
    # same seed: both losses start from the same G, so their first measurements agree
    assert runs[0].off_mode[0] == runs[1].off_mode[0]
    table = mode_table(runs).splitlines()
    assert len(table) == 4 and table[2].startswith("| ring8 | nonsaturating | 1 |")


def test_mode_collapse_runs_take_every_objective():
    losses = ["lsgan", "hinge", "wgan", "wgan-gp"]
    runs = mode_collapse_runs(["grid25"], losses, seeds=[1], steps=4, every=2, n_samples=100)
    assert [r.loss for r in runs] == losses
    assert all(r.steps == [0, 2, 4] and 0 <= min(r.covered) <= max(r.covered) <= 25 for r in runs)
    # every objective starts from the same G: the first measurements agree
    assert len({(r.covered[0], r.off_mode[0]) for r in runs}) == 1
    rows = mode_table(runs).splitlines()
    assert rows[0].startswith("| data | objective |")
    assert [row.split(" | ")[1] for row in rows[2:]] == losses


def test_mode_table_means_over_seeds():
    runs = [
        ModeRun("grid25", "nonsaturating", s, [0], [c], [o])
        for s, c, o in [(0, 25, 0.1), (1, 20, 0.2)]
    ]
    row = mode_table(runs).splitlines()[2]
    assert "22.5 of 25 [25, 20]" in row and "15.0% [10%, 20%]" in row
