"""The second-order passes (``Module.input_grad`` / ``Module.tangent``) and the WGAN-GP gradient
penalty built on them, against finite differences, a naive per-sample computation and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan import backend, nn
from minigan.functional.conv import conv_output_size, conv_transpose_output_size
from minigan.gradcheck import check_second_order, numeric_gradient, relative_error
from minigan.nn.module import SecondOrderError
from minigan.penalty import GradientPenalty, check_critic

TOL = 1e-6
SETTINGS = settings(deadline=None, max_examples=25)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in +-[0.1, 1]: ReLU and LeakyReLU have a kink at 0, where differences straddle it."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)


def assert_second_order(module: nn.Module, x: np.ndarray, seed: int) -> None:
    report = check_second_order(module.to(np.float64), x, seed=seed)
    assert report.passed, report.errors
    assert "tangent" in report.errors and "input_grad" in report.errors


# ---- each layer's second-order pass against differences of its first-order backward ------------
@SETTINGS
@given(
    n=st.integers(1, 4),
    fan_in=st.integers(1, 6),
    fan_out=st.integers(1, 5),
    bias=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_linear_second_order(n, fan_in, fan_out, bias, seed):
    rng = np.random.default_rng(seed)
    layer = nn.Linear(fan_in, fan_out, bias=bias, rng=rng)
    assert_second_order(layer, rng.standard_normal((n, fan_in)), seed)


@st.composite
def conv_case(draw):
    """Kernel, stride, padding first, then an input large enough for one output pixel."""
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    p = draw(st.integers(0, k - 1))
    h = draw(st.integers(max(1, k - 2 * p), max(1, k - 2 * p) + 4))
    c, o, n = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    assert conv_output_size(h, k, s, p) >= 1
    return n, c, o, k, s, p, h


@SETTINGS
@given(case=conv_case(), bias=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_conv2d_second_order(case, bias, seed):
    n, c, o, k, s, p, h = case
    rng = np.random.default_rng(seed)
    layer = nn.Conv2d(c, o, k, s, p, bias=bias, rng=rng)
    assert_second_order(layer, rng.standard_normal((n, c, h, h + 1)), seed)


@st.composite
def conv_transpose_case(draw):
    """Input size, kernel, stride, output padding, then a padding that leaves an output."""
    h, k, s = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    out_pad = draw(st.integers(0, s - 1))
    p = draw(st.integers(0, ((h - 1) * s + k + out_pad - 1) // 2))
    c, o, n = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    assert conv_transpose_output_size(h, k, s, p, out_pad) >= 1
    return n, c, o, k, s, p, out_pad, h


@SETTINGS
@given(case=conv_transpose_case(), seed=st.integers(0, 2**31 - 1))
def test_conv_transpose2d_second_order(case, seed):
    n, c, o, k, s, p, out_pad, h = case
    rng = np.random.default_rng(seed)
    layer = nn.ConvTranspose2d(c, o, k, s, p, out_pad, rng=rng)
    assert_second_order(layer, rng.standard_normal((n, c, h, h)), seed)


@SETTINGS
@given(
    kind=st.sampled_from(["relu", "leaky", "dropout", "flatten", "reshape"]),
    n=st.integers(1, 4),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    slope=st.floats(0.01, 0.5),
    seed=st.integers(0, 2**31 - 1),
)
def test_parameter_free_second_order(kind, n, shape, slope, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, (n, *shape))  # away from ReLU's kink; the rest do not mind
    layer = {
        "relu": lambda: nn.ReLU(),
        "leaky": lambda: nn.LeakyReLU(slope),
        "dropout": lambda: nn.Dropout(0.4, rng=np.random.default_rng(seed)),
        "flatten": lambda: nn.Flatten(),
        "reshape": lambda: nn.Reshape(shape[2], shape[0] * shape[1]),
    }[kind]()
    assert_second_order(layer, x, seed)


def test_input_grad_is_backward_without_parameter_gradients(rng):
    """``input_grad`` returns ``backward``'s ``dx``, adds nothing, and mutates neither argument."""
    layer = nn.Conv2d(2, 3, 3, 2, 1, rng=rng).to(np.float64)
    x = rng.standard_normal((2, 2, 5, 5))
    dy = rng.standard_normal(layer(x).shape)
    layer.zero_grad()
    dx = layer.backward(dy.copy())
    layer.zero_grad()
    dy_before = dy.copy()
    np.testing.assert_array_equal(layer.input_grad(dy), dx)
    assert not np.any(layer.weight.grad) and not np.any(layer.bias.grad)
    v = rng.standard_normal(x.shape)
    v_before = v.copy()
    layer.tangent(v)
    np.testing.assert_array_equal(dy, dy_before)
    np.testing.assert_array_equal(v, v_before)
    assert np.any(layer.weight.grad) and not np.any(layer.bias.grad)


