"""The variational autoencoder: its terms' gradients against finite differences (and PyTorch),
float32 throughout, training, pictures, exact resume, sample/evaluate on a VAE run, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan import models, optim
from minigan.cli import main
from minigan.config import TrainConfig
from minigan.functional.vae import (
    bernoulli_nll,
    kl_standard_normal,
    reparameterise,
    reparameterise_backward,
)
from minigan.gradcheck import numeric_gradient, relative_error
from minigan.metrics import evaluator
from minigan.progress import read_metrics
from minigan.serialization import load_file
from minigan.train import Trainer
from minigan.vae import (
    RECONSTRUCTIONS,
    elbo_gradients,
    encode_mean,
    negative_elbo,
    reconstruction_grid,
    reconstruction_images,
    vae_step,
)

TOL = 1e-6


def blobs(n: int, seed: int = 0, size: int = 28) -> np.ndarray:
    """``n`` uint8 images (n, size, size) of one bright blob each: data a VAE can learn."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    c = rng.integers(size // 4, 3 * size // 4, (n, 2, 1, 1))
    return (255 * np.exp(-((yy - c[:, 0]) ** 2 + (xx - c[:, 1]) ** 2) / 12)).astype(np.uint8)


def gaussian_args(seed: int, n: int, k: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    mu, eps = rng.uniform(-2, 2, (n, k)), rng.standard_normal((n, k))
    return mu, rng.uniform(-3, 2, (n, k)), eps  # logvar bounded: exp stays moderate


shapes = st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(0, 2**31 - 1))


# ---- the terms against finite differences (float64) ------------------------------------------
@settings(deadline=None, max_examples=25)
@given(shapes)
def test_reparameterise_gradient(shape):
    n, k, seed = shape
    mu, logvar, eps = gaussian_args(seed, n, k)
    dz = np.random.default_rng(seed + 1).standard_normal((n, k))
    dmu, dlogvar = reparameterise_backward(dz, logvar, eps)
    f = lambda: float(np.vdot(reparameterise(mu, logvar, eps), dz))  # noqa: E731
    assert relative_error(numeric_gradient(f, mu)[0], dmu) < TOL
    assert relative_error(numeric_gradient(f, logvar)[0], dlogvar) < TOL
    assert not np.shares_memory(dmu, dz)


@settings(deadline=None, max_examples=25)
@given(shapes)
def test_kl_value_and_gradient(shape):
    n, k, seed = shape
    mu, logvar, _ = gaussian_args(seed, n, k)
    value, dmu, dlogvar = kl_standard_normal(mu, logvar)
    # the closed form against the definition, per dimension: log(s_p/s_q) + (s_q^2 + mu^2)/2 - 1/2
    expected = (-logvar / 2 + (np.exp(logvar) + mu**2) / 2 - 0.5).sum() / n
    assert value == pytest.approx(expected, rel=1e-12) and value >= 0
    f = lambda: float(kl_standard_normal(mu, logvar)[0])  # noqa: E731
    assert relative_error(numeric_gradient(f, mu)[0], dmu) < TOL
    assert relative_error(numeric_gradient(f, logvar)[0], dlogvar) < TOL


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_bernoulli_nll_value_and_gradient(n, c, s, seed):
    rng = np.random.default_rng(seed)
    logits, x = rng.uniform(-6, 6, (n, c, s, s)), rng.uniform(-1, 1, (n, c, s, s))
    value, dlogits = bernoulli_nll(logits, x)
    p, q = (x + 1) / 2, 1 / (1 + np.exp(-logits))
    assert value == pytest.approx(-(p * np.log(q) + (1 - p) * np.log1p(-q)).sum() / n, rel=1e-10)
    f = lambda: float(bernoulli_nll(logits, x)[0])  # noqa: E731
    assert relative_error(numeric_gradient(f, logits)[0], dlogits) < TOL


