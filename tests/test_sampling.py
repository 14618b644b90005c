"""``minigan sample`` and the sampling API: formats, seeds, and eval-mode independence."""

from __future__ import annotations

import numpy as np
import pytest

from minigan.cli import main
from minigan.config import TrainConfig
from minigan.sampling import generate, load_generator, sample
from minigan.train import Trainer

IMAGES = np.random.default_rng(0).integers(0, 256, (32, 28, 28), dtype=np.uint8)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A dcgan28 run of 4 iterations, so BatchNorm's running statistics are not the defaults."""
    out = tmp_path_factory.mktemp("sampling") / "run"
    config = TrainConfig(data="random", model="dcgan28", batch=8, z_dim=16)
    Trainer(config, out, images=IMAGES, quiet=True, pictures=False).fit()
    return out


def test_npy_is_uint8_n_28_28_and_seeded(run_dir, tmp_path):
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        argv = ["sample", str(run_dir), "--n", "5", "--seed", seed]
        assert main([*argv, "--out", str(tmp_path / f"{name}.npy")]) == 0
    a, b, c = (np.load(tmp_path / f"{name}.npy") for name in "abc")
    assert a.dtype == np.uint8 and a.shape == (5, 28, 28)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("target", ["run", "checkpoint", "G.safetensors"])
def test_png_grid_from_a_run_a_checkpoint_or_its_generator_file(run_dir, tmp_path, target):
    from PIL import Image

    source = {"run": run_dir, "checkpoint": run_dir / "checkpoint"}.get(
        target, run_dir / "checkpoint" / "G.safetensors"
    )
    out = tmp_path / "grid.png"
    assert main(["sample", str(source), "--n", "6", "--nrow", "3", "--out", str(out)]) == 0
    with Image.open(out) as grid:
        assert grid.size == (3 * 30 + 2, 2 * 30 + 2) and grid.mode == "L"


def test_eval_mode_sample_is_independent_of_its_batch(run_dir):
    G, config = load_generator(run_dir)
    z = np.random.default_rng(3).standard_normal((16, config.z_dim), dtype=np.float32)
    in_batch = generate(G, z)
    alone = generate(G, z[5:6])
    assert np.allclose(in_batch[5:6], alone, atol=1e-5)
    assert not np.allclose(generate(G, z, batch_stats=True)[5:6], alone, atol=1e-3)


def test_batch_stats_leave_the_running_statistics_and_mode_alone(run_dir):
    G, config = load_generator(run_dir)
    before = {k: v.copy() for k, v in G.state_dict().items()}
    x = sample(G, 8, config.z_dim, rng=0, batch_stats=True)
    assert x.shape == (8, 1, 28, 28) and not G.training
    after = G.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_batch_stats_flag(run_dir, tmp_path, capsys):
    out = tmp_path / "b.npy"
    assert main(["sample", str(run_dir), "--n", "4", "--batch-stats", "--out", str(out)]) == 0
    assert np.load(out).shape == (4, 28, 28)
    assert main(["sample", str(run_dir), "--n", "1", "--batch-stats", "--out", str(out)]) == 2
    assert "--batch-stats needs --n of at least 2" in capsys.readouterr().err


def test_bad_inputs(run_dir, tmp_path, capsys):
    assert main(["sample", str(run_dir), "--out", str(tmp_path / "x.jpg")]) == 2
    assert "must end in .npy or .png" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nope"), "--out", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert "no such run directory" in err and "Traceback" not in err
    assert not (tmp_path / "x.npy").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", str(run_dir), "--n", "0", "--out", str(tmp_path / "x.npy")])
    assert exit_info.value.code == 2
    assert "argument --n: expected a positive integer, got '0'" in capsys.readouterr().err
