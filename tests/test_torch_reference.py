"""Forward and backward against PyTorch on the same weights (float32, relative error <= 1e-5).

PyTorch is an optional, comparison-only dependency: this module is skipped when it is absent.
Relative error here is ``max|a - b| / max|b|`` per array. One exception: in training mode the bias
of a layer that feeds a BatchNorm has a gradient that is exactly zero (the normalisation subtracts
any per-channel shift), which both frameworks return as float32 rounding noise; for those the test
checks that both are zero to 1e-5 of the model's largest gradient instead of comparing the noise.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import losses, models, nn, optim

torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional comparison)")
pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("torch_one_thread")]
TOL = 1e-5


def _numpy(b) -> np.ndarray:
    return b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)


def _rel(a: np.ndarray, b) -> float:
    b = _numpy(b)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def _torch_twin(layer: nn.Module, tlayer):
    """Copy minigan's weights into the PyTorch layer: keys and layouts are the same."""
    tlayer.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.state_dict().items()})
    return tlayer


def _compare(
    layer: nn.Module, tlayer, x: np.ndarray, training: bool = True, zero_grads: tuple[str, ...] = ()
) -> None:
    layer.train(training)
    tlayer.train(training)
    y = layer(x)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = tlayer(tx)
    ty.backward(torch.from_numpy(dy))
    assert y.dtype == dx.dtype == np.float32
    assert _rel(y, ty) <= TOL
    assert _rel(dx, tx.grad) <= TOL
    tparams = dict(tlayer.named_parameters())
    scale = max((np.abs(_numpy(p.grad)).max() for p in tparams.values()), default=0.0)
    for name, p in layer.named_parameters():
        if name in zero_grads:
            assert (
                max(np.abs(p.grad).max(), np.abs(_numpy(tparams[name].grad)).max()) <= TOL * scale
            )
        else:
            assert _rel(p.grad, tparams[name].grad) <= TOL, name
    tstate = tlayer.state_dict()
    for name, value in layer.state_dict().items():  # running statistics too
        np.testing.assert_allclose(value, tstate[name].numpy(), rtol=1e-5, atol=1e-6)


RNG = np.random.default_rng(0)


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


CASES = {
    "Linear": (lambda: nn.Linear(7, 5), lambda: torch.nn.Linear(7, 5), (4, 7)),
    "Conv2d": (
        lambda: nn.Conv2d(3, 4, 4, 2, 1),
        lambda: torch.nn.Conv2d(3, 4, 4, 2, 1),
        (2, 3, 9, 9),
    ),
    "Conv2d-s3p2": (
        lambda: nn.Conv2d(2, 3, 5, 3, 2),
        lambda: torch.nn.Conv2d(2, 3, 5, 3, 2),
        (2, 2, 8, 8),
    ),
    "ConvTranspose2d": (
        lambda: nn.ConvTranspose2d(3, 2, 4, 2, 1),
        lambda: torch.nn.ConvTranspose2d(3, 2, 4, 2, 1),
        (2, 3, 5, 5),
    ),
    "ConvTranspose2d-op": (
        lambda: nn.ConvTranspose2d(2, 3, 3, 3, 1, 2, bias=False),
        lambda: torch.nn.ConvTranspose2d(2, 3, 3, 3, 1, 2, bias=False),
        (2, 2, 4, 4),
    ),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(6), lambda: torch.nn.BatchNorm1d(6), (5, 6)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (4, 3, 5, 5)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2), (4, 9)),
    "ReLU": (lambda: nn.ReLU(), lambda: torch.nn.ReLU(), (4, 9)),
    "Tanh": (lambda: nn.Tanh(), lambda: torch.nn.Tanh(), (4, 9)),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid(), (4, 9)),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("training", [True, False])
def test_layer_matches_pytorch(backend, name, training):
    make, make_torch, shape = CASES[name]
    layer = make()
    _compare(layer, _torch_twin(layer, make_torch()), _x(*shape), training)


def test_dcgan28_matches_pytorch(backend):
    G, D = models.dcgan28(rng=np.random.default_rng(0))
    tG = torch.nn.Sequential(
        torch.nn.Linear(100, 6272), torch.nn.BatchNorm1d(6272), torch.nn.ReLU(),
        torch.nn.Unflatten(1, (128, 7, 7)),
        torch.nn.ConvTranspose2d(128, 64, 4, 2, 1), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(64, 1, 4, 2, 1), torch.nn.Tanh(),
    )  # fmt: skip
    tD = torch.nn.Sequential(
        torch.nn.Conv2d(1, 64, 4, 2, 1), torch.nn.LeakyReLU(0.2),
        torch.nn.Conv2d(64, 128, 4, 2, 1), torch.nn.BatchNorm2d(128), torch.nn.LeakyReLU(0.2),
        torch.nn.Flatten(), torch.nn.Linear(6272, 1),
    )  # fmt: skip
    _compare(G, _torch_twin(G, tG), _x(8, 100), zero_grads=("0.bias", "4.bias"))
    _compare(D, _torch_twin(D, tD), np.tanh(_x(8, 1, 28, 28)), zero_grads=("2.bias",))


def test_losses_match_pytorch():
    x = _x(16, 1) * 5
    t = (RNG.random((16, 1)) > 0.5).astype(np.float32)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tloss = torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.from_numpy(t))
    tloss.backward()
    loss, grad = losses.bce_with_logits(x, t)
    assert abs(loss - tloss.item()) <= TOL * abs(tloss.item())
    assert _rel(grad, tx.grad) <= TOL
    labels = RNG.integers(0, 5, 16)
    logits = _x(16, 5)
    tl = torch.from_numpy(logits.copy()).requires_grad_(True)
    tce = torch.nn.functional.cross_entropy(tl, torch.from_numpy(labels))
    tce.backward()
    ce, dce = losses.softmax_cross_entropy(logits, labels)
    assert abs(ce - tce.item()) <= TOL * abs(tce.item())
    assert _rel(dce, tl.grad) <= TOL


def _optimizer_trajectories(make, make_torch, steps: int, size: int = 50):
    """Run the same gradients through both optimizers; return both final weights."""
    w0 = _x(size)
    p, tp = nn.Parameter(w0.copy()), torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt, topt = make([p]), make_torch([tp])
    for _ in range(steps):
        g = _x(size)
        p.grad[...] = g
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    assert p.data.dtype == np.float32
    return p.data, tp.detach().numpy()


@pytest.mark.parametrize(
    ("make", "make_torch", "steps"),
    [
        (
            lambda ps: optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999)),
            lambda ps: torch.optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999)),
            10,
        ),
        (
            lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
            lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
            5,
        ),
    ],
    ids=["adam", "sgd-momentum"],
)
def test_optimizer_matches_pytorch(make, make_torch, steps):
    ours, theirs = _optimizer_trajectories(make, make_torch, steps)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