def test_tangent_needs_input_grad_and_consumes_it(rng):
    layer = nn.Linear(3, 2, rng=rng)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    layer(x)
    with pytest.raises(RuntimeError, match="input_grad"):
        layer.tangent(x)
    layer.input_grad(np.ones((2, 2), np.float32))
    layer.tangent(x)
    with pytest.raises(RuntimeError, match="input_grad"):
        layer.tangent(x)


# ---- the whole penalty ------------------------------------------------------------------------
def mlp_critic(seed: int = 0, dtype=np.float64) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(16, 8, rng=rng), nn.LeakyReLU(0.2), nn.Linear(8, 1, rng=rng)
    ).to(dtype)


def conv_critic(seed: int = 0, dtype=np.float64) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 3, 4, 2, 1, rng=rng), nn.LeakyReLU(0.2), nn.Conv2d(3, 4, 3, 1, 1, rng=rng),
        nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 4 * 4, 1, rng=rng),
    ).to(dtype)  # fmt: skip


CRITICS = {"mlp": mlp_critic, "conv": conv_critic}


def batches(seed: int, dtype=np.float64, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    real = rng.uniform(-1, 1, (n, 1, 8, 8)).astype(dtype)
    fake = rng.uniform(-1, 1, (n, 1, 8, 8)).astype(dtype)
    return real, fake


def interpolate(seed: int, real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """``x_hat`` as ``GradientPenalty(rng=np.random.default_rng(seed))`` draws it (its docstring)."""
    eps = np.random.default_rng(seed).random((len(real), 1, 1, 1)).astype(real.dtype)
    return eps * real + (1 - eps) * fake


@pytest.mark.parametrize("kind", sorted(CRITICS))
@pytest.mark.parametrize("seed", [0, 1])
def test_penalty_gradient_matches_differences_of_its_value(kind, seed):
    D = CRITICS[kind](seed)
    if kind == "mlp":
        real, fake = (a[:, :, :4, :4].copy() for a in batches(seed))  # 16 values per sample
    else:
        real, fake = batches(seed)

    def value() -> float:  # the same eps every time
        return GradientPenalty(10.0, rng=np.random.default_rng(seed + 7))(D, real, fake)

    D.zero_grad()
    value()
    grads = {name: p.grad.copy() for name, p in D.named_parameters()}  # each value() adds more
    for name, p in D.named_parameters():
        analytic = grads[name]
        numeric, _ = numeric_gradient(value, p.data)
        assert relative_error(numeric, analytic) < TOL, name
        if name.endswith("weight"):
            assert np.abs(analytic).max() > 1e-3, name  # the check is not vacuous
        else:
            assert not np.any(analytic), name  # biases do not enter the input gradient


@pytest.mark.parametrize("kind", sorted(CRITICS))
def test_penalty_equals_naive_computation(kind):
    """Per-sample input gradients by central differences, then the formula."""
    D = CRITICS[kind](3)
    real, fake = batches(3)
    if kind == "mlp":
        real, fake = real[:, :, :4, :4].copy(), fake[:, :, :4, :4].copy()
    x_hat = interpolate(11, real, fake)
    g, _ = numeric_gradient(lambda: float(D.forward(x_hat).sum()), x_hat)  # rows don't mix
    norms = np.sqrt((g.reshape(len(g), -1) ** 2).sum(axis=1))
    naive = 10.0 * np.mean((norms - 1) ** 2)
    penalty = GradientPenalty(10.0, rng=np.random.default_rng(11))
    value = penalty(D, real, fake, None)
    assert isinstance(value, float)
    assert abs(value - naive) <= 1e-7 * max(1.0, abs(naive))
    assert float(penalty.grad_norm) == pytest.approx(norms.mean(), rel=1e-7)


def test_penalty_adds_to_existing_gradients(rng):
    D = conv_critic(5)
    real, fake = batches(5)
    D.zero_grad()
    GradientPenalty(rng=np.random.default_rng(2))(D, real, fake, None)
    alone = {k: p.grad.copy() for k, p in D.named_parameters()}
    before = {k: rng.standard_normal(p.shape) for k, p in D.named_parameters()}
    for k, p in D.named_parameters():
        p.grad[...] = before[k]
    GradientPenalty(rng=np.random.default_rng(2))(D, real, fake, None)
    for k, p in D.named_parameters():
        np.testing.assert_allclose(p.grad, before[k] + alone[k], rtol=1e-12, atol=1e-14)


def test_penalty_is_zero_weight_free_and_scales_with_weight():
    D = mlp_critic(1)
    real, fake = (a[:, :, :4, :4].copy() for a in batches(1))
    D.zero_grad()
    assert GradientPenalty(0.0, rng=np.random.default_rng(0))(D, real, fake) == 0.0
    assert not any(np.any(p.grad) for p in D.parameters())
    one = GradientPenalty(1.0, rng=np.random.default_rng(0))(D, real, fake)
    ten = GradientPenalty(10.0, rng=np.random.default_rng(0))(D, real, fake)
    assert ten == pytest.approx(10 * one, rel=1e-12)


def test_a_zero_input_gradient_gives_a_finite_zero_gradient():
    """With every ReLU off, g = 0: P = weight, and v = dP/dg is taken as 0 (not 0/0)."""
    D = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 1)).to(np.float64)
    D[1].bias.data[...] = -100.0
    real, fake = (a[:, :, :4, :4].copy() for a in batches(0))
    D.zero_grad()
    penalty = GradientPenalty(10.0, rng=np.random.default_rng(0))
    assert penalty(D, real, fake) == 10.0
    assert float(penalty.grad_norm) == 0.0
    assert not any(np.any(p.grad) for p in D.parameters())


