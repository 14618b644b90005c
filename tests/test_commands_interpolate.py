"""``minigan interpolate``: strips and GIFs along seeds, labels and VAE encodings; every bad
input one line and exit status 2."""

from __future__ import annotations

import numpy as np
import pytest

from minigan.cli import main
from minigan.config import TrainConfig
from minigan.latent import path, seed_noise, slerp
from minigan.nn import ConditionalGenerator
from minigan.sampling import generate, load_generator
from minigan.train import Trainer

PIL = pytest.importorskip("PIL.Image")

IMAGES = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
LABELS = np.arange(16) % 3
CELL = 28 + 2  # an image and its border (minigan.viz.make_grid's padding 2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny unconditional run and a conditional one (3 classes), two iterations each."""
    root = tmp_path_factory.mktemp("interpolate")
    plain = TrainConfig(data="random", model="mlp", batch=8, z_dim=8)
    Trainer(plain, root / "plain", images=IMAGES, quiet=True, pictures=False).fit(max_iters=2)
    cond = TrainConfig(data="random", model="mlp", batch=8, z_dim=8, num_classes=3)
    Trainer(
        cond, root / "cond", images=IMAGES, labels=LABELS, quiet=True, pictures=False
    ).fit(max_iters=2)  # fmt: skip
    return {"plain": root / "plain", "cond": root / "cond"}


def interpolate(*argv: str) -> int:
    return main(["interpolate", *map(str, argv)])


def pixels(file) -> np.ndarray:
    return np.asarray(PIL.open(file))


def test_two_seeds_make_a_strip_of_steps_images(runs, tmp_path, capsys):
    out = tmp_path / "strip.png"
    assert interpolate(runs["plain"], "--seeds", 1, 2, "--steps", 7, "--out", out) == 0
    strip = pixels(out)
    assert strip.shape == (CELL + 2, 7 * CELL + 2) and strip.dtype == np.uint8
    assert "wrote a strip of 7 images" in capsys.readouterr().out
    # the images are G's on the slerp path through the seeds' noise (the first of minigan sample)
    G, config = load_generator(runs["plain"])
    z = path(np.stack([seed_noise(s, config.z_dim) for s in (1, 2)]), 7, "slerp")
    expected = (np.clip(np.rint((generate(G, z) + 1) * 127.5), 0, 255)).astype(np.uint8)
    for i in range(7):
        cell = strip[2 : 2 + 28, 2 + i * CELL : 2 + i * CELL + 28]
        assert np.abs(cell.astype(int) - expected[i, 0]).max() <= 1
    sample_out = tmp_path / "first.npy"
    assert (
        main(["sample", str(runs["plain"]), "--seed", "1", "--n", "3", "--out", str(sample_out)])
        == 0
    )
    assert np.abs(np.load(sample_out)[0].astype(int) - expected[0, 0]).max() <= 1


