"""The toy GAN, ``minigan toy`` and ``minigan lab``: determinism, files, argument errors."""

import importlib.util

import numpy as np
import pytest

from minigan import backend
from minigan.cli import main
from minigan.lab.toy_gan import ToyGAN


def weights(module):
    return [p.data.copy() for p in module.parameters()]


def test_same_seed_same_run():
    a, b = (ToyGAN("ring8", rng=np.random.default_rng(7)) for _ in range(2))
    a.train(15)
    b.train(15)
    assert a.log == b.log
    for wa, wb in zip(weights(a.G) + weights(a.D), weights(b.G) + weights(b.D)):
        np.testing.assert_array_equal(wa, wb)
    c = ToyGAN("ring8", rng=np.random.default_rng(8))
    c.train(15)
    assert c.log.value != a.log.value


def test_training_moves_both_players_and_stays_float32():
    gan = ToyGAN("moons", "minimax", rng=np.random.default_rng(0))
    g0, d0 = weights(gan.G), weights(gan.D)
    log = gan.train(5)
    assert len(log.value) == len(log.g_loss) == len(log.d_fake) == 5 == gan.steps_done
    assert all(not np.array_equal(a, b) for a, b in zip(g0 + d0, weights(gan.G) + weights(gan.D)))
    assert gan.generate(3).dtype == np.float32
    assert all(np.isfinite(log.value)) and all(0 < d < 1 for d in log.d_fake)


def test_callback_schedule():
    seen = []
    ToyGAN("gmm1d", rng=np.random.default_rng(0)).train(
        7, lambda g: seen.append(g.steps_done), every=3
    )
    assert seen == [0, 3, 6, 7]


def test_bad_arguments():
    with pytest.raises(ValueError, match="loss"):
        ToyGAN("ring8", "wasserstein")
    with pytest.raises(ValueError, match="unknown toy distribution"):
        ToyGAN("ring9")


@pytest.mark.parametrize(
    "argv",
    [
        ["toy", "--dist", "ring9"],
        ["toy", "--steps", "0"],
        ["toy", "--every", "-1"],
        ["toy", "--loss", "wgan"],
        ["toy", "--lr", "0"],
        ["lab", "modes", "--dists", "moons"],
        ["lab", "nothing"],
        ["toy", "--backend", "tpu"],
        ["lab", "modes", "--backend", "tpu"],
    ],
)
def test_cli_rejects_bad_values(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_toy_command_writes_frames_gif_and_final_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    Image = pytest.importorskip("PIL.Image")
    out = tmp_path / "toy"
    args = ["toy", "--dist", "ring8", "--steps", "6", "--every", "3", "--seed", "1"]
    assert main([*args, "--out", str(out)]) == 0
    frames = sorted(p.name for p in (out / "frames").iterdir())
    assert frames == ["step_000000.png", "step_000003.png", "step_000006.png"]
    with Image.open(out / "toy.gif") as gif:
        assert gif.n_frames == 3
    with Image.open(out / "final.png") as final:
        assert final.size[0] > 1000
    assert "step      6/6" in capsys.readouterr().err
    # the same seed draws the same pictures
    assert main([*args, "--out", str(tmp_path / "again"), "--quiet"]) == 0
    for name in frames:
        with (
            Image.open(out / "frames" / name) as a,
            Image.open(tmp_path / "again/frames" / name) as b,
        ):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_run_toy_in_one_dimension(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("PIL")
    from minigan.lab import run_toy

    result = run_toy("gmm1d", "minimax", steps=4, every=4, out=tmp_path, verbose=False)
    assert [p.name for p in result.frames] == ["step_000000.png", "step_000004.png"]
    assert result.gif.exists() and result.final.exists() and result.gan.steps_done == 4


def test_lab_commands_print_numbers_and_draw(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = str(tmp_path)
    assert main(["lab", "saturation", "--steps", "4", "--warmup", "50", "--out", out]) == 0
    text = capsys.readouterr().out
    assert "G trained with minimax" in text and "ratio minimax/ns" in text
    # the ratio column is ‖minimax‖ / ‖non-saturating‖ (docs/minimax.md's D/(1-D)): below 1
    # while D rejects the fakes
    step0 = next(line for line in text.splitlines() if line.split()[:1] == ["0"])
    d_fake, mm, ns, ratio = map(float, step0.split()[1:])
    assert d_fake < 0.5 and ratio == pytest.approx(mm / ns, rel=1e-2) and ratio < 1
    assert (tmp_path / "saturation_sgd.png").exists()
    assert (
        main(
            [
                "lab",
                "modes",
                "--dists",
                "ring8",
                "--seeds",
                "1",
                "--steps",
                "10",
                "--every",
                "5",
                "--out",
                out,
            ]
        )
        == 0
    )
    assert (tmp_path / "modes.md").read_text().startswith("| data |")
    assert (tmp_path / "modes.png").exists()
    # too short a training misses statement 1's tolerance, and says so with exit code 1
    assert main(["lab", "optimal-d", "--steps", "20", "--out", out]) == 1
    assert "MISSED" in capsys.readouterr().out
    assert (tmp_path / "optimal_d.png").exists()


@pytest.mark.slow
def test_default_toy_run_covers_the_ring():
    """The lab's defaults (3000 steps, non-saturating) learn ring8: most modes, few stray points."""
    from minigan.lab.modes import count_modes

    gan = ToyGAN("ring8", rng=np.random.default_rng(0))
    gan.train(3000)
    cov = count_modes(gan.generate(2000), gan.dist.centers, gan.dist.std)
    assert cov.covered >= 7 and cov.off_mode < 0.25


# ---- --backend ---------------------------------------------------------------------------------


@pytest.fixture
def restore_backend():
    """``--backend`` selects the backend for the process: put the previous one back after."""
    previous = backend.current()
    yield
    backend.use(previous)


def test_toy_and_lab_run_on_numba(tmp_path, restore_backend):
    pytest.importorskip("numba")
    pytest.importorskip("matplotlib")
    pytest.importorskip("PIL")
    out = tmp_path / "toy"
    argv = ["toy", "--steps", "4", "--every", "2", "--no-frames", "--quiet", "--out", str(out)]
    assert main([*argv, "--backend", "numba"]) == 0
    assert backend.current() == "numba"
    assert (out / "final.png").exists() and (out / "toy.gif").exists()
    lab = ["lab", "modes", "--dists", "ring8", "--seeds", "1", "--steps", "4", "--every", "2"]
    assert main([*lab, "--backend", "numba", "--out", str(tmp_path / "lab")]) == 0
    assert (tmp_path / "lab" / "modes.md").exists()


@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        (["toy", "--steps", "2", "--quiet"], "minigan toy"),
        (["lab", "modes", "--dists", "ring8", "--seeds", "1", "--steps", "2"], "minigan lab"),
    ],
)
def test_cupy_backend_without_cupy_is_a_one_line_error(
    argv, prog, tmp_path, capsys, restore_backend
):
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed: the cupy backend can run here")
    out = tmp_path / "out"
    assert main([*argv, "--backend", "cupy", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: ")
    assert "minigan[cuda]" in lines[0] and "Traceback" not in captured.err
    assert captured.out == "" and not out.exists()
