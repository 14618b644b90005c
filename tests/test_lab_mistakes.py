"""``minigan lab mistakes``: each classic mistake measured against the correct version, on short
runs (the numbers of docs/mistakes.md come from the command's full runs)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan.cli import main
from minigan.functional.activations import sigmoid
from minigan.gradcheck import numeric_gradient
from minigan.lab import mistakes, mistakes_toy
from minigan.lab.mistakes import (
    MISTAKES,
    batchnorm_sampling,
    bce_overflow,
    first_float32,
    naive_bce_terms,
    run_mistake,
    stable_bce_terms,
)

F32 = np.float32


@pytest.fixture(scope="module")
def overflow() -> mistakes.BCEResult:
    return bce_overflow(np.linspace(-120, 120, 241, dtype=F32))


def test_naive_bce_is_inf_from_the_stated_logit_and_stable_one_finite(overflow):
    # -log(1 - sigmoid(a)): 1 - p rounds to 0 once exp(-a) < 2**-24, a > 24 log 2 = 16.64
    assert overflow.inf_fake == overflow.nan_grad_fake == pytest.approx(16.6355, abs=1e-4)
    # -log(sigmoid(a)): exp(-a) overflows float32 (max 3.4e38 = e^88.72)
    assert overflow.inf_real == overflow.nan_grad_real == pytest.approx(-88.7228, abs=1e-4)
    for where, key in ((overflow.inf_fake, "fake"), (overflow.inf_real, "real")):
        at = np.array([where], F32)
        before = np.nextafter(at, F32(0))  # the float32 next to it, towards 0
        naive, stable = naive_bce_terms(at), stable_bce_terms(at)
        assert np.isinf(naive[f"loss_{key}"][0]) and np.isnan(naive[f"grad_{key}"][0])
        assert np.isfinite(naive_bce_terms(before)[f"loss_{key}"][0])
        assert np.isfinite(stable[f"loss_{key}"][0]) and abs(stable[f"grad_{key}"][0]) == 1
    assert overflow.stable_finite
    big = np.array([-np.finfo(F32).max, np.finfo(F32).max], F32)
    for value in stable_bce_terms(big).values():
        assert np.isfinite(value).all() and value.dtype == F32


def test_clamped_bce_is_finite_but_its_gradient_vanishes(overflow):
    a = overflow.zero_grad_clamped
    assert -17 < a < -16  # p = sigmoid(a) < 1e-7 there
    clamped = mistakes.stable_bce_terms(np.array([a, a + 1], F32), mistakes._clamped_bce)
    assert clamped["grad_real"][0] == 0 and clamped["grad_real"][1] < -0.99
    assert sigmoid(np.array([a], F32))[0] - 1 < -0.99  # the true gradient there


def test_bce_terms_keep_float32():
    a = np.linspace(-30, 30, 7, dtype=F32)
    for terms in (naive_bce_terms(a), stable_bce_terms(a)):
        assert all(v.dtype == F32 and v.shape == a.shape for v in terms.values())
    stable = stable_bce_terms(a)
    np.testing.assert_allclose(stable["grad_real"], sigmoid(a) - 1, atol=1e-7)
    np.testing.assert_allclose(stable["grad_fake"], sigmoid(a), atol=1e-7)


def test_bce_term_gradients_match_finite_differences_in_float64():
    a = np.array([-12.0, -3.0, -0.5, 0.25, 2.0, 9.0])  # float64: the naive form is exact here
    for terms in (naive_bce_terms, stable_bce_terms):
        for key in ("real", "fake"):
            grad = terms(a)[f"grad_{key}"]
            loss = lambda f=terms, k=key: float(f(a)[f"loss_{k}"].sum())  # noqa: E731
            numeric, _ = numeric_gradient(loss, a)
            np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@settings(deadline=None, max_examples=40)
@given(t=st.floats(0.0009765625, 8192.0, width=32), negative=st.booleans())
def test_first_float32_finds_the_exact_threshold(t, negative):
    sign = -1.0 if negative else 1.0
    found = first_float32(lambda x: bool(sign * x[0] >= t), 0.0, sign * 1e5)
    assert found == sign * t
    assert np.isnan(first_float32(lambda x: bool(sign * x[0] >= 2e5), 0.0, sign * 1e5))


def test_batchnorm_train_mode_changes_the_image_eval_mode_not_at_all():
    r = batchnorm_sampling(np.random.default_rng(0), batch=8, redraws=3, warmup=3, sizes=(2, 64))
    assert r.train_change > 0.1 * r.scale and r.train_max > 0
    assert r.eval_change == 0.0 and r.eval_max == 0.0
    assert r.by_batch[2] > r.by_batch[64] > 0  # fewer batch-mates, noisier statistics
    assert r.train_images.dtype == F32 and r.train_images.shape == (3, 1, 28, 28)


def test_batchnorm_on_a_given_generator_keeps_its_statistics_and_mode():
    from minigan import models, nn

    G, _ = models.dcgan28(z_dim=8, rng=np.random.default_rng(1))
    for _ in range(3):  # running statistics, as training leaves them
        G.forward(np.random.default_rng(2).standard_normal((16, 8), dtype=F32))
    G.eval()
    state = {k: v.copy() for k, v in G.state_dict().items()}
    r = batchnorm_sampling(np.random.default_rng(0), G, 8, batch=4, redraws=3, sizes=(2, 8))
    assert r.trained and r.train_change > 0 and r.eval_change == 0.0
    assert not G.training  # given back as it came: its mode and its running statistics
    assert any("running" in k for k in state)
    assert all(np.array_equal(G.state_dict()[k], v) for k, v in state.items())
    no_bn = nn.Sequential(nn.Linear(8, 784), nn.Reshape(1, 28, 28))
    with pytest.raises(ValueError, match="BatchNorm"):
        batchnorm_sampling(np.random.default_rng(0), no_bn, 8)


def test_command_generator_must_be_a_dcgan28_run(tmp_path, capsys):
    from minigan.train import TrainConfig, Trainer

    images = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    config = TrainConfig(data="random", model="mlp", batch=8, z_dim=8)
    Trainer(config, tmp_path / "mlp", images=images, quiet=True, pictures=False).fit(max_iters=1)
    args = ["lab", "mistakes", "--only", "batchnorm", "--out", str(tmp_path / "out")]
    assert main([*args, "--generator", str(tmp_path / "mlp")]) == 2
    assert "needs an unconditional dcgan28 run" in capsys.readouterr().err
    assert main([*args, "--generator", str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_wrong_sign_generator_ends_farther_from_the_data():
    r = mistakes_toy.wrong_sign(seed=0, steps=100, every=50)
    assert r.wrong.distance[-1] > r.right.distance[-1] + 0.5
    assert r.wrong.d_fake[-1] < 0.05 < r.right.d_fake[-1]  # G agrees with D: "fake"
    assert r.right.steps == r.wrong.steps == [0, 50, 100]
    assert r.right.distance[0] == r.wrong.distance[0]  # the same start


def test_updating_d_in_g_step_makes_d_call_fakes_real_and_g_drift():
    r = mistakes_toy.d_in_g_step(seed=0, steps=100, every=100)
    assert r.wrong.d_fake[-1] > 0.9 > 0.6 > r.right.d_fake[-1]
    assert r.wrong.distance[-1] > 10 * r.right.distance[-1]


def test_forgotten_zero_grad_adds_up_gradients():
    r = mistakes_toy.zero_grad(seed=0, steps=50, every=50)
    right, wrong = r.right.grads, r.wrong.grads
    assert right.applied == right.fresh  # zeroed: the applied gradient is the step's own
    k = np.arange(1, 51)
    applied = np.array(wrong.applied)
    assert (applied > 0.5 * k * applied[0]).all()  # at least half of k times the first
    assert applied[-1] > 3 * right.applied[-1]
    assert wrong.applied[-1] > 3 * wrong.fresh[-1]  # the sum of many steps, not this one


def test_saturation_calls_the_lab_check(monkeypatch):
    seen = {}

    def fake(seed, optimizer, warmup, steps):
        seen.update(seed=seed, optimizer=optimizer, warmup=warmup, steps=steps)
        run = lambda loss: mistakes.SaturationRun(loss, optimizer, [1e-3], [2.0], [1e-4])  # noqa: E731
        return {"minimax": run("minimax"), "nonsaturating": run("nonsaturating")}

    monkeypatch.setattr(mistakes, "measure_saturation", fake)
    row = run_mistake("saturation", seed=3, steps=1000).row()
    assert seen == {"seed": 3, "optimizer": "sgd", "warmup": 300, "steps": 50}
    assert row.wrong.startswith("0.0001") and row.mistake == "saturation"


def test_run_mistake_refuses_bad_input():
    with pytest.raises(ValueError, match="unknown mistake"):
        run_mistake("sigmoid")
    with pytest.raises(ValueError, match="steps"):
        run_mistake("bce", steps=0)
    with pytest.raises(ValueError, match="batch >= 2"):
        batchnorm_sampling(np.random.default_rng(0), batch=1)
    with pytest.raises(ValueError, match="steps and every"):
        mistakes_toy.train_variant(0, 0, 1)


def test_command_prints_the_table_and_writes_the_figures(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    for name in ("zero-grad", "bce"):
        assert (
            main(["lab", "mistakes", "--only", name, "--steps", "20", "--out", str(tmp_path)]) == 0
        )
        out = capsys.readouterr().out
        assert f"\n{name} " in out and "wrong version" in out
        path = tmp_path / f"mistakes_{name.replace('-', '_')}.png"
        assert path.stat().st_size > 10_000 and f"figure: {path}" in out
    assert list(MISTAKES) == [
        "bce",
        "wrong-sign",
        "batchnorm",
        "d-in-g-step",
        "saturation",
        "zero-grad",
    ]


def test_command_refuses_an_unknown_mistake(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["lab", "mistakes", "--only", "nope"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