def test_lerp_and_slerp_differ_and_scale_enlarges(runs, tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    assert interpolate(runs["plain"], "--seeds", 3, 4, "--mode", "lerp", "--out", a) == 0
    assert interpolate(runs["plain"], "--seeds", 3, 4, "--out", b) == 0
    assert interpolate(runs["plain"], "--seeds", 3, 4, "--out", c, "--scale", 2) == 0
    assert pixels(a).shape == pixels(b).shape == (CELL + 2, 10 * CELL + 2)  # default 10 steps
    assert not np.array_equal(pixels(a), pixels(b))
    assert np.array_equal(pixels(a)[:, :CELL], pixels(b)[:, :CELL])  # same endpoints
    assert pixels(c).shape == (2 * (CELL + 2), 2 * (10 * CELL + 2))


def test_three_seeds_make_a_gif_walking_the_path(runs, tmp_path, capsys):
    out = tmp_path / "walk.gif"
    assert interpolate(runs["plain"], "--seeds", 1, 2, 3, "--steps", 4, "--out", out) == 0
    gif = PIL.open(out)
    assert gif.n_frames == 2 * 3 + 1 and gif.size == (CELL + 2, CELL + 2)
    closed = tmp_path / "loop.gif"
    assert interpolate(runs["plain"], "--seeds", 1, 2, 3, 1, "--steps", 4, "--out", closed) == 0
    assert PIL.open(closed).n_frames == 3 * 3  # the last frame, the first again, dropped
    assert "wrote a GIF of 9 images" in capsys.readouterr().out


def test_label_morph_reaches_the_images(runs, tmp_path):
    out = tmp_path / "morph.png"
    argv = ["--labels", 0, 2, "--seeds", 5, "--steps", 5, "--scale", 1]
    assert interpolate(runs["cond"], *argv, "--out", out) == 0
    strip = pixels(out)
    cells = [strip[2:30, 2 + i * CELL : 30 + i * CELL].astype(int) for i in range(5)]
    G, config = load_generator(runs["cond"])
    z = np.repeat(seed_noise(5, config.z_dim)[None], 2, axis=0)
    ends = np.rint((generate(G, z, labels=np.array([0, 2])) + 1) * 127.5)[:, 0]
    assert np.abs(cells[0] - ends[0]).max() <= 1 and np.abs(cells[4] - ends[1]).max() <= 1
    assert np.abs(cells[0] - cells[4]).max() > 1  # the label changes the image
    # the middle image is G on the blended embedding (slerp, the default)
    e = G.embedding(np.array([0, 2]))
    middle = G.forward_embedded(z[:1], slerp(e[0], e[1], 0.5)[None])
    assert np.abs(cells[2] - np.rint((middle[0, 0] + 1) * 127.5)).max() <= 1


def test_label_morph_in_lerp(runs, tmp_path):
    out = tmp_path / "morph.png"
    argv = ["--labels", 0, 2, "--steps", 3, "--mode", "lerp", "--out", out]
    assert interpolate(runs["cond"], *argv) == 0
    G, config = load_generator(runs["cond"])
    e = G.embedding(np.array([0, 2]))
    middle = G.forward_embedded(seed_noise(0, config.z_dim)[None], (e[:1] + e[1:]) / 2)
    cell = pixels(out)[2:30, 2 + CELL : 30 + CELL].astype(int)
    assert np.abs(cell - np.rint((middle[0, 0] + 1) * 127.5)).max() <= 1


def test_conditional_seeds_path_uses_one_label(runs, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert interpolate(runs["cond"], "--seeds", 1, 2, "--steps", 3, "--out", a) == 0
    assert interpolate(runs["cond"], "--seeds", 1, 2, "--steps", 3, "--label", 2, "--out", b) == 0
    G, config = load_generator(runs["cond"])
    z = seed_noise(1, config.z_dim)[None]
    for file, label in ((a, 0), (b, 2)):
        first = np.rint((generate(G, z, labels=np.array([label])) + 1) * 127.5)[0, 0]
        assert np.abs(pixels(file)[2:30, 2:30].astype(int) - first).max() <= 1


def test_forward_embedded_matches_forward_and_checks_its_input(runs):
    G, _ = load_generator(runs["cond"])
    assert isinstance(G, ConditionalGenerator)
    z = np.random.default_rng(0).standard_normal((4, 8), dtype=np.float32)
    y = np.array([0, 1, 2, 1])
    np.testing.assert_allclose(G.forward_embedded(z, G.embedding(y)), G(z, y), atol=1e-6)
    with pytest.raises(ValueError, match="4 noise vectors but 3 embeddings"):
        G.forward_embedded(z, G.embedding(y[:3]))
    with pytest.raises(TypeError, match="float32"):
        G.forward_embedded(z, G.embedding(y).astype(np.float64))
    with pytest.raises(ValueError, match="classes"):
        G.embedding(np.array([3]))
    G.forward_embedded(z, G.embedding(y))
    with pytest.raises(RuntimeError, match="backward"):
        G.backward(np.ones((4, 1, 28, 28), np.float32))  # after forward_embedded: no labels


@pytest.mark.parametrize(
    "run, argv, message",
    [
        ("plain", ["--seeds", "1", "--out", "x.png"], "two or more --seeds"),
        ("plain", ["--out", "x.png"], "two or more --seeds"),
        ("plain", ["--seeds", "1", "2", "--out", "x.gif"], "written as .png"),
        ("plain", ["--seeds", "1", "2", "3", "--out", "x.png"], "written as .gif"),
        ("plain", ["--seeds", "1", "2", "--out", "x.npy"], "written as .png"),
        ("plain", ["--labels", "0", "1", "--out", "x.png"], "--labels needs a conditional run"),
        ("plain", ["--seeds", "1", "2", "--label", "0", "--out", "x.png"], "--label needs a"),
        ("plain", ["--images", "0", "1", "--out", "x.png"], "--images needs a VAE run"),
        ("cond", ["--labels", "0", "3", "--out", "x.png"], "class 3 is not one of"),
        ("cond", ["--seeds", "1", "2", "--label", "5", "--out", "x.png"], "class 5"),
        ("cond", ["--labels", "0", "--out", "x.png"], "two or more values"),
        ("cond", ["--labels", "0", "1", "--seeds", "1", "2", "--out", "x.png"], "one --seeds"),
        ("cond", ["--labels", "0", "1", "--label", "1", "--out", "x.png"], "--label is the"),
        ("cond", ["--labels", "0", "1", "--images", "0", "1", "--out", "x.png"], "not both"),
        ("missing", ["--seeds", "1", "2", "--out", "x.png"], "no such run directory"),
        ("empty", ["--seeds", "1", "2", "--out", "x.png"], "no checkpoint here"),
        ("plain", ["--seeds", "1", "2", "--steps", "10" * 8, "--out", "x.png"], "of memory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runs, tmp_path, capsys, run, argv, message):
    where = runs.get(run, tmp_path / run)
    if run == "empty":  # a directory without a checkpoint
        where.mkdir()
    argv = [str(tmp_path / a) if a.startswith("x.") else a for a in argv]
    assert interpolate(where, *argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("minigan interpolate: error:")
    assert message in captured.err and captured.out == ""
    assert not list(tmp_path.glob("x.*"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "1", "2", "--steps", "1"], "--steps: expected an integer of at least 2"),
        (["--seeds", "-1", "2"], "--seeds: expected a non-negative integer seed"),
        (["--seeds", "1", "2", "--mode", "cubic"], "--mode: invalid choice"),
        (["--seeds", "1", "2", "--fps", "0"], "--fps: expected a frame rate"),
    ],
)
def test_bad_flag_values_are_argparse_errors(runs, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        interpolate(runs["plain"], *argv, "--out", tmp_path / "x.png")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("minigan interpolate: error: argument") and message in err[-1]


def test_unwritable_out_is_refused(runs, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        interpolate(runs["plain"], "--seeds", 1, 2, "--out", blocker / "x.png")
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        interpolate(runs["plain"], "--seeds", 1, 2, "--out", tmp_path)  # a directory


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A tiny VAE run on a dry run's random images (its data: no data set needed)."""
    out = tmp_path_factory.mktemp("interpolate_vae") / "vae"
    config = TrainConfig(data="fake", model="vae28", loss="elbo", batch=8, z_dim=4)
    Trainer(config, out, quiet=True, pictures=False).fit(max_iters=2)
    return out


def test_vae_images_path_runs_through_the_encodings(vae_run, tmp_path, capsys):
    from minigan.checkpoint import load_checkpoint, load_module_state
    from minigan.models import build
    from minigan.training_data import load_images
    from minigan.vae import encode_mean

    out = tmp_path / "vae.png"
    assert interpolate(vae_run, "--images", 3, 7, "--steps", 4, "--out", out) == 0
    assert "images 3 7 of the dry run's random images, slerp" in capsys.readouterr().out
    strip = pixels(out).astype(int)
    assert strip.shape == (CELL + 2, 4 * CELL + 2)
    G, config = load_generator(vae_run)
    _, D = build("vae28", config.z_dim, image_shape=config.image_shape)
    load_module_state(D, load_checkpoint(vae_run, parts=("D",)).tensors["D"], "D")
    x = load_images(config)[0][[3, 7]].astype(np.float32) / np.float32(127.5) - 1
    mu = encode_mean(D, x)
    z = path(mu, 4, "slerp")
    expected = np.rint((generate(G, z) + 1) * 127.5)[:, 0]
    for i in range(4):
        assert np.abs(strip[2:30, 2 + i * CELL : 30 + i * CELL] - expected[i]).max() <= 1
    gif = tmp_path / "vae.gif"
    assert interpolate(vae_run, "--images", 3, 7, 9, "--steps", 3, "--out", gif) == 0
    assert "wrote a GIF of 5 images" in capsys.readouterr().out
    assert 1 <= PIL.open(gif).n_frames <= 5  # Pillow merges identical frames (2 iterations)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--images", "0", "64"], "image 64 is not one of the 64"),
        (["--images", "0", "1", "--seeds", "2"], "drop --seeds"),
        (["--images", "0"], "two or more values"),
        (["--images", "0", "1", "--label", "1"], "--label is the"),
    ],
)
def test_vae_bad_input(vae_run, tmp_path, capsys, argv, message):
    assert interpolate(vae_run, *argv, "--out", tmp_path / "x.png") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (tmp_path / "x.png").exists()
