"""Module plumbing: parameter and buffer naming, state_dict round trips, train/eval, clear errors
for bad input."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import minigan
from minigan import models, nn


def test_state_dict_keys_follow_pytorch():
    G, D = models.dcgan28(rng=np.random.default_rng(0))
    keys = list(G.state_dict())
    assert keys[:7] == [
        "0.weight", "0.bias", "1.weight", "1.bias",
        "1.running_mean", "1.running_var", "1.num_batches_tracked",
    ]  # fmt: skip
    assert G.state_dict()["4.weight"].shape == (128, 64, 4, 4)  # ConvTranspose2d: (in, out, k, k)
    assert D.state_dict()["2.weight"].shape == (128, 64, 4, 4)  # Conv2d: (out, in, k, k)
    assert D.state_dict()["6.weight"].shape == (1, 6272)


def test_state_dict_round_trip_is_exact():
    a, _ = models.dcgan28(rng=np.random.default_rng(0))
    b, _ = models.dcgan28(rng=np.random.default_rng(1))
    z = np.random.default_rng(2).standard_normal((4, 100)).astype(np.float32)
    a(z)  # move the running statistics away from their initial values
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
        assert va.dtype == vb.dtype
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(z), b(z))


def test_state_dict_is_a_copy():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    state["weight"][...] = 42
    assert not (layer.weight.data == 42).any()


def test_load_state_dict_errors_name_the_problem():
    layer = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    state = layer.state_dict()
    with pytest.raises(KeyError, match=r"missing keys \['1.running_var'\]"):
        layer.load_state_dict({k: v for k, v in state.items() if k != "1.running_var"})
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        layer.load_state_dict(state | {"extra": np.zeros(1)})
    with pytest.raises(
        ValueError, match=r"'0.weight' has shape \(3, 3\), this model expects \(2, 3\)"
    ):
        layer.load_state_dict(state | {"0.weight": np.zeros((3, 3))})
    before = layer.state_dict()
    with pytest.raises(ValueError):  # a failed load changes nothing
        layer.load_state_dict(state | {"0.weight": np.ones((2, 3)), "1.bias": np.zeros(5)})
    np.testing.assert_array_equal(layer.state_dict()["0.weight"], before["0.weight"])


def test_train_eval_reach_every_submodule():
    G, _ = models.mlp_gan()
    G.eval()
    assert all(not m.training for m in G.modules())
    G.train()
    assert all(m.training for m in G.modules())


def test_to_float64_casts_parameters_and_buffers():
    bn = nn.BatchNorm1d(3).to(np.float64)
    assert bn.weight.data.dtype == bn.weight.grad.dtype == bn.running_var.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64
    assert bn.state_dict()["running_mean"].dtype == np.float64


@pytest.mark.parametrize(
    ("layer", "x", "message"),
    [
        (nn.Conv2d(3, 8, 3), np.zeros((2, 3, 5), np.float32), r"expected input of shape \(N, 3, H, W\), got shape \(2, 3, 5\)"),
        (nn.Conv2d(3, 8, 3), np.zeros((2, 1, 5, 5), np.float32), r"with 3 at axis 1, got shape \(2, 1, 5, 5\)"),
        (nn.Conv2d(3, 8, 3), np.zeros((2, 3, 5, 5)), r"expected float32 input .* got float64"),
        (nn.Conv2d(3, 8, 5), np.zeros((2, 3, 2, 2), np.float32), r"smaller than the kernel"),
        (nn.Linear(4, 2), np.zeros((2, 5), np.float32), r"Linear\(4, 2.*expected input of shape \(N, 4\)"),
        (nn.Linear(4, 2), np.zeros((2, 4), np.int64), r"floating-point"),
        (nn.Linear(4, 2), [[0.0] * 4], r"expected a NumPy array"),
        (nn.BatchNorm2d(4), np.zeros((2, 4, 3), np.float32), r"BatchNorm2d.*\(N, C, H, W\)"),
        (nn.BatchNorm1d(4), np.zeros((1, 4), np.float32), r"more than 1 value per channel"),
        (nn.Reshape(128, 7, 7), np.zeros((2, 100), np.float32), r"6272 values per sample"),
        (nn.ConvTranspose2d(2, 2, 3), np.zeros((1, 3, 4, 4), np.float32), r"ConvTranspose2d\(2, 2.*with 2 at axis 1"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_error(layer, x, message):
    with pytest.raises((ValueError, TypeError), match=message):
        layer(x)


@pytest.mark.parametrize(
    "layer", [nn.Linear(2, 2), nn.Conv2d(1, 1, 1), nn.Tanh(), nn.BatchNorm1d(2)]
)
def test_backward_before_forward_is_a_clear_error(layer):
    with pytest.raises(RuntimeError, match=re.escape("backward() called before forward()")):
        layer.backward(np.zeros((1, 2), np.float32))


def test_constructor_errors():
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="square"):
        nn.Conv2d(1, 1, (3, 5))
    with pytest.raises(ValueError, match="stride >= 1"):
        nn.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="unknown model"):
        models.build("resnet")


def test_seed_makes_initialisation_reproducible():
    minigan.seed(7)
    a = nn.Linear(5, 5).weight.data
    minigan.seed(7)
    np.testing.assert_array_equal(a, nn.Linear(5, 5).weight.data)


def test_import_minigan_needs_numpy_alone():
    code = (
        "import sys, minigan, minigan.data, minigan.gradcheck, minigan.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'numba','cupy','matplotlib','scipy','torch','PIL'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dcgan_init_follows_the_paper():
    G, D = models.dcgan28(rng=np.random.default_rng(0))
    w = G[4].weight.data  # ConvTranspose2d(128, 64, 4)
    assert w.dtype == np.float32 and abs(w.std() - 0.02) < 0.001 and abs(w.mean()) < 0.001
    assert abs(D[3].weight.data.mean() - 1.0) < 0.01 and abs(D[3].weight.data.std() - 0.02) < 0.005
    assert not G[0].bias.data.any() and not D[6].bias.data.any() and not D[3].bias.data.any()
    G2, _ = models.dcgan28(rng=np.random.default_rng(0), init="pytorch")
    bound = 1 / np.sqrt(64 * 16)  # PyTorch's default for ConvTranspose2d reads fan_in off axis 1
    assert np.abs(G2[4].weight.data).max() <= bound == 1 / 32
    with pytest.raises(ValueError, match="unknown init"):
        models.build("dcgan28", init="xavier")


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.Linear(6, 3), (4, 6)),
        (lambda: nn.Linear(6, 1), (4, 6)),  # one output: the outer-product path
        (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 2, 7, 7)),
        (lambda: nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), (2, 3, 5, 5)),
        (lambda: nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(),
                               nn.Linear(4 * 7 * 7, 1)), (3, 1, 14, 14)),
    ],
)  # fmt: skip
def test_backward_params_gives_the_parameter_gradients_of_backward(backend, make, shape):
    """``backward_params`` (the input is data) skips ``dx`` and leaves the same gradients."""
    minigan.seed(0)
    layer = make()
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    dy = np.random.default_rng(2).standard_normal(layer(x).shape).astype(np.float32)
    dx = layer.backward(dy)
    grads = [p.grad.copy() for p in layer.parameters()]
    assert dx.shape == x.shape
    layer.zero_grad()
    layer(x)
    assert layer.backward_params(dy) is None
    for p, g in zip(layer.parameters(), grads, strict=True):
        np.testing.assert_array_equal(p.grad, g)
