"""Training the GAN family: every objective trains and resumes exactly, n_critic, clipping,
conditional runs, and networks of the caller's own on colour images of any size."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import nn
from minigan.cli import main
from minigan.config import TrainConfig
from minigan.objectives import OBJECTIVES
from minigan.progress import read_metrics
from minigan.sampling import load_generator
from minigan.train import Trainer

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (48, 28, 28), dtype=np.uint8)
LABELS = RNG.integers(0, 3, 48).astype(np.uint8)
MODEL = {"wgan-gp": "mlp"}  # the critic of the gradient penalty has no BatchNorm


def config(loss: str = "nonsaturating", **fields) -> TrainConfig:  # type: ignore[no-untyped-def]
    values = {"data": "random", "model": MODEL.get(loss, "mlp"), "batch": 8, "epochs": 2}
    return TrainConfig(loss=loss, **{**values, "z_dim": 8, **fields})


def without_seconds(records):  # type: ignore[no-untyped-def]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def same_arrays(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("loss", list(OBJECTIVES))
def test_every_objective_trains_reports_its_metrics_and_resumes_exactly(
    loss: str, tmp_path
) -> None:
    c = config(loss)
    whole = Trainer(c, tmp_path / "whole", images=IMAGES, quiet=True, pictures=False)
    whole.fit()
    per_epoch = 6 // c.n_critic
    assert whole.steps_per_epoch == per_epoch and whole.iteration == 2 * per_epoch
    assert whole.opt_D.t == c.n_critic * whole.opt_G.t  # n_critic D steps per G step
    keys = set(whole.history[-1]) - {"iteration", "epoch", "seconds"}
    objective = OBJECTIVES[loss]
    expected = {"loss_D", "loss_G"}
    expected |= {"D_x", "D_G_z"} if objective.probabilities else set()
    expected |= {"wasserstein"} if objective.critic else set()
    expected |= {"penalty"} if loss == "wgan-gp" else set()
    assert keys == expected
    assert all(np.isfinite(v) for r in whole.history for v in r.values())

    parts = Trainer(c, tmp_path / "parts", images=IMAGES, quiet=True, pictures=False)
    parts.fit(max_iters=1)
    resumed = Trainer.resume(tmp_path / "parts", images=IMAGES, quiet=True, pictures=False)
    resumed.fit()
    assert without_seconds(resumed.history) == without_seconds(whole.history)
    for a, b in ((whole.G, resumed.G), (whole.D, resumed.D), (whole.opt_D, resumed.opt_D)):
        assert same_arrays(a.state_dict(), b.state_dict())


def test_wgan_keeps_the_critic_clipped_and_its_estimate_is_minus_its_loss() -> None:
    trainer = Trainer(config("wgan", clip=0.02), images=IMAGES, quiet=True)
    trainer.fit()
    assert max(float(np.abs(p.data).max()) for p in trainer.D.parameters()) <= 0.02
    assert type(trainer.opt_D).__name__ == "RMSprop"
    for record in trainer.history:
        assert record["wasserstein"] == pytest.approx(-record["loss_D"], rel=1e-5, abs=1e-7)


def test_two_time_scales_reach_the_optimizers() -> None:
    trainer = Trainer(config(lr_g=1e-4, lr_d=4e-4, optimizer="rmsprop"), images=IMAGES, quiet=True)
    assert (trainer.opt_G.lr, trainer.opt_D.lr) == (1e-4, 4e-4)
    assert type(trainer.opt_G).__name__ == "RMSprop"


def test_too_few_batches_for_n_critic_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="fewer than the 7 D steps"):
        Trainer(config(n_critic=7), images=IMAGES, quiet=True)


# ---- conditional --------------------------------------------------------------------------------
def test_conditional_run_trains_resumes_exactly_and_samples_by_class(tmp_path) -> None:
    c = config(model="dcgan28", num_classes=3, z_dim=4)
    whole = Trainer(c, tmp_path / "whole", images=IMAGES, labels=LABELS, quiet=True)
    whole.fit()
    grid_labels = whole.fixed_labels
    assert grid_labels is not None and whole.grid_columns == 64 // 3
    assert (grid_labels == np.repeat(np.arange(3), 64 // 3)).all()  # one row per class
    assert (tmp_path / "whole" / "samples" / "epoch_002.png").exists()
    parts = Trainer(c, tmp_path / "parts", images=IMAGES, labels=LABELS, quiet=True)
    parts.fit(max_iters=5)
    resumed = Trainer.resume(tmp_path / "parts", images=IMAGES, labels=LABELS, quiet=True)
    resumed.fit()
    assert without_seconds(resumed.history) == without_seconds(whole.history)
    assert same_arrays(whole.G.state_dict(), resumed.G.state_dict())

    G, saved = load_generator(tmp_path / "whole")
    assert saved.num_classes == 3
    z = np.random.default_rng(1).standard_normal((2, 4), dtype=np.float32)
    a = G(z, np.array([0, 0]))
    b = G(z, np.array([2, 2]))
    assert not np.allclose(a, b)  # the label reaches G's output
    np.testing.assert_array_equal(G(z, np.array([0, 0])), a)


def test_conditional_labels_must_fit_the_classes() -> None:
    with pytest.raises(ValueError, match=r"labels in \[0, 2\)"):
        Trainer(config(num_classes=2), images=IMAGES, labels=LABELS, quiet=True)


def test_cli_conditional_run_and_sample_by_label(tmp_path) -> None:
    run = tmp_path / "run"
    argv = ["train", "--dry-run", "--conditional", "--model", "mlp", "--batch", "8"]
    assert main([*argv, "--max-iters", "3", "--out", str(run), "--quiet"]) == 0
    assert load_generator(run)[1].num_classes == 10
    assert (
        main(["sample", str(run), "--label", "3", "--n", "5", "--out", str(tmp_path / "three.npy")])
        == 0
    )
    assert np.load(tmp_path / "three.npy").shape == (5, 28, 28)
    assert main(["sample", str(run), "--label", "all", "--out", str(tmp_path / "all.png")]) == 0
    assert (tmp_path / "all.png").exists()
    assert main(["sample", str(run), "--label", "10", "--out", str(tmp_path / "x.npy")]) == 2


# ---- the caller's own networks, colour images of any size ---------------------------------------
def small_colour_gan(z_dim: int, rng: np.random.Generator) -> tuple[nn.Module, nn.Module]:
    """G: z -> (3, 32, 32) by two transposed convolutions; D: two strided convolutions."""
    G = nn.Sequential(
        nn.Linear(z_dim, 16 * 8 * 8, rng=rng),
        nn.ReLU(),
        nn.Reshape(16, 8, 8),
        nn.ConvTranspose2d(16, 8, 4, 2, 1, rng=rng),  # (8, 16, 16)
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 3, 4, 2, 1, rng=rng),  # (3, 32, 32)
        nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(3, 8, 4, 2, 1, rng=rng),  # (8, 16, 16)
        nn.LeakyReLU(0.2),
        nn.Conv2d(8, 16, 4, 2, 1, rng=rng),  # (16, 8, 8)
        nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(16 * 8 * 8, 1, rng=rng),
    )
    return G, D


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_own_networks_train_on_colour_32x32_images(layout: str, tmp_path) -> None:
    rng = np.random.default_rng(3)
    # a synthetic colour set: a red square on blue, at random places
    images = np.zeros((32, 32, 32, 3), np.uint8)
    images[..., 2] = 200
    for img, (r, c) in zip(images, rng.integers(0, 24, (32, 2))):
        img[r : r + 8, c : c + 8] = (255, 0, 0)
    data = images if layout == "NHWC" else images.transpose(0, 3, 1, 2)
    G, D = small_colour_gan(6, np.random.default_rng(0))
    c = TrainConfig(data="squares", batch=8, epochs=2, z_dim=6, loss="hinge")
    trainer = Trainer(c, tmp_path / "run", images=data, G=G, D=D, quiet=True, n_samples=9)
    history = trainer.fit()
    assert trainer.config.model == "custom" and trainer.config.image_shape == (3, 32, 32)
    assert len(history) == 8 and all(np.isfinite(r["loss_D"]) for r in history)
    assert trainer.sample(4).shape == (4, 3, 32, 32)
    from PIL import Image

    with Image.open(tmp_path / "run" / "samples" / "epoch_002.png") as grid:
        assert grid.mode == "RGB" and grid.size == (2 * (3 * 34 + 2),) * 2
    with Image.open(tmp_path / "run" / "training.gif") as gif:
        assert gif.n_frames >= 2
    # resuming needs the same networks again
    with pytest.raises(Exception, match="pass the same G and D"):
        Trainer.resume(tmp_path / "run", images=data)
    G2, D2 = small_colour_gan(6, np.random.default_rng(9))
    resumed = Trainer.resume(tmp_path / "run", {"epochs": 3}, images=data, G=G2, D=D2, quiet=True)
    assert same_arrays(resumed.G.state_dict(), trainer.G.state_dict())
    assert len(resumed.fit()) == 12
    assert len(read_metrics(tmp_path / "run" / "metrics.jsonl")) == 12


def test_images_that_do_not_fit_the_networks_fail_clearly() -> None:
    G, D = small_colour_gan(6, np.random.default_rng(0))
    c = TrainConfig(data="x", batch=8, z_dim=6, image_shape=(3, 32, 32))
    with pytest.raises(ValueError, match=r"images have shape \(C, H, W\) = \(1, 28, 28\)"):
        Trainer(c, images=IMAGES, G=G, D=D, quiet=True)
    with pytest.raises(ValueError, match="give both G and D"):
        Trainer(c, images=IMAGES, G=G, quiet=True)


# ---- the command line ---------------------------------------------------------------------------
@pytest.mark.parametrize("loss", list(OBJECTIVES))
def test_cli_trains_every_loss_and_prints_how(loss: str, tmp_path, capsys) -> None:
    argv = ["train", "--dry-run", "--model", MODEL.get(loss, "mlp"), "--batch", "8", "--loss", loss]
    assert main([*argv, "--max-iters", "2", "--out", str(tmp_path / "run"), "--no-pictures"]) == 0
    start = capsys.readouterr().out.splitlines()[0]
    assert f"{loss} loss" in start
    assert ("RMSprop" in start) == (loss == "wgan") and ("5 D steps per G step" in start) == (
        loss.startswith("wgan")
    )
    assert (
        main(["sample", str(tmp_path / "run"), "--n", "3", "--out", str(tmp_path / "s.npy")]) == 0
    )


def test_cli_refuses_wgan_gp_on_a_batchnorm_critic(tmp_path, capsys) -> None:
    argv = ["train", "--dry-run", "--loss", "wgan-gp", "--model", "dcgan28"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "dcgan28" in err and "BatchNorm" in err and "dcgan28-nobn" in err
    assert not (tmp_path / "run").exists()


# ---- evaluation during training -----------------------------------------------------------------
def test_evaluations_go_into_the_records_without_touching_the_runs_randomness(tmp_path) -> None:
    from minigan.metrics import Evaluator

    real = np.random.default_rng(5).integers(0, 256, (60, 28, 28), dtype=np.uint8)
    evaluator = Evaluator(reference=real[:30], floor_images=real[30:], cache=None)
    options = {"images": IMAGES, "quiet": True, "eval_n": 24, "evaluator": evaluator}
    c = config(epochs=1)
    scored = Trainer(c, tmp_path / "run", eval_every=4, **options).fit()
    plain = Trainer(c, **{**options, "evaluator": None}).fit()
    assert [r["iteration"] for r in scored if "fid" in r] == [4, 6]  # every 4 and the epoch's end
    metrics = {"fid", "kid", "coverage", "precision", "classes_covered", "max_class_share"}
    assert metrics <= set(scored[3]) and all(r["fid"] >= 0 for r in scored if "fid" in r)
    drop = lambda records: [  # noqa: E731
        {k: v for k, v in r.items() if k in {"loss_D", "loss_G", "D_x", "D_G_z"}} for r in records
    ]
    assert drop(scored) == drop(plain)
    assert read_metrics(tmp_path / "run" / "metrics.jsonl")[3]["fid"] == scored[3]["fid"]
    assert (tmp_path / "run" / "training.png").exists()


def test_cli_refuses_evaluation_of_images_the_classifier_cannot_score(tmp_path, capsys) -> None:
    from minigan.data import write_idx

    data = tmp_path / "colour"
    data.mkdir()
    write_idx(data / "train-images-idx3-ubyte", np.zeros((16, 8, 8, 3), np.uint8))
    write_idx(data / "train-labels-idx1-ubyte", np.zeros(16, np.uint8))
    argv = ["train", "--data", str(data), "--batch", "8", "--eval-every", "2"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert "28x28 grayscale" in capsys.readouterr().err
