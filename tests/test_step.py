"""The one training step (``minigan.step``) and the objectives it takes as values: conditional
labels, several D steps per G step, a penalty on D, every op and loss through the backend, and
the trainer, the lab and the benchmarks all running this step."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

from minigan import backend, nn, objectives, optim, step
from minigan import functional as F
from minigan.gradcheck import check_loss
from minigan.models import build
from minigan.objectives import OBJECTIVES, get_objective
from minigan.train import TrainConfig, Trainer

IMAGES = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)


class Conditional(nn.Module):
    """``forward(x, y) = inner(x) + offset[y]``: a per-class offset table, the smallest model
    that reads labels; it records the labels it was given."""

    def __init__(self, inner: nn.Module, classes: int, width: int) -> None:
        super().__init__()
        self.inner = inner
        self.offset = nn.Parameter(np.zeros((classes, width), np.float32))
        self.seen: list[np.ndarray] = []

    def forward(self, x, y):  # type: ignore[no-untyped-def]
        self.seen.append(y)
        out = self.inner.forward(x)
        self._cache = y
        return out + self.offset.data[y]

    def backward(self, dy):  # type: ignore[no-untyped-def]
        np.add.at(self.offset.grad, self._saved(), dy)
        return self.inner.backward(dy)

    def backward_params(self, dy):  # type: ignore[no-untyped-def]
        np.add.at(self.offset.grad, self._saved(), dy)
        self.inner.backward_params(dy)


def tiny_gan(seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    G = nn.Sequential(nn.Linear(3, 8, rng=rng), nn.Tanh())
    D = nn.Sequential(nn.Linear(8, 6, rng=rng), nn.LeakyReLU(0.2), nn.Linear(6, 1, rng=rng))
    return G, D, rng


def noise_from(rng: np.random.Generator, z_dim: int = 3):  # type: ignore[no-untyped-def]
    return lambda n: rng.standard_normal((n, z_dim), dtype=np.float32)


def test_labels_reach_both_networks_and_only_their_rows_learn():
    G, D, rng = tiny_gan()
    G, D = Conditional(G, 4, 8), Conditional(D, 4, 1)
    opt_G, opt_D = optim.SGD(G.parameters(), 0.1), optim.SGD(D.parameters(), 0.1)
    real = rng.uniform(-1, 1, (6, 8)).astype(np.float32)
    labels = np.array([0, 2, 2, 0, 2, 0])
    step.train_step(G, D, opt_G, opt_D, real, noise_from(rng), labels=labels)
    assert len(G.seen) == 2 and len(D.seen) == 3  # G: D step, G step; D: real, fake, G step
    assert all(y is labels for y in G.seen + D.seen)
    for model in (G, D):
        moved = np.abs(model.offset.data).sum(axis=1) > 0
        assert moved.tolist() == [True, False, True, False]  # classes 1 and 3 were never drawn


def test_several_critic_steps_per_generator_step():
    G, D, rng = tiny_gan()
    opt_G, opt_D = optim.Adam(G.parameters()), optim.Adam(D.parameters())
    batches = [rng.uniform(-1, 1, (5, 8)).astype(np.float32) for _ in range(3)]
    record = step.train_step(G, D, opt_G, opt_D, batches, noise_from(rng))
    assert (opt_D.t, opt_G.t) == (3, 1)
    assert set(record) == {"loss_D", "loss_G", "D_x", "D_G_z"}
    with pytest.raises(ValueError, match="one label batch per real batch"):
        step.train_step(G, D, opt_G, opt_D, batches, noise_from(rng), labels=[np.zeros(5)] * 2)


def test_a_penalty_adds_its_value_and_its_gradient_before_the_update():
    G, D, rng = tiny_gan()
    real = rng.uniform(-1, 1, (5, 8)).astype(np.float32)
    fake = G(rng.standard_normal((5, 3), dtype=np.float32))
    calls = []

    def penalty(model, x, x_fake, labels):  # type: ignore[no-untyped-def]
        """0.5 * |w|^2 of D's last weight: its gradient is w."""
        calls.append((x is real, x_fake is fake, labels))
        w = model[2].weight
        w.grad += w.data
        return 0.5 * float((w.data**2).sum())

    plain, penalised = copy.deepcopy(D), copy.deepcopy(D)
    before = D[2].weight.data.copy()
    a = step.d_step(plain, optim.SGD(plain.parameters(), 1.0), real, fake)
    b = step.d_step(penalised, optim.SGD(penalised.parameters(), 1.0), real, fake, penalty=penalty)
    assert calls == [(True, True, None)]
    assert b["penalty"] == pytest.approx(0.5 * (before**2).sum())
    assert b["loss_D"] == pytest.approx(a["loss_D"] + b["penalty"])
    np.testing.assert_allclose(penalised[2].weight.data, plain[2].weight.data - before, atol=1e-6)


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_objective_gradients_match_finite_differences(name):
    objective = OBJECTIVES[name]
    rng = np.random.default_rng(3)
    real, fake = rng.normal(0, 3, (6, 1)), rng.normal(0, 3, (6, 1))
    assert check_loss(objective.d_loss_real, real).passed
    assert check_loss(objective.d_loss_fake, fake).passed
    assert check_loss(objective.g_loss, fake).passed
    loss, d_real, d_fake = objective.d_loss(real, fake)  # the sum of the two terms
    assert loss == objective.d_loss_real(real)[0] + objective.d_loss_fake(fake)[0]
    np.testing.assert_array_equal(d_real, objective.d_loss_real(real)[1])
    np.testing.assert_array_equal(d_fake, objective.d_loss_fake(fake)[1])
    assert get_objective(name) is objective and get_objective(objective) is objective


