"""The GAN objectives as values: every loss's gradient against finite differences, each game's
defining numbers, WGAN's clipping, the options, and RMSprop against its formula and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan import nn
from minigan.config import TrainConfig
from minigan.gradcheck import check_loss
from minigan.objectives import OBJECTIVES, Hinge, LeastSquares, Wasserstein, get_objective
from minigan.optim import RMSprop, make_optimizer

TERMS = ("d_loss_real", "d_loss_fake", "g_loss")


@settings(deadline=None, max_examples=20)
@given(n=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
@pytest.mark.parametrize("name", list(OBJECTIVES))
@pytest.mark.parametrize("term", TERMS)
def test_every_term_matches_finite_differences(name: str, term: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # hinge has kinks at +-1: keep the outputs at least 0.05 away from them
    out = rng.uniform(-3, 3, (n, 1))
    out[np.abs(np.abs(out) - 1) < 0.05] += 0.1
    report = check_loss(getattr(OBJECTIVES[name], term), out)
    assert report.passed, report.errors


@pytest.mark.parametrize("name", list(OBJECTIVES))
@pytest.mark.parametrize("term", TERMS)
def test_float32_stays_float32(name: str, term: str) -> None:
    out = np.linspace(-2, 2, 6, dtype=np.float32).reshape(6, 1)
    loss, d_out = getattr(OBJECTIVES[name], term)(out)
    assert d_out.dtype == np.float32 and d_out.shape == out.shape
    assert np.asarray(loss).dtype in (np.float32, np.float64) and np.isfinite(loss)
    assert (out == np.linspace(-2, 2, 6, dtype=np.float32).reshape(6, 1)).all()  # not mutated


def test_each_game_at_known_outputs() -> None:
    real, fake = np.array([[1.0], [3.0]]), np.array([[0.0], [-2.0]])
    # LSGAN: D wants 1 on real, 0 on fake; G wants 1 on fake
    assert LeastSquares().d_loss(real, fake)[0] == pytest.approx(
        0.5 * (0 + 4) / 2 + 0.5 * (0 + 4) / 2
    )
    assert LeastSquares().g_loss(fake)[0] == pytest.approx(0.5 * (1 + 9) / 2)
    # hinge: only samples inside the margin count
    loss, d_real, d_fake = Hinge().d_loss(real, fake)
    assert loss == pytest.approx(0 + (1 + 0) / 2)
    np.testing.assert_array_equal(d_real.ravel(), [0, 0])  # both real scores >= 1
    np.testing.assert_array_equal(d_fake.ravel(), [0.5, 0])  # -2 is beyond the margin
    # WGAN: the critic loss is minus the Wasserstein estimate
    assert Wasserstein().d_loss(real, fake)[0] == pytest.approx(-1 - 2)
    assert Hinge().g_loss(fake)[0] == Wasserstein().g_loss(fake)[0] == pytest.approx(1.0)


def test_only_the_probability_games_report_probabilities() -> None:
    flags = {name: (o.probabilities, o.critic) for name, o in OBJECTIVES.items()}
    assert flags == {
        "nonsaturating": (True, False),
        "minimax": (True, False),
        "lsgan": (False, False),
        "hinge": (False, False),
        "wgan": (False, True),
        "wgan-gp": (False, True),
    }


def test_wgan_clips_every_weight_of_the_critic() -> None:
    D = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    for p in D.parameters():
        p.data[...] = np.linspace(-1, 1, p.data.size, dtype=np.float32).reshape(p.shape)
    get_objective("wgan", clip=0.05).constrain(D)
    for p in D.parameters():
        assert p.data.dtype == np.float32 and np.abs(p.data).max() == pytest.approx(0.05)
    before = [p.data.copy() for p in D.parameters()]
    OBJECTIVES["hinge"].constrain(D)
    OBJECTIVES["wgan-gp"].constrain(D)  # the penalty replaces clipping
    assert all((p.data == b).all() for p, b in zip(D.parameters(), before))


def test_options_and_their_errors() -> None:
    assert get_objective("wgan", clip=0.1).clip == 0.1 and OBJECTIVES["wgan"].clip == 0.01
    assert get_objective("wgan-gp", gp_weight=1.0).gp_weight == 1.0
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="clip must be a positive number"):
            get_objective("wgan", clip=bad)
    with pytest.raises(TypeError):
        get_objective("hinge", clip=0.1)


def test_config_takes_each_objectives_defaults_and_keeps_overrides() -> None:
    expected = {
        "nonsaturating": ("adam", 2e-4, (0.5, 0.999), 1, None, None),
        "minimax": ("adam", 2e-4, (0.5, 0.999), 1, None, None),
        "lsgan": ("adam", 2e-4, (0.5, 0.999), 1, None, None),
        "hinge": ("adam", 2e-4, (0.5, 0.999), 1, None, None),
        "wgan": ("rmsprop", 5e-5, (0.5, 0.999), 5, 0.01, None),
        "wgan-gp": ("adam", 1e-4, (0.0, 0.9), 5, None, 10.0),
    }
    for loss, (optimizer, lr, betas, n_critic, clip, gp) in expected.items():
        c = TrainConfig(loss=loss, model="mlp")
        assert (c.optimizer, c.lr_g, c.lr_d, c.betas, c.n_critic, c.clip, c.gp_weight) == (
            optimizer, lr, lr, betas, n_critic, clip, gp,
        )  # fmt: skip
        assert TrainConfig.from_dict(c.to_dict()) == c
    c = TrainConfig(loss="wgan", model="mlp", lr_g=1e-4, n_critic=2, clip=0.02, optimizer="adam")
    assert (c.lr_g, c.lr_d, c.n_critic, c.clip, c.optimizer) == (1e-4, 5e-5, 2, 0.02, "adam")
    assert c.objective().clip == 0.02


def test_config_refuses_what_a_game_cannot_train() -> None:
    with pytest.raises(ValueError, match=r"dcgan28 cannot train with --loss wgan-gp.*BatchNorm"):
        TrainConfig(loss="wgan-gp", model="dcgan28")
    with pytest.raises(ValueError, match="clip is an option of the wgan loss"):
        TrainConfig(loss="hinge", clip=0.1)
    with pytest.raises(ValueError, match="conditional critic"):
        TrainConfig(loss="wgan-gp", model="mlp", num_classes=10)
    with pytest.raises(ValueError, match="n_critic must be a positive integer"):
        TrainConfig(n_critic=0)
    with pytest.raises(ValueError, match="lr_d must be a positive number"):
        TrainConfig(lr_d=float("nan"))


def test_a_config_json_of_an_earlier_version_reads_as_it_meant() -> None:
    old = {"data": "fashion-mnist", "model": "dcgan28", "z_dim": 100, "epochs": 1, "batch": 64}
    old |= {"lr": 1e-3, "betas": [0.5, 0.999], "loss": "minimax", "seed": 3, "dtype": "float32"}
    c = TrainConfig.from_dict(old)
    assert (c.lr_g, c.lr_d, c.image_shape, c.num_classes, c.n_critic) == (
        1e-3,
        1e-3,
        (1, 28, 28),
        None,
        1,
    )


def _rmsprop_by_hand(w, grads, lr, alpha, eps):  # type: ignore[no-untyped-def]
    v = np.zeros_like(w)
    for g in grads:
        v = alpha * v + (1 - alpha) * g * g
        w = w - lr * g / (np.sqrt(v) + eps)
    return w, v


def test_rmsprop_three_steps_by_hand() -> None:
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(3)]
    p = nn.Parameter(w0.copy())
    opt = RMSprop([p], lr=0.01)
    for g in grads:
        p.grad[...] = g
        opt.step()
    w, v = _rmsprop_by_hand(w0, grads, 0.01, 0.99, 1e-8)
    np.testing.assert_allclose(p.data, w, rtol=1e-12)
    np.testing.assert_allclose(opt.v[0], v, rtol=1e-12)
    state = opt.state_dict()
    again = RMSprop([nn.Parameter(p.data.copy())], lr=0.01)
    again.load_state_dict(state)
    assert again.t == 3 and (again.v[0] == opt.v[0]).all()


def test_rmsprop_keeps_float32_and_refuses_bad_settings() -> None:
    p = nn.Parameter(np.ones(3, np.float32))
    p.grad[...] = 0.5
    RMSprop([p], lr=1e-3).step()
    assert p.data.dtype == np.float32
    for kwargs, message in [({"lr": float("nan")}, "lr"), ({"alpha": 1.0}, "alpha")]:
        with pytest.raises(ValueError, match=message):
            RMSprop([p], **kwargs)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        make_optimizer("sgd", [p], 1e-3, (0.5, 0.999))


@pytest.mark.torch
def test_rmsprop_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    p = nn.Parameter(w0.copy())
    opt = RMSprop([p], lr=5e-3)
    t = torch.tensor(w0, requires_grad=True)
    topt = torch.optim.RMSprop([t], lr=5e-3)
    for g in grads:
        p.grad[...] = g
        opt.step()
        t.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-15)
