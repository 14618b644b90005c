"""Pictures: the grid layout, the PNG, the training plot and the GIF."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from minigan.viz import make_grid, plot_training, save_gif, save_image_grid

Image = pytest.importorskip("PIL.Image")


def test_grid_places_image_i_at_row_i_over_nrow_and_column_i_mod_nrow():
    images = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((1, 1, 3, 2), np.uint8)
    grid = make_grid(images, nrow=2, padding=1, pad_value=99)
    assert grid.shape == (3 * 4 + 1, 2 * 3 + 1)
    for i in range(5):
        r, c = divmod(i, 2)
        assert (grid[1 + 4 * r : 4 * r + 4, 1 + 3 * c : 3 * c + 3] == i).all()
    assert (grid[9:12, 4:6] == 99).all()  # the empty sixth cell
    assert (grid[0] == 99).all() and (grid[:, -1] == 99).all()


def test_grid_maps_minus_one_to_black_and_one_to_white():
    images = np.stack([-np.ones((1, 28, 28)), np.ones((1, 28, 28))]).astype(np.float32)
    grid = make_grid(images, nrow=2, padding=0)
    assert grid.dtype == np.uint8 and (grid[:, :28] == 0).all() and (grid[:, 28:] == 255).all()
    with pytest.raises(ValueError, match=r"expected \(N, 1, H, W\), \(N, 3, H, W\)"):
        make_grid(np.zeros((2, 2, 28, 28)))


def test_colour_grid_keeps_each_channel_in_its_place():
    images = np.zeros((3, 3, 4, 5), np.uint8)
    for i in range(3):
        images[i, i] = 255  # image i is pure red, green or blue
    grid = make_grid(images, nrow=3, padding=1, pad_value=0)
    assert grid.shape == (1 + 4 + 1, 1 + 3 * (5 + 1), 3)
    for i in range(3):
        cell = grid[1:5, 1 + i * 6 : 1 + i * 6 + 5]
        assert (cell[..., i] == 255).all() and (np.delete(cell, i, axis=-1) == 0).all()


def test_png_holds_the_grid(tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, (10, 1, 28, 28)).astype(np.float32)
    path = save_image_grid(images, tmp_path / "g.png", nrow=5, scale=2)
    with Image.open(path) as png:
        pixels = np.asarray(png)
    assert pixels.shape == (2 * 62, 2 * 152)
    assert np.array_equal(pixels[::2, ::2], make_grid(images, nrow=5))
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]  # no temporary file left


def test_training_plot(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    metrics = [
        {"iteration": i, "loss_D": 1 + rng.random(), "loss_G": 2 * rng.random(),
         "D_x": rng.random(), "D_G_z": rng.random()}
        for i in range(1, 120)
    ]  # fmt: skip
    with Image.open(plot_training(metrics, tmp_path / "p.png")) as png:
        assert png.size == (1000, 380)
    with pytest.raises(ValueError, match="no metrics"):
        plot_training([], tmp_path / "q.png")


def test_gif_from_arrays_and_files(tmp_path):
    frames = [np.full((8, 8), v, np.uint8) for v in (0, 128, 255)]
    with Image.open(save_gif(frames, tmp_path / "a.gif")) as gif:
        assert gif.n_frames == 3 and gif.info["loop"] == 0
    paths = [save_image_grid(np.full((4, 1, 28, 28), v), tmp_path / f"{v}.png") for v in (-1, 1)]
    with Image.open(save_gif(paths, tmp_path / "b.gif")) as gif:
        assert gif.n_frames == 2
    with pytest.raises(ValueError, match="no frames"):
        save_gif([], tmp_path / "c.gif")


def test_missing_pillow_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match=r"pip install 'minigan\[plot\]'"):
        save_image_grid(np.zeros((1, 1, 28, 28)), tmp_path / "g.png")