def small_vae(dtype=np.float64, z_dim: int = 3, shape=(1, 8, 8), seed: int = 0):
    return models.build(
        "vae28", z_dim, dtype, np.random.default_rng(seed), init="pytorch", image_shape=shape
    )


@settings(deadline=None, max_examples=4)
@given(st.integers(2, 4), st.sampled_from([(1, 8, 8), (2, 4, 8)]), st.integers(0, 2**31 - 1))
def test_whole_negative_elbo_gradient(n, shape, seed):
    """Every parameter of vae28 (decoder and encoder) against central differences of the
    negative ELBO, eps fixed; large arrays along random directions."""
    G, D = small_vae(shape=shape, seed=seed % 1000)
    rng = np.random.default_rng(seed)
    x, eps = rng.uniform(-1, 1, (n, *shape)), rng.standard_normal((n, 3))
    record = elbo_gradients(G, D, x, eps)
    assert float(record["loss"]) == pytest.approx(float(record["recon"] + record["kl"]))
    f = lambda: negative_elbo(G, D, x, eps)  # noqa: E731
    for net in (G, D):
        for name, p in net.named_parameters():
            analytic = p.grad.copy()
            if p.data.size <= 300:
                error = relative_error(numeric_gradient(f, p.data)[0], analytic)
            else:
                slopes, R = numeric_gradient(f, p.data, directions=3, rng=rng)
                error = relative_error(slopes, R @ analytic.ravel())
            assert error < TOL, name


def test_gradcheck_suite_has_the_vae_rows():
    from minigan.gradcheck import suite

    rows = {r.name: r for r in suite(seed=3) if r.name.startswith("VAE")}
    assert len(rows) == 4 and all(r.passed for r in rows.values())
    assert len(rows["VAE negative ELBO"].errors) == 18  # every parameter of both networks


# ---- float32 stays float32 -----------------------------------------------------------------
def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    mu, logvar, eps = (rng.standard_normal((3, 4), dtype=np.float32) for _ in range(3))
    assert reparameterise(mu, logvar, eps).dtype == np.float32
    assert {a.dtype for a in reparameterise_backward(mu, logvar, eps)} == {np.dtype(np.float32)}
    _, dmu, dlogvar = kl_standard_normal(mu, logvar)
    assert dmu.dtype == dlogvar.dtype == np.float32
    x = rng.uniform(-1, 1, (3, 1, 4, 4)).astype(np.float32)
    assert bernoulli_nll(x * 3, x)[1].dtype == np.float32
    G, D = small_vae(np.float32)
    opt_G, opt_D = optim.Adam(G.parameters(), 1e-3), optim.Adam(D.parameters(), 1e-3)
    noise = lambda n: rng.standard_normal((n, 3), dtype=np.float32)  # noqa: E731
    record = vae_step(
        G, D, opt_G, opt_D, rng.uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32), noise
    )
    assert all(np.isfinite(float(v)) for v in record.values())
    for p in [*G.parameters(), *D.parameters()]:
        assert p.data.dtype == p.grad.dtype == np.float32
    assert G(noise(2)).dtype == encode_mean(D, x.repeat(2, 2).repeat(2, 3)).dtype == np.float32


def test_bad_inputs_are_clear_errors():
    a = np.zeros((2, 3))
    with pytest.raises(ValueError, match="one non-empty shape"):
        reparameterise(a, a, np.zeros((2, 4)))
    with pytest.raises(TypeError, match="floating dtype"):
        kl_standard_normal(a, a.astype(np.float32))
    with pytest.raises(ValueError, match="bernoulli_nll"):
        bernoulli_nll(np.zeros((2, 4)), np.zeros((2, 5)))
    G, D = small_vae()
    with pytest.raises(ValueError, match="noise eps"):
        elbo_gradients(G, D, np.zeros((2, 1, 8, 8)), np.zeros((2, 4)))
    with pytest.raises(TypeError, match="no loss on D's outputs"):
        TrainConfig(model="vae28").objective().g_loss(np.zeros((2, 1)))


