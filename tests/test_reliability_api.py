"""The Python API's edge cases (issue "Nothing lost, nothing silent", item 13), each behaviour as
its docstring decides it: bad optimizer settings and layer sizes are refused by name, a float64
``dy`` never turns a float32 layer's gradients float64, an empty batch is refused by every layer
alike, infinite logits give the BCE's limits instead of NaN, and a non-finite batch leaves
BatchNorm's running statistics as they were."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import nn, optim
from minigan.functional.losses import bce_with_logits
from minigan.nn import Parameter


def param():
    return Parameter(np.ones(3, np.float32))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: optim.Adam([param()], lr=float("nan")), "lr must be a positive number"),
        (lambda: optim.Adam([param()], lr=float("inf")), "lr must be a positive number"),
        (lambda: optim.Adam([param()], lr=1e-3, eps=float("nan")), "eps must be"),
        (lambda: optim.Adam([param()], lr=1e-3, betas=(float("nan"), 0.9)), "betas"),
        (lambda: optim.RMSprop([param()], lr=float("nan")), "lr must be a positive number"),
        (lambda: optim.SGD([param()], lr=0.1, momentum=float("nan")), "momentum"),
        (lambda: optim.SGD([param()], lr=0.1, weight_decay=-1.0), "weight_decay"),
    ],
)
def test_optimizers_refuse_non_finite_settings(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"step": np.array(-1, np.int64)}, "step must be a non-negative integer"),
        ({"step": np.array(1.5)}, "step must be a non-negative integer"),
        ({"v.0": -np.ones(3, np.float32)}, "'v.0' must be non-negative"),
    ],
)
def test_an_optimizer_refuses_a_state_it_cannot_continue_from(state, message):
    opt = optim.Adam([param()], lr=1e-3)
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(opt.state_dict() | state)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Linear(0, 2),
        lambda: nn.Linear(-1, 2),
        lambda: nn.Linear(2, 0),
        lambda: nn.Linear(2.5, 2),
        lambda: nn.Conv2d(0, 4, 3),
        lambda: nn.ConvTranspose2d(4, 0, 3),
        lambda: nn.BatchNorm1d(0),
        lambda: nn.BatchNorm2d(-3),
    ],
)
def test_layers_refuse_sizes_that_are_not_positive_integers(make):
    with pytest.raises(ValueError, match=r"must be (positive integers|a positive integer), got"):
        make()


LAYERS = {
    "Linear": (lambda: nn.Linear(3, 2), (4, 3)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), (4, 2, 5, 5)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 3, 4, 2, 1), (4, 2, 3, 3)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (4, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2), (4, 2, 3, 3)),
}


ACTIVATIONS = {
    "ReLU": (nn.ReLU, (4, 3)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), (4, 2, 3, 3)),
    "Tanh": (nn.Tanh, (4, 3)),
    "Sigmoid": (nn.Sigmoid, (4, 3)),
    "Dropout": (lambda: nn.Dropout(0.3, rng=np.random.default_rng(0)), (4, 3)),
}


@pytest.mark.parametrize("name", list(LAYERS) + list(ACTIVATIONS))
def test_a_float64_dy_into_a_float32_layer_is_refused(name):
    make, shape = {**LAYERS, **ACTIVATIONS}[name]
    layer = make()
    y = layer(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    with pytest.raises(TypeError, match="expected a float32 dy"):
        layer.backward(np.ones(y.shape, np.float64))
    assert layer.backward(np.ones(y.shape, np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("training", [True, False])
def test_every_layer_refuses_an_empty_batch_alike(name, training):
    make, shape = LAYERS[name]
    layer = make().train(training)
    with pytest.raises(ValueError, match="expected a batch of at least one sample"):
        layer(np.zeros((0, *shape[1:]), np.float32))


def test_bce_with_logits_gives_the_limits_at_infinite_logits():
    inf = np.float32(np.inf)
    logits = np.array([inf, -inf, inf, -inf], np.float32)
    loss, d_logits = bce_with_logits(logits[:2], np.array([1, 0], np.float32))
    assert loss == 0.0 and np.array_equal(d_logits, [0, 0])  # confident and right
    loss, d_logits = bce_with_logits(logits, np.array([1, 0, 0, 1], np.float32))
    assert loss == np.inf and np.array_equal(d_logits, [0, 0, 0.25, -0.25])  # two wrong
    assert d_logits.dtype == np.float32
    loss, _ = bce_with_logits(np.array([inf], np.float32), np.array([0.5], np.float32))
    assert loss == np.inf  # a soft target: the loss grows without bound


@pytest.mark.parametrize("cls", [nn.BatchNorm1d, nn.BatchNorm2d])
def test_a_non_finite_batch_leaves_the_running_statistics_as_they_were(cls):
    bn = cls(3)
    rng = np.random.default_rng(0)
    shape = (8, 3) if cls is nn.BatchNorm1d else (8, 3, 2, 2)
    bn(rng.standard_normal(shape).astype(np.float32))
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    bad = rng.standard_normal(shape).astype(np.float32)
    bad[0, 1] = np.nan  # channel 1 poisoned; channels 0 and 2 fine
    y = bn(bad)
    assert np.isnan(y[:, 1]).all() and np.isfinite(np.delete(y, 1, axis=1)).all()
    assert bn.running_mean[1] == mean[1] and bn.running_var[1] == var[1]
    assert (bn.running_mean[[0, 2]] != mean[[0, 2]]).all()  # the others still learn
    assert np.isfinite(bn.eval()(rng.standard_normal(shape).astype(np.float32))).all()