def test_float32_stays_float32():
    D = conv_critic(2, np.float32)
    real, fake = batches(2, np.float32)
    penalty = GradientPenalty(rng=np.random.default_rng(4))
    D.zero_grad()
    value = penalty(D, real, fake, None)
    assert type(value) is float
    assert penalty.grad_norm.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in D.parameters())
    D64 = conv_critic(2, np.float64)
    D64.zero_grad()
    value64 = GradientPenalty(rng=np.random.default_rng(4))(D64, *batches(2, np.float64))
    assert value == pytest.approx(value64, rel=1e-4)
    for (name, p), q in zip(D.named_parameters(), D64.parameters()):
        assert relative_error(p.grad.astype(np.float64), q.grad) < 1e-4, name


def test_numba_backend_gives_the_numpy_result():
    pytest.importorskip("numba", reason="the numba backend is not installed")
    results = []
    for name in ("numpy", "numba"):
        with backend.using(name):
            D = conv_critic(6, np.float32)
            D.zero_grad()
            value = GradientPenalty(rng=np.random.default_rng(8))(D, *batches(6, np.float32, 4))
            results.append((value, [p.grad.copy() for p in D.parameters()]))
    (v_np, g_np), (v_nb, g_nb) = results
    assert v_nb == pytest.approx(v_np, rel=1e-5)
    for a, b in zip(g_np, g_nb):
        assert relative_error(b, a) < 1e-5