def test_encode_mean_is_eval_mode_and_per_image():
    _, D = small_vae(np.float32)
    x = np.random.default_rng(0).uniform(-1, 1, (5, 1, 8, 8)).astype(np.float32)
    mu = encode_mean(D, x)
    assert mu.shape == (5, 3) and D.training  # the mode is restored
    np.testing.assert_allclose(encode_mean(D, x[2:3]), mu[2:3], rtol=1e-5, atol=1e-6)


def test_decoder_is_the_bernoulli_mean_in_minus_one_to_one():
    G, _ = small_vae()
    z = np.random.default_rng(0).standard_normal((3, 3))
    logits = G.logits.forward(z)
    np.testing.assert_allclose(G.forward(z), 2 / (1 + np.exp(-logits)) - 1, atol=1e-12)


def test_decoder_backward_against_finite_differences_without_mutation():
    from minigan.gradcheck import check_module

    G, _ = small_vae()
    z = np.random.default_rng(1).standard_normal((3, 3))
    report = check_module(G, z)
    assert report.passed, report.errors
    dy = np.random.default_rng(2).standard_normal((3, 1, 8, 8))
    saved_z, saved_dy = z.copy(), dy.copy()
    G.forward(z)
    dz = G.backward(dy)
    assert np.array_equal(z, saved_z) and np.array_equal(dy, saved_dy)
    assert dz.shape == z.shape and not np.shares_memory(dz, dy)


# ---- PyTorch ------------------------------------------------------------------------------
def test_elbo_gradient_matches_pytorch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    G, D = small_vae(np.float64, z_dim=4, shape=(1, 8, 8), seed=1)
    enc = tnn.Sequential(
        tnn.Conv2d(1, 64, 4, 2, 1), tnn.LeakyReLU(0.2), tnn.Conv2d(64, 128, 4, 2, 1),
        tnn.BatchNorm2d(128), tnn.LeakyReLU(0.2), tnn.Flatten(), tnn.Linear(512, 8),
    ).double()  # fmt: skip
    dec = tnn.Sequential(
        tnn.Linear(4, 512), tnn.BatchNorm1d(512), tnn.ReLU(), tnn.Unflatten(1, (128, 2, 2)),
        tnn.ConvTranspose2d(128, 64, 4, 2, 1), tnn.BatchNorm2d(64), tnn.ReLU(),
        tnn.ConvTranspose2d(64, 1, 4, 2, 1),
    ).double()  # fmt: skip
    for ours, theirs in ((D, enc), (G.logits, dec)):
        theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(2)
    x, eps = rng.uniform(-1, 1, (4, 1, 8, 8)), rng.standard_normal((4, 4))
    record = elbo_gradients(G, D, x, eps)
    tx, teps = torch.from_numpy(x), torch.from_numpy(eps)
    mu, logvar = enc(tx).chunk(2, dim=1)
    logits = dec(mu + torch.exp(logvar / 2) * teps)
    recon = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, (tx + 1) / 2, reduction="sum"
    ) / len(x)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum() / len(x)
    (recon + kl).backward()
    assert float(record["recon"]) == pytest.approx(recon.item(), rel=1e-10)
    assert float(record["kl"]) == pytest.approx(kl.item(), rel=1e-10)
    for ours, theirs in ((D, enc), (G.logits, dec)):
        grads = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            assert relative_error(grads[name].grad.numpy(), p.grad) < 1e-9, name


