"""``Module.backward_input``: the same ``dx`` as ``backward`` (bit for bit: the same arithmetic)
with every ``Parameter.grad`` left as it was, for each layer on hypothesis-drawn shapes, for
whole models (plain and conditional), for the default of a user module, and in ``g_step``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan import models, nn, optim
from minigan.gradcheck import numeric_gradient, relative_error
from minigan.objectives import get_objective
from minigan.step import g_step

# the backend fixture only selects kernels, so sharing it across examples is safe
SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _same_dx_no_grad(module: nn.Module, x, dy: np.ndarray, rng: np.random.Generator) -> None:
    """Fill every gradient with noise, run ``backward_input`` then ``backward`` after the same
    forward, and compare: equal ``dx``, the noise untouched by ``backward_input``."""
    module.forward(x) if not isinstance(x, tuple) else module.forward(*x)
    for p in module.parameters():
        p.grad[...] = rng.standard_normal(p.grad.shape)
    before = [p.grad.copy() for p in module.parameters()]
    dx_input = module.backward_input(dy)
    for p, g in zip(module.parameters(), before):
        assert np.array_equal(p.grad, g), "backward_input touched a parameter gradient"
    dx = module.backward(dy)
    assert dx_input.dtype == dx.dtype == dy.dtype
    assert dx_input.shape == dx.shape
    assert np.array_equal(dx_input, dx)


@st.composite
def layer_case(draw):
    """A layer and an input for it, drawn directly valid (channel counts on both sides of the
    per-sample threshold of the convolutions)."""
    kind = draw(
        st.sampled_from(
            ["linear", "linear1", "conv", "convT", "bn1", "bn2", "relu", "lrelu", "tanh",
             "sigmoid", "dropout", "flatten", "reshape", "maxpool", "avgpool"]
        )
    )  # fmt: skip
    n = draw(st.integers(2, 5))
    c = draw(st.sampled_from([1, 3, 8, 12]))
    o = draw(st.sampled_from([1, 4, 9]))
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    p = draw(st.integers(0, k - 1))
    h = draw(st.integers(max(k, 2), 7))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return kind, n, c, o, k, s, p, h, bias, seed


def _build(case) -> tuple[nn.Module, tuple[int, ...]]:
    kind, n, c, o, k, s, p, h, bias, seed = case
    rng = np.random.default_rng(seed)
    if kind == "linear":
        return nn.Linear(c, o, bias=bias, rng=rng), (n, c)
    if kind == "linear1":  # one output feature: the broadcast form of dy @ W
        return nn.Linear(c, 1, bias=bias, rng=rng), (n, c)
    if kind == "conv":
        return nn.Conv2d(c, o, k, s, p, bias=bias, rng=rng), (n, c, h, h)
    if kind == "convT":
        return nn.ConvTranspose2d(c, o, k, s, p, s - 1, bias=bias, rng=rng), (n, c, h, h)
    if kind == "bn1":
        return nn.BatchNorm1d(c), (n, c)
    if kind == "bn2":
        return nn.BatchNorm2d(c), (n, c, h, h)
    if kind == "dropout":
        return nn.Dropout(0.3, rng=rng), (n, c, h)
    if kind == "reshape":
        return nn.Reshape(h, c), (n, c * h)
    if kind in ("maxpool", "avgpool"):
        layer = nn.MaxPool2d(2) if kind == "maxpool" else nn.AvgPool2d(2)
        return layer, (n, c, 2 * h, 2 * h)
    make = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "flatten": nn.Flatten}
    return (nn.LeakyReLU(0.2) if kind == "lrelu" else make[kind]()), (n, c, h, h)


@SETTINGS
@given(case=layer_case(), double=st.booleans())
def test_every_layer_backward_input_is_backward_dx_without_grads(backend, case, double):
    layer, shape = _build(case)
    dtype = np.float64 if double else np.float32
    layer.to(dtype)
    rng = np.random.default_rng(case[-1])
    x = rng.standard_normal(shape).astype(dtype)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(dtype)
    _same_dx_no_grad(layer, x, dy, rng)


@pytest.mark.parametrize("num_classes", [None, 3])
@pytest.mark.parametrize("model", ["dcgan28", "dcgan28-nobn", "mlp"])
def test_models_backward_input(backend, model, num_classes, rng):
    G, D = models.build(model, z_dim=8, num_classes=num_classes, rng=rng)
    n = 4
    labels = None if num_classes is None else rng.integers(0, num_classes, n)
    z = rng.standard_normal((n, 8), dtype=np.float32)
    x = rng.uniform(-1, 1, (n, 1, 28, 28)).astype(np.float32)
    for net, inp, out in ((D, x, (n, 1)), (G, z, (n, 1, 28, 28))):
        args = (inp,) if labels is None else (inp, labels)
        dy = rng.standard_normal(out).astype(np.float32)
        _same_dx_no_grad(net, args, dy, rng)


def test_embedding_backward_input_touches_nothing(rng):
    emb = nn.Embedding(5, 3, rng=rng)
    emb.forward(np.array([0, 4, 4]))
    assert emb.backward_input(np.ones((3, 3), np.float32)) is None
    assert not emb.weight.grad.any()


class _Scale(nn.Module):
    """A user module with a parameter and only ``backward``: the default ``backward_input``."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(np.array([2.0], np.float32))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._cache = x
        return self.a.data * x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self.a.grad += (dy * self._saved()).sum(keepdims=True).reshape(1)
        return self.a.data * dy