# ---- what is refused --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "critic",
    [
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)),
        lambda: nn.Sequential(
            nn.Conv2d(1, 2, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Sequential(nn.Conv2d(2, 2, 3), nn.BatchNorm2d(2)),
            nn.Flatten(),
            nn.Linear(8, 1),
        ),
    ],
    ids=["BatchNorm1d", "nested BatchNorm2d"],
)
def test_batchnorm_critics_are_refused_up_front(critic):
    D = critic()
    with pytest.raises(ValueError, match="BatchNorm") as info:
        check_critic(D)
    message = str(info.value)
    assert isinstance(info.value, SecondOrderError)
    assert "couples the samples" in message and "layer 2" in message
    real, fake = batches(0, np.float32)
    for p in D.parameters():
        p.grad[...] = 1
    with pytest.raises(SecondOrderError, match="couples the samples"):
        GradientPenalty(rng=np.random.default_rng(0))(D, real, fake, None)
    assert all((p.grad == 1).all() for p in D.parameters())  # nothing ran
    with pytest.raises(SecondOrderError, match="BatchNorm"):
        D.input_grad(np.ones((3, 1), np.float32))


@pytest.mark.parametrize("layer", [nn.Tanh(), nn.Sigmoid()], ids=["Tanh", "Sigmoid"])
def test_smooth_activations_are_refused(layer):
    D = nn.Sequential(nn.Flatten(), nn.Linear(64, 4), layer, nn.Linear(4, 1))
    with pytest.raises(SecondOrderError, match=rf"layer 2 \({type(layer).__name__}.*not derived"):
        check_critic(D)
    with pytest.raises(SecondOrderError, match="not derived"):
        layer.input_grad(np.ones((2, 4), np.float32))


def test_a_module_without_a_derivation_is_refused():
    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(SecondOrderError, match="critic Custom: no second-order pass"):
        check_critic(Custom())
    with pytest.raises(TypeError, match="Module"):
        check_critic("not a module")  # type: ignore[arg-type]


def test_labels_and_bad_batches_are_refused():
    D = mlp_critic()
    real, fake = (a[:, :, :4, :4].copy() for a in batches(0))
    penalty = GradientPenalty(rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="conditional critic is not derived"):
        penalty(D, real, fake, np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="same shape and dtype"):
        penalty(D, real, fake[:2], None)
    with pytest.raises(TypeError, match="array"):
        penalty(D, real.tolist(), fake, None)
    with pytest.raises(ValueError, match="one value per sample"):
        penalty(nn.Sequential(nn.Flatten(), nn.Linear(16, 2).to(np.float64)), real, fake)
    with pytest.raises(ValueError, match="weight"):
        GradientPenalty(-1.0)


# ---- PyTorch's double backward --------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize("kind", sorted(CRITICS))
def test_penalty_matches_pytorch_double_backward(kind, torch_one_thread):
    torch = torch_one_thread
    D = CRITICS[kind](9)
    real, fake = batches(9)
    if kind == "mlp":
        real, fake = real[:, :, :4, :4].copy(), fake[:, :, :4, :4].copy()
    tD = torch.nn.Sequential(
        *[
            {
                nn.Flatten: lambda m: torch.nn.Flatten(),
                nn.Linear: lambda m: torch.nn.Linear(m.in_features, m.out_features),
                nn.LeakyReLU: lambda m: torch.nn.LeakyReLU(m.negative_slope),
                nn.Conv2d: lambda m: torch.nn.Conv2d(
                    m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding
                ),
            }[type(m)](m)
            for m in D
        ]
    ).double()
    tD.load_state_dict({k: torch.from_numpy(v) for k, v in D.state_dict().items()})
    D.zero_grad()
    value = GradientPenalty(10.0, rng=np.random.default_rng(3))(D, real, fake, None)

    x_hat = torch.from_numpy(interpolate(3, real, fake)).requires_grad_(True)
    (g,) = torch.autograd.grad(tD(x_hat).sum(), x_hat, create_graph=True)
    gp = 10.0 * ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
    grads = torch.autograd.grad(gp, list(tD.parameters()), allow_unused=True)
    assert value == pytest.approx(gp.item(), rel=1e-10)
    for (name, p), tg in zip(D.named_parameters(), grads):
        expected = np.zeros(p.shape) if tg is None else tg.numpy()
        assert relative_error(p.grad, expected) < 1e-10, name