# ---- training -------------------------------------------------------------------------------
def test_training_lowers_the_loss_and_draws_reconstructions(tmp_path):
    config = TrainConfig(data="blobs", model="vae28", batch=8, epochs=4, z_dim=8)
    assert (config.loss, config.lr_g, config.lr_d, config.betas) == (
        "elbo",
        1e-3,
        1e-3,
        (0.9, 0.999),
    )
    trainer = Trainer(config, tmp_path / "run", images=blobs(48), quiet=True, log_every=100)
    history = trainer.fit()
    first, last = (np.mean([r["loss"] for r in history[i : i + 6]]) for i in (0, 18))
    assert last < 0.8 * first
    assert {"loss", "recon", "kl", "epoch", "iteration"} <= set(history[-1])
    assert not {"loss_D", "loss_G"} & set(history[-1])
    grid = tmp_path / "run" / "samples" / "reconstructions_epoch_004.png"
    assert grid.exists() and (tmp_path / "run" / "training.png").exists()
    from PIL import Image

    side = 2 * (8 * (28 + 2) + 2)  # 8 rows of 8 (4 of images, 4 of reconstructions), scale 2
    assert Image.open(grid).size == (side, side)
    rows = reconstruction_grid(trainer.G, trainer.D, trainer.recon_images)
    assert rows.shape == (2 * RECONSTRUCTIONS, 1, 28, 28)
    np.testing.assert_array_equal(rows[:8], trainer.recon_images[:8])  # row 1: the images
    np.testing.assert_array_equal(
        trainer.recon_images, reconstruction_images(blobs(48)[:, None], 0)
    )


def train(out, *extra):
    argv = ["train", "--dry-run", "--model", "vae28", "--batch", "4", "--z-dim", "8"]
    return main([*argv, "--out", str(out), "--quiet", "--no-pictures", *extra])


def without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_stop_and_resume_equals_an_uninterrupted_run(tmp_path):
    argv = ["--epochs", "2", "--checkpoint-every", "0"]
    assert train(tmp_path / "whole", *argv) == 0
    assert train(tmp_path / "parts", *argv, "--max-iters", "5") == 0
    assert main(["train", "--resume", str(tmp_path / "parts"), "--quiet", "--no-pictures"]) == 0
    whole = read_metrics(tmp_path / "whole" / "metrics.jsonl")
    parts = read_metrics(tmp_path / "parts" / "metrics.jsonl")
    assert len(whole) == 16 and without_seconds(parts) == without_seconds(whole)
    for name in ("G", "D", "opt_G", "opt_D"):
        a = load_file(tmp_path / "whole" / "checkpoint" / f"{name}.safetensors")
        b = load_file(tmp_path / "parts" / "checkpoint" / f"{name}.safetensors")
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_sample_and_evaluate_a_vae_run(tmp_path, monkeypatch, capsys):
    real = blobs(40)
    monkeypatch.setattr(evaluator, "load_dataset", lambda *a, **k: (real, np.zeros(40, np.uint8)))
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "cache"))
    assert train(tmp_path / "run", "--max-iters", "2") == 0
    assert (
        main(["sample", str(tmp_path / "run"), "--n", "6", "--out", str(tmp_path / "s.npy")]) == 0
    )
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape[0] == 6 and samples.dtype == np.uint8
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--n", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 20 and np.isfinite(report["fid"])


# ---- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": "vae28", "loss": "hinge"}, "--model vae28 cannot train with --loss hinge"),
        ({"model": "dcgan28", "loss": "elbo"}, "--model dcgan28 cannot train with --loss elbo"),
        ({"model": "vae28", "num_classes": 10}, "no --conditional"),
        ({"model": "vae28", "n_critic": 2}, "--n-critic 1"),
    ],
)
def test_config_refusals(fields, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**fields)


def test_model_refuses_a_conditional_vae():
    with pytest.raises(ValueError, match="vae28 is unconditional"):
        models.build("vae28", num_classes=10)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--loss", "hinge"], "--model vae28 cannot train with --loss hinge"),
        (["--conditional"], "no --conditional"),
    ],
)
def test_train_command_refusals_exit_2(tmp_path, capsys, flags, message):
    assert train(tmp_path / "run", *flags) == 2
    err = capsys.readouterr().err
    assert err.startswith("minigan train: error: ") and message in err
    assert not (tmp_path / "run").exists()