def test_minimax_generator_loss_is_minus_bce_against_zero():
    x = np.linspace(-30, 30, 13, dtype=np.float32).reshape(-1, 1)
    loss, d = OBJECTIVES["minimax"].g_loss(x)
    assert loss == pytest.approx(-float(F.softplus(x.astype(np.float64)).mean()), rel=1e-6)
    np.testing.assert_array_equal(d, -F.sigmoid(x) / x.size)


def test_unknown_objective_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown objective 'wgan2'.*nonsaturating.*wgan-gp"):
        get_objective("wgan2")


def _recording(monkeypatch) -> list:  # type: ignore[no-untyped-def]
    """Every reference function the code asks ``backend.kernel`` for, in order."""
    asked, lookup = [], backend.kernel

    def kernel(reference, like=None):  # type: ignore[no-untyped-def]
        asked.append(reference)
        return lookup(reference, like)

    monkeypatch.setattr(backend, "kernel", kernel)
    return asked


def test_every_op_and_loss_of_a_training_step_goes_through_the_backend(monkeypatch):
    """What ``minigan train --backend cupy`` relies on: the step takes every layer op, loss,
    probability and Adam update from ``backend.kernel``, which hands CuPy arrays the CUDA
    kernels (the fused BCE kernel among them)."""
    trainer = Trainer(TrainConfig(data="random", batch=8), images=IMAGES, quiet=True)
    asked = _recording(monkeypatch)
    trainer.step(next(iter(trainer.loader))[0])
    expected = {
        F.bce_with_logits, F.sigmoid, F.adam_update, F.linear_forward, F.linear_backward,
        F.conv2d_forward, F.conv2d_backward, F.conv_transpose2d_forward,
        F.conv_transpose2d_backward, F.batchnorm_forward, F.batchnorm_backward,
        F.leaky_relu_forward, F.leaky_relu_backward, F.relu_forward, F.relu_backward,
        F.tanh_forward, F.tanh_backward,
        F.linear_input_grad, F.conv2d_input_grad,  # D's backward_input in the G step
    }  # fmt: skip
    assert set(asked) == expected
    assert asked.count(F.bce_with_logits) == 3  # D: real, fake; G: fake


def _count_steps(monkeypatch) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counts = {"d_step": 0, "g_step": 0}
    for name in counts:
        original = getattr(step, name)

        def counted(*args, _name=name, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            counts[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(step, name, counted)
    return counts


def test_trainer_lab_and_benchmarks_run_the_one_step(monkeypatch):
    counts = _count_steps(monkeypatch)
    trainer = Trainer(TrainConfig(data="random", model="mlp", batch=8), images=IMAGES, quiet=True)
    trainer.step(next(iter(trainer.loader))[0])
    assert counts == {"d_step": 1, "g_step": 1}

    from minigan.lab import ToyGAN

    ToyGAN("ring8", rng=np.random.default_rng(0), batch=16).train(2)
    assert counts == {"d_step": 3, "g_step": 3}

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    monkeypatch.delitem(sys.modules, "common", raising=False)
    import common

    common.MiniganTrainer("numpy", batch=4).step()
    assert counts == {"d_step": 4, "g_step": 4}


def test_step_on_the_models_gives_floats_after_as_floats():
    G, D = build("mlp", z_dim=4, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    real = rng.uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)
    opts = optim.Adam(G.parameters(), 2e-4), optim.Adam(D.parameters(), 2e-4)
    record = step.as_floats(step.train_step(G, D, *opts, real, noise_from(rng, 4)))
    assert all(type(v) is float and np.isfinite(v) for v in record.values())
    assert 0 < record["D_x"] < 1 and 0 < record["D_G_z"] < 1
    assert objectives.mean_probability(np.zeros((3, 1), np.float32)) == 0.5
