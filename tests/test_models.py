"""The model factories: any image shape, the BatchNorm-free DCGAN-28 critic, the conditional
models (label embedding in G, projection D) checked against finite differences, and today's
unconditional models unchanged weight for weight."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from minigan import gradcheck, models, nn
from minigan.gradcheck import check_module
from tests.devices import cupy_runs_here

SHAPES = [(1, 28, 28), (3, 32, 32), (3, 16, 24)]


def digest(model: nn.Module) -> str:
    """A hash of the state_dict: names, dtypes, shapes and bytes, in order."""
    h = hashlib.sha256()
    for key, value in model.state_dict().items():
        h.update(key.encode())
        h.update(str(value.dtype).encode())
        h.update(str(value.shape).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()[:16]


# Recorded from the factories as they were before image_shape and num_classes existed:
# build(name, z_dim, dtype, np.random.default_rng(seed), init) -> (digest(G), digest(D)).
BEFORE = [
    ("dcgan28", 100, np.float32, 0, None, "001c7860fdf0f234", "b137e890903568f0"),
    ("dcgan28", 100, np.float32, 0, "pytorch", "4cecea7fe98f5a21", "c8dc6058668c59cd"),
    ("mlp", 100, np.float32, 0, None, "79995d061e381caf", "b4df0acfcc850554"),
    ("mlp", 100, np.float32, 0, "dcgan", "bfcbbbca91ae5c41", "6bde12522ff94626"),
    ("dcgan28", 16, np.float64, 3, None, "546a90c9a76052e2", "60a9fc102943ad91"),
    ("mlp", 4, np.float32, 5, None, "efbc5d2ed19e368a", "f9cc739993490b44"),
]


@pytest.mark.parametrize("name, z_dim, dtype, seed, init, g_digest, d_digest", BEFORE)
def test_unconditional_defaults_are_unchanged(name, z_dim, dtype, seed, init, g_digest, d_digest):
    G, D = models.build(name, z_dim, dtype, np.random.default_rng(seed), init)
    assert (digest(G), digest(D)) == (g_digest, d_digest)
    assert isinstance(G, nn.Sequential) and isinstance(D, nn.Sequential)
    explicit = models.build(
        name, z_dim, dtype, np.random.default_rng(seed), init, image_shape=(1, 28, 28)
    )
    assert (digest(explicit[0]), digest(explicit[1])) == (g_digest, d_digest)


def test_models_are_listed():
    assert models.MODELS == ("dcgan28", "dcgan28-nobn", "mlp", "vae28")
    assert models.GAN_MODELS == ("dcgan28", "dcgan28-nobn", "mlp")
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of"):
        models.build("resnet")


@pytest.mark.parametrize("name", models.GAN_MODELS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("num_classes", [None, 10])
def test_shapes(name, shape, num_classes, rng):
    G, D = models.build(name, 8, rng=rng, image_shape=shape, num_classes=num_classes)
    z = rng.standard_normal((3, 8), dtype=np.float32)
    args = () if num_classes is None else (np.array([0, 9, 4]),)
    x = G(z, *args)
    assert x.shape == (3, *shape) and x.dtype == np.float32
    assert float(np.abs(x).max()) <= 1
    out = D(x, *args)
    assert out.shape == (3, 1) and out.dtype == np.float32
    assert D.backward(np.ones_like(out)).shape == x.shape
    dz = G.backward(np.ones_like(x))
    assert dz.shape == z.shape and dz.dtype == np.float32


def test_dcgan_layers_follow_the_image_shape():
    G, D = models.dcgan28(image_shape=(3, 16, 24))
    assert G[0].out_features == 128 * 4 * 6 and G[3].shape == (128, 4, 6)
    assert G[7].out_channels == 3 and D[0].in_channels == 3
    assert D[-1].in_features == 128 * 4 * 6
    G, D = models.mlp_gan(image_shape=(3, 16, 24))
    assert G[3].out_features == 3 * 16 * 24 and G[5].shape == (3, 16, 24)
    assert D[1].in_features == 3 * 16 * 24


@pytest.mark.parametrize(
    "name, shape, match",
    [
        ("dcgan28", (1, 30, 28), r"dcgan28 needs image height and width divisible by 4"),
        ("dcgan28-nobn", (3, 32, 18), r"divisible by 4 .* got image_shape \(3, 32, 18\)"),
        ("mlp", (28, 28), r"three positive integers \(C, H, W\), got \(28, 28\)"),
        ("mlp", (1, 0, 28), r"three positive integers"),
        ("mlp", (1, 28.0, 28), r"three positive integers"),
    ],
)
def test_bad_image_shapes_give_clear_errors(name, shape, match):
    with pytest.raises(ValueError, match=match):
        models.build(name, image_shape=shape)


def test_mlp_takes_any_image_size(rng):
    G, D = models.build("mlp", 4, rng=rng, image_shape=(2, 5, 7))
    assert D(G(rng.standard_normal((2, 4), dtype=np.float32))).shape == (2, 1)


def test_nobn_critic_has_no_batchnorm_and_the_same_generator():
    G, D = models.build("dcgan28-nobn", rng=np.random.default_rng(0))
    assert not any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in D.modules())
    kinds = [type(m).__name__ for m in D]
    assert kinds == ["Conv2d", "LeakyReLU", "Conv2d", "LeakyReLU", "Flatten", "Linear"]
    G_bn, _ = models.build("dcgan28", rng=np.random.default_rng(0))
    assert digest(G) == digest(G_bn)
    _, D_c = models.build("dcgan28-nobn", num_classes=10)
    assert not any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in D_c.modules())
    if hasattr(D, "second_order_refusal"):  # the passes a gradient penalty runs
        assert D.second_order_refusal() is None
        assert models.build("dcgan28")[1].second_order_refusal() is not None


# ---- conditional models ---------------------------------------------------------------------


def test_conditional_structure_and_names():
    G, D = models.build("dcgan28", z_dim=100, num_classes=10, rng=np.random.default_rng(0))
    assert isinstance(G, nn.ConditionalGenerator) and isinstance(D, nn.ProjectionDiscriminator)
    assert G.embed.weight.shape == (10, 10)  # K values: the label must not take over from z
    assert G.body[0].in_features == 100 + 10
    assert D.embed.weight.shape == (10, 128 * 7 * 7) and D.linear.in_features == 128 * 7 * 7
    assert list(G.state_dict())[:3] == ["embed.weight", "body.0.weight", "body.0.bias"]
    assert list(D.state_dict())[:2] == ["features.0.weight", "features.0.bias"]
    assert list(D.state_dict())[-3:] == ["linear.weight", "linear.bias", "embed.weight"]
    assert models.build("mlp", z_dim=100, num_classes=3)[0].embed.weight.shape == (3, 3)


def test_embedding_initialisation():
    """G's label embedding N(0, 1); D's projection on the scale of the head it adds to."""
    G, D = models.build("dcgan28", num_classes=50, rng=np.random.default_rng(0))  # 2500 values
    assert abs(G.embed.weight.data.std() - 1) < 0.1
    assert abs(D.embed.weight.data.std() - 0.02) < 0.001
    assert abs(D.linear.weight.data.std() - 0.02) < 0.002
    G, D = models.build("mlp", num_classes=50, rng=np.random.default_rng(0))  # "pytorch"
    assert abs(G.embed.weight.data.std() - 1) < 0.1
    bound = 1 / np.sqrt(256)
    assert np.abs(D.embed.weight.data).max() <= bound
    assert D.embed.weight.data.std() > 0.8 * bound / np.sqrt(3)


def test_conditional_build_is_seeded():
    a = models.build("mlp", 4, num_classes=3, rng=np.random.default_rng(7))
    b = models.build("mlp", 4, num_classes=3, rng=np.random.default_rng(7))
    assert [digest(m) for m in a] == [digest(m) for m in b]


@pytest.mark.parametrize("name", models.GAN_MODELS)
def test_the_label_changes_the_output(name, rng):
    G, D = models.build(name, 8, rng=rng, image_shape=(1, 8, 8), num_classes=5)
    G.eval()  # running statistics: each image depends on its own noise and label alone
    z = rng.standard_normal((4, 8), dtype=np.float32)
    y = np.array([0, 1, 2, 3])
    x = G(z, y)
    other = G(z, (y + 1) % 5)
    assert all(np.abs(x[i] - other[i]).max() > 1e-4 for i in range(4))
    np.testing.assert_array_equal(G(z, y), x)  # the same noise and label: the same image
    out, out_other = D(x, y), D(x, (y + 1) % 5)
    assert np.all(np.abs(out - out_other) > 1e-7)


@pytest.mark.parametrize("name", models.GAN_MODELS)
def test_same_noise_and_label_same_image_in_a_training_batch(name, rng):
    G, _ = models.build(name, 8, rng=rng, image_shape=(1, 8, 8), num_classes=5)
    z = rng.standard_normal((5, 8), dtype=np.float32)
    z[4] = z[1]
    x = G(z, np.array([0, 3, 2, 1, 3]))  # rows 1 and 4: the same noise and label
    np.testing.assert_array_equal(x[1], x[4])
    x = G(z, np.array([0, 3, 2, 1, 4]))  # the same noise, another label
    assert np.abs(x[1] - x[4]).max() > 1e-4


@pytest.mark.parametrize("name", models.GAN_MODELS)
def test_conditional_gradients_match_finite_differences(name, monkeypatch):
    """Every parameter gradient of the conditional G and D, G's noise gradient and D's image
    gradient, in float64 on 1x8x8 images (arrays over 64 values along 8 random directions)."""
    monkeypatch.setattr(gradcheck, "ELEMENTWISE_LIMIT", 64)
    rng = np.random.default_rng(11)
    G, D = models.build(name, 3, np.float64, rng, image_shape=(1, 8, 8), num_classes=3)
    y = np.array([0, 2, 2, 1])  # a repeated label
    for module, x in ((G, rng.standard_normal((4, 3))), (D, rng.standard_normal((4, 1, 8, 8)))):
        report = check_module(nn.WithLabels(module, y), x)
        names = {"input"} | {f"module.{k}" for k, _ in module.named_parameters()}
        assert set(report.errors) == names
        assert report.passed, {k: v for k, v in report.errors.items() if v > 1e-6}


@pytest.mark.parametrize("name", ["dcgan28", "mlp"])
def test_backward_params_adds_the_same_gradients(name, rng):
    G, D = models.build(name, 4, np.float64, rng, image_shape=(1, 8, 8), num_classes=3)
    z, y = rng.standard_normal((3, 4)), np.array([1, 0, 1])
    for module, x in ((G, z), (D, G(z, y))):
        dy = rng.standard_normal(module(x, y).shape)
        module.zero_grad()
        module.backward(dy)
        full = {k: p.grad.copy() for k, p in module.named_parameters()}
        module.zero_grad()
        module(x, y)
        assert module.backward_params(dy) is None
        for k, p in module.named_parameters():
            np.testing.assert_allclose(p.grad, full[k], rtol=1e-12, atol=1e-12, err_msg=k)


def test_inputs_are_not_mutated_and_gradients_are_fresh(rng):
    G, D = models.build("dcgan28", 4, rng=rng, image_shape=(1, 8, 8), num_classes=3)
    z, y = rng.standard_normal((3, 4), dtype=np.float32), np.array([2, 0, 1])
    saved = z.copy(), y.copy()
    x = G(z, y)
    dx_in = rng.standard_normal(x.shape).astype(np.float32)
    dz = G.backward(dx_in.copy())
    out = D(x, y)
    dout = np.ones_like(out)
    dx = D.backward(dout)
    np.testing.assert_array_equal(z, saved[0])
    np.testing.assert_array_equal(y, saved[1])
    np.testing.assert_array_equal(dout, 1)
    assert dz.flags.c_contiguous and not np.shares_memory(dz, dx_in)
    assert not np.shares_memory(dx, dout)


def test_module_interface_works_as_for_sequential(rng, tmp_path):
    G, D = models.build("dcgan28", 4, rng=rng, image_shape=(1, 8, 8), num_classes=3)
    G2, D2 = models.build("dcgan28", 4, rng=rng, image_shape=(1, 8, 8), num_classes=3)
    for a, b in ((G, G2), (D, D2)):
        b.load_state_dict(a.state_dict())
        assert digest(a) == digest(b)
        assert len(a.parameters()) == len(list(a.named_parameters()))
        a.eval()
        assert not any(m.training for m in a.modules())
        a.train()
        assert all(m.training for m in a.modules())
    z, y = rng.standard_normal((2, 4), dtype=np.float32), np.array([0, 2])
    D(G(z, y), y)
    D.backward(np.ones((2, 1), np.float32))
    assert D.embed.weight.grad.any()
    D.zero_grad()
    assert not any(p.grad.any() for p in D.parameters())
    G.to(np.float64)
    assert G.dtype == np.float64 and G(z.astype(np.float64), y).dtype == np.float64
    with pytest.raises(TypeError, match="expected float64 input"):
        G(z, y)
    with pytest.raises(KeyError, match="missing keys"):
        D2.load_state_dict({k: v for k, v in D.state_dict().items() if k != "embed.weight"})


@pytest.mark.parametrize("bad", [1, 0, -3])
def test_too_few_classes(bad):
    with pytest.raises(ValueError, match=f"num_classes must be an integer >= 2, got {bad}"):
        models.build("mlp", num_classes=bad)


@pytest.mark.parametrize("bad", [2.0, "10", True])
def test_num_classes_must_be_an_integer(bad):
    with pytest.raises(TypeError, match="num_classes must be an integer >= 2"):
        models.build("dcgan28", num_classes=bad)


@pytest.mark.parametrize(
    "labels, error, match",
    [
        (
            np.array([0, 5]),
            ValueError,
            r"labels must be in \[0, 4\] \(5 classes\), got values from 0",
        ),
        (np.array([-1, 2]), ValueError, r"labels must be in \[0, 4\]"),
        (np.array([0.0, 1.0]), TypeError, r"labels must be integers in \[0, 4\], got dtype float"),
        (np.array([[0], [1]]), ValueError, r"expected labels of shape \(2,\) \(N,\), got shape"),
        (np.array([0, 1, 2]), ValueError, r"expected labels of shape \(2,\)"),
        ([0, 1], TypeError, r"expected an integer array of labels, got list"),
    ],
)
def test_bad_labels_give_clear_errors(labels, error, match, rng):
    G, D = models.build("mlp", 4, rng=rng, image_shape=(1, 4, 4), num_classes=5)
    z = rng.standard_normal((2, 4), dtype=np.float32)
    x = G(z, np.array([0, 1]))
    with pytest.raises(error, match=match):
        G(z, labels)
    with pytest.raises(error, match=match):
        D(x, labels)


def test_bad_noise_gives_a_clear_error(rng):
    G, _ = models.build("mlp", 4, rng=rng, num_classes=5)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4\)"):
        G(np.zeros((2, 5), np.float32), np.array([0, 1]))


def test_gradcheck_cases_pass():
    for seed in range(3):
        rng = np.random.default_rng(seed)
        for module, x, name in nn.conditional.gradcheck_cases(rng, 2):
            report = check_module(module, x, name=name)
            assert report.passed, (name, report.errors)


@pytest.mark.skipif(not cupy_runs_here(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("name", models.GAN_MODELS)
def test_conditional_cupy_agrees_with_numpy(name):
    import cupy

    def run(G, D, z, y):
        x = G(z, y)
        out = D(x, y)
        dx = D.backward(np.ones_like(out))
        G.backward(dx)
        grads = {f"G.{k}": p.grad for k, p in G.named_parameters()}
        grads |= {f"D.{k}": p.grad for k, p in D.named_parameters()}
        return {"x": x, "out": out, "dx": dx} | grads

    rng = np.random.default_rng(0)
    z, y = rng.standard_normal((8, 16), dtype=np.float32), rng.integers(0, 10, 8)
    cpu = run(*models.build(name, 16, rng=np.random.default_rng(1), num_classes=10), z, y)
    G, D = models.build(name, 16, rng=np.random.default_rng(1), num_classes=10)
    gpu = run(G.to("cupy"), D.to("cupy"), cupy.asarray(z), cupy.asarray(y))
    for key, expected in cpu.items():
        got = cupy.asnumpy(gpu[key])
        scale = max(float(np.abs(expected).max()), 1e-30)
        assert float(np.abs(got - expected).max()) / scale < 1e-4, key