def test_default_backward_input_restores_user_module_grads(rng):
    net = nn.Sequential(nn.Linear(3, 2, rng=rng), _Scale(), nn.Tanh())
    x = rng.standard_normal((4, 3)).astype(np.float32)
    dy = rng.standard_normal((4, 2)).astype(np.float32)
    _same_dx_no_grad(net, x, dy, rng)


@pytest.mark.parametrize("model", ["dcgan28", "mlp"])
def test_g_step_leaves_d_grads_and_gives_the_same_g_grads(backend, model):
    """``g_step`` with ``D.backward_input`` gives G the gradients the full ``D.backward`` gives,
    and leaves D's gradients as they were."""
    G, D = models.build(model, z_dim=8, rng=np.random.default_rng(0))
    z = np.random.default_rng(1).standard_normal((4, 8), dtype=np.float32)
    # the reference: the step written with D.backward, the update after it does not matter
    G.zero_grad()
    fake_out = D.forward(G.forward(z))
    _, d_out = get_objective("nonsaturating").g_loss(fake_out)
    G.backward_params(D.backward(d_out))
    expected = [p.grad.copy() for p in G.parameters()]
    for p in D.parameters():
        p.grad[...] = 1.5
    g_step(G, D, optim.SGD(G.parameters(), lr=1e-3), z)
    for p, g in zip(G.parameters(), expected):
        assert np.array_equal(p.grad, g)
    assert all((p.grad == 1.5).all() for p in D.parameters())


@pytest.mark.parametrize("conditional", [False, True])
def test_backward_input_matches_finite_differences_in_float64(backend, conditional, rng):
    """``<dy, D(x)>`` differentiated in ``x`` by central differences, float64, against
    ``backward_input`` through convolutions, BatchNorm (training), LeakyReLU, Tanh and a
    projection head."""
    features = nn.Sequential(
        nn.Conv2d(2, 9, 3, 2, 1, rng=rng), nn.BatchNorm2d(9), nn.Tanh(),
        nn.ConvTranspose2d(9, 3, 2, 1, 0, rng=rng), nn.LeakyReLU(0.2), nn.Flatten(),
    )  # fmt: skip
    head = nn.Linear(3 * 4 * 4, 1, rng=rng)
    if conditional:
        D = nn.ProjectionDiscriminator(features, head, 3, rng=rng).to(np.float64)
        D = nn.WithLabels(D, np.array([0, 2, 2, 1]))
    else:
        D = nn.Sequential(features, head).to(np.float64)
    x = _away_from_kink(rng, (4, 2, 6, 6))
    dy = rng.standard_normal((4, 1))
    D.forward(x)
    analytic = D.backward_input(dy)
    assert not any(p.grad.any() for p in D.parameters())
    numeric, _ = numeric_gradient(lambda: float(np.vdot(dy, D.forward(x))), x)
    assert relative_error(numeric, analytic) < 1e-6


def _away_from_kink(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)
