"""The gradient checker itself: it passes correct backward passes and catches wrong ones."""

from __future__ import annotations

import numpy as np

from minigan import nn
from minigan.cli import main
from minigan.gradcheck import check_loss, check_module


class _WrongTanh(nn.Tanh):
    """A classic bug: the derivative written as 1 - x**2 instead of 1 - y**2."""

    def forward(self, x):
        self._x = x
        return super().forward(x)

    def backward(self, dy):
        return dy * (1 - self._x**2)


class _ForgetfulLinear(nn.Linear):
    """Forgets to accumulate the bias gradient."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.bias.grad.fill(0)
        return dx


def test_checker_catches_a_wrong_input_gradient(rng):
    report = check_module(_WrongTanh(), rng.standard_normal((3, 4)))
    assert not report.passed and report.errors["input"] > 0.01


def test_checker_catches_a_missing_parameter_gradient(rng):
    report = check_module(_ForgetfulLinear(3, 2).to(np.float64), rng.standard_normal((4, 3)))
    assert not report.passed
    assert report.errors["bias"] > 0.1 and report.errors["weight"] < 1e-6


def test_checker_catches_a_wrong_loss_gradient(rng):
    def half_gradient(x):
        return float((x**2).sum()), x  # the gradient is 2x

    assert not check_loss(half_gradient, rng.standard_normal(5)).passed


def test_directional_mode_on_large_inputs(rng):
    layer = nn.Conv2d(3, 4, 3, padding=1, rng=rng).to(np.float64)
    report = check_module(layer, rng.standard_normal((2, 3, 20, 20)))  # 2400 > elementwise limit
    assert report.passed, report.errors


def test_gradcheck_command_prints_a_passing_table(capsys):
    assert main(["gradcheck", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "| ConvTranspose2d" in out and "| objective minimax" in out and "| RMSprop" in out
    assert "FAIL" not in out and ", 0 failed" in out
