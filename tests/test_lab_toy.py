"""The toy GAN, ``minigan toy`` and ``minigan lab``: determinism, files, argument errors, every
objective, and the generator-loss figure."""

import importlib.util
import math

import numpy as np
import pytest

from minigan import backend
from minigan.cli import main
from minigan.lab.games import TOY_SETTINGS, generator_loss_curves, readout
from minigan.lab.toy_gan import ToyGAN
from minigan.objectives import OBJECTIVES, get_objective
from minigan.optim import Adam, RMSprop


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
    with pytest.raises(ValueError, match="n_critic"):
        ToyGAN("ring8", "wgan", n_critic=0)
    with pytest.raises(ValueError, match="lr"):
        ToyGAN("ring8", lr=0.0)


# ---- every objective ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_every_objective_trains_with_its_settings_and_records(name):
    steps, settings = 3, TOY_SETTINGS[name]
    gan = ToyGAN("ring8", name, rng=np.random.default_rng(0), batch=32)
    assert gan.objective is OBJECTIVES[name] and gan.n_critic == settings["n_critic"]
    assert type(gan.opt_d) is {"adam": Adam, "rmsprop": RMSprop}[settings["optimizer"]]
    assert gan.opt_g.lr == gan.opt_d.lr == settings["lr"]
    if settings["optimizer"] == "adam":
        assert gan.opt_d.betas == tuple(settings["betas"])
    g0, d0 = weights(gan.G), weights(gan.D)
    log = gan.train(steps)
    # n_critic D updates and one G update per iteration
    assert gan.opt_d.t == steps * gan.n_critic and gan.opt_g.t == steps
    assert len(log.value) == len(log.g_loss) == len(log.d_fake) == steps
    assert len(log.penalty) == (steps if name == "wgan-gp" else 0)
    numbers = log.value + log.g_loss + log.d_fake + log.penalty
    assert all(isinstance(v, float) and math.isfinite(v) for v in numbers)
    assert all(p >= 0 for p in log.penalty)
    if OBJECTIVES[name].probabilities:  # D(G(z)), a probability
        assert all(0 < d < 1 for d in log.d_fake)
    else:  # what D said is its score: the G loss is a function of it
        g_of = {"lsgan": None, "hinge": -1, "wgan": -1, "wgan-gp": -1}[name]
        if g_of is not None:
            np.testing.assert_allclose(log.g_loss, [g_of * d for d in log.d_fake], rtol=1e-5)
    # every weight moves (D's output bias may not: the hinge and critic games' D gradients on
    # it, +-1/N per sample, cancel between a real and a fake batch)
    moved = [not np.array_equal(a, b) for a, b in zip(g0 + d0, weights(gan.G) + weights(gan.D))]
    assert all(m for m, w in zip(moved, g0 + d0) if w.ndim == 2) and all(moved[: len(g0)])
    assert gan.generate(3).dtype == np.float32
    if name == "wgan":  # the clipping ran after every D update
        assert max(float(np.abs(w).max()) for w in weights(gan.D)) <= OBJECTIVES[name].clip


def test_critic_value_is_the_wasserstein_estimate():
    """For WGAN-GP, ``value`` leaves the penalty out: the critic's E f(x) - E f(G(z))."""
    gan = ToyGAN("ring8", "wgan-gp", rng=np.random.default_rng(3), batch=16, n_critic=1)
    gan.train(1)
    real_then_fake = np.random.default_rng(3)
    again = ToyGAN("ring8", "wgan-gp", rng=real_then_fake, batch=16, n_critic=1)
    real, fake = again.real(16), again.generate(16)
    f = again.scores  # the same critic before its first update
    # float32 means of nearby scores: equal to float32 rounding
    assert gan.log.value[0] == pytest.approx(f(real).mean() - f(fake).mean(), abs=1e-6)


def test_overrides_and_an_objective_value():
    gan = ToyGAN("ring8", get_objective("wgan", clip=0.05), lr=3e-4, n_critic=2, batch=16)
    assert (gan.loss, gan.objective.clip, gan.opt_d.lr, gan.n_critic) == ("wgan", 0.05, 3e-4, 2)
    gan = ToyGAN("ring8", "wgan-gp", optimizer="rmsprop", batch=16)
    assert type(gan.opt_g) is RMSprop


