"""Optimizers against values computed by hand, and their state round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minigan import nn, optim

GRADS = [np.array([0.5, -1.0]), np.array([0.1, 2.0]), np.array([-0.3, 0.0])]


def _param() -> nn.Parameter:
    return nn.Parameter(np.array([1.0, -2.0]))


def test_adam_three_steps_by_hand():
    p = _param()
    opt = optim.Adam([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    w, m, v = p.data.copy(), np.zeros(2), np.zeros(2)
    for t, g in enumerate(GRADS, start=1):
        p.grad[...] = g
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        w = w - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
        np.testing.assert_allclose(p.data, w, rtol=1e-12)
        assert opt.t == t


def test_adam_first_step_moves_each_weight_by_lr():
    p = nn.Parameter(np.array([0.0, 0.0, 0.0], np.float32))
    p.grad[...] = [1e-3, -5.0, 2.0]
    optim.Adam([p], lr=0.01).step()
    np.testing.assert_allclose(p.data, [-0.01, 0.01, -0.01], rtol=1e-4)
    assert p.data.dtype == np.float32


def test_sgd_momentum_three_steps_by_hand():
    p = _param()
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    w, buf = p.data.copy(), None
    for g in GRADS:
        p.grad[...] = g
        opt.step()
        d = g + 0.01 * w
        buf = d if buf is None else 0.9 * buf + d
        w = w - 0.1 * buf
        np.testing.assert_allclose(p.data, w, rtol=1e-12)


def test_plain_sgd():
    p = _param()
    p.grad[...] = GRADS[0]
    optim.SGD([p], lr=0.5).step()
    np.testing.assert_allclose(p.data, [0.75, -1.5])


@pytest.mark.parametrize(
    "make", [lambda ps: optim.Adam(ps, lr=0.1), lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)]
)
def test_optimizer_state_round_trip_is_exact(make):
    a, b = _param(), _param()
    opt_a, opt_b = make([a]), make([b])
    for g in GRADS[:2]:
        a.grad[...] = g
        opt_a.step()
    b.data[...] = a.data
    opt_b.load_state_dict(opt_a.state_dict())
    a.grad[...] = b.grad[...] = GRADS[2]
    opt_a.step()
    opt_b.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_optimizer_errors():
    with pytest.raises(ValueError, match="lr must be a positive number"):
        optim.Adam([_param()], lr=0)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="Parameter"):
        optim.SGD([np.zeros(2)], lr=0.1)
    opt = optim.Adam([_param()])
    with pytest.raises(KeyError, match="expected keys"):
        opt.load_state_dict({"step": np.array(1)})
    bad = opt.state_dict()
    bad["m.0"] = np.zeros(5)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)


def test_adam_bias_correction_matters():
    """Uncorrected, the first step would be lr * (1 - b1) / sqrt(1 - b2) ~ 15.8 lr, not lr."""
    p = nn.Parameter(np.array([0.0]))
    p.grad[...] = 1.0
    optim.Adam([p], lr=1.0, betas=(0.5, 0.999), eps=0.0).step()
    uncorrected = (1 - 0.5) / math.sqrt(1 - 0.999)
    assert p.data[0] == pytest.approx(-1.0, rel=1e-12)
    assert uncorrected == pytest.approx(15.81, rel=1e-3)