def test_readouts_name_and_place_each_game():
    bce = readout("nonsaturating")
    assert bce.kind == "probability" and bce.value == "V(D,G)" and bce.fake == "D(G(z))"
    assert bce.value_eq == pytest.approx(-math.log(4)) and bce.g_eq == pytest.approx(math.log(2))
    assert readout("minimax").g_eq == pytest.approx(-math.log(2))
    assert (readout("lsgan").value_eq, readout("lsgan").g_eq) == (-0.25, 0.125)
    assert (readout("hinge").value_eq, readout("hinge").g_eq) == (-2.0, None)
    for name in ("wgan", "wgan-gp"):
        critic = readout(name)
        assert critic.kind == "critic" and critic.value_eq == 0.0 and critic.g_eq is None
        assert "D(x)" not in critic.heat + critic.fake + critic.value_label


# ---- the generator losses against D's output (``minigan lab losses``) --------------------------


def test_generator_loss_curves_show_saturation_and_its_alternatives():
    o = np.linspace(-12.0, 12.0, 97)
    c = generator_loss_curves(outputs=o)
    g = {name: np.abs(grad) for name, grad in c.grads.items()}
    far_fake = o < -8
    # minimax: the gradient vanishes as D rejects the fake (a -> -inf); non-saturating: -> 1
    assert g["minimax"][0] < 1e-5 and np.all(np.diff(g["minimax"]) > 0)
    assert np.all(g["nonsaturating"][far_fake] > 0.999) and g["nonsaturating"][0] > 1 - 1e-5
    # the exact ratio of the BCE pair: minimax / non-saturating = e^a
    np.testing.assert_allclose(g["minimax"] / g["nonsaturating"], np.exp(o), rtol=1e-10)
    # lsgan: linear in the distance from its target c = 1
    np.testing.assert_allclose(g["lsgan"], np.abs(o - 1), atol=1e-12)
    # hinge, wgan, wgan-gp: constant, whatever D says
    for name in ("hinge", "wgan", "wgan-gp"):
        np.testing.assert_array_equal(g[name], np.ones_like(o))
    # the per-sample losses are those of the objectives' g_loss on single samples
    assert c.losses["nonsaturating"][48] == pytest.approx(math.log(2))  # o = 0
    assert c.groups() == [["nonsaturating"], ["minimax"], ["lsgan"], ["hinge", "wgan", "wgan-gp"]]
    with pytest.raises(ValueError, match="outputs"):
        generator_loss_curves(outputs=np.zeros((2, 2)))


def test_lab_losses_prints_and_draws(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["lab", "losses", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[3:9]}
    assert list(rows) == list(OBJECTIVES)
    assert float(rows["minimax"][0]) < 1e-3 and float(rows["nonsaturating"][0]) == 1
    assert (tmp_path / "generator_losses.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv",
    [
        ["toy", "--dist", "ring9"],
        ["toy", "--steps", "0"],
        ["toy", "--every", "-1"],
        ["toy", "--loss", "wasserstein"],
        ["toy", "--lr", "0"],
        ["toy", "--n-critic", "0"],
        ["lab", "modes", "--losses", "wasserstein"],
        ["lab", "losses", "--seed", "1"],
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


def test_toy_command_with_wgan_gp_writes_its_output(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    Image = pytest.importorskip("PIL.Image")
    out = tmp_path / "wgan-gp"
    argv = ["toy", "--loss", "wgan-gp", "--steps", "4", "--every", "2", "--batch", "32"]
    assert main([*argv, "--n-critic", "2", "--lr", "5e-4", "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "frames").iterdir()) == [
        "step_000000.png",
        "step_000002.png",
        "step_000004.png",
    ]
    with Image.open(out / "toy.gif") as gif:
        assert gif.n_frames == 3
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out / "final.png") and (out / "final.png").exists()
    last = captured.err.splitlines()[-2]  # the critic's numbers, not a probability's
    assert last.startswith("step      4/4  W est.") and "f(G(z))" in last and "penalty" in last
    assert "V(D,G)" not in captured.err and "D(G(z))" not in captured.err


@pytest.mark.parametrize(
    ("dist", "name"), [("gmm1d", "lsgan"), ("gmm1d", "wgan"), ("moons", "hinge")]
)
def test_run_toy_draws_scores(tmp_path, dist, name):
    pytest.importorskip("matplotlib")
    pytest.importorskip("PIL")
    from minigan.lab import run_toy

    result = run_toy(dist, name, steps=2, every=2, out=tmp_path, verbose=False, batch=32)
    assert result.final.exists() and result.gan.loss == name


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
