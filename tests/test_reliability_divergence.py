"""Divergence stops a run (issue "Nothing lost, nothing silent", item 2): at the first non-finite
loss, gradient, parameter or optimizer state, with exit status 3, a message naming the iteration
and where, valid JSON in metrics.jsonl and the last good checkpoint untouched; and the failure
signs warn only where they mean failure for the game played."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from minigan import models, optim
from minigan.cli import main
from minigan.data import write_idx
from minigan.guards import (
    EXIT_DIVERGED,
    DivergenceError,
    FailureSigns,
    TrainingWarning,
    Watchdog,
    check_batch_size,
)
from minigan.objectives import get_objective
from minigan.train import TrainConfig, Trainer

IMAGES = np.random.default_rng(0).integers(0, 256, (32, 8, 8), dtype=np.uint8)


def strict_records(path):
    """The lines of ``path`` parsed as strict JSON (no NaN or Infinity tokens)."""

    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


@pytest.fixture
def data(tmp_path):
    """256 random 28x28 images (the issue's reproduction): 8 iterations per epoch at batch 32."""
    rng = np.random.default_rng(0)
    directory = tmp_path / "data"
    directory.mkdir()
    write_idx(
        directory / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (256, 28, 28), np.uint8)
    )
    write_idx(directory / "train-labels-idx1-ubyte.gz", np.zeros(256, np.uint8))
    return directory


@pytest.mark.parametrize("lr", ["1e18", "1e8"])  # NaN weights; finite losses but Adam's v inf
def test_the_command_stops_at_divergence_with_its_exit_code(data, tmp_path, capsys, lr):
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--model", "mlp", "--batch", "32", "--max-iters", "3"]
    code = main([*argv, "--lr", lr, "--out", str(out), "--quiet", "--no-pictures"])
    err = capsys.readouterr().err
    assert code == EXIT_DIVERGED == 3
    line = [x for x in err.splitlines() if "error:" in x]
    assert len(line) == 1 and "training diverged at iteration" in line[0]
    assert "is not finite" in line[0] and "no checkpoint was written" in line[0]
    assert not (out / "checkpoint").exists()
    if (out / "metrics.jsonl").exists():
        records = strict_records(out / "metrics.jsonl")
        assert all(np.isfinite(r["loss_D"]) and np.isfinite(r["loss_G"]) for r in records)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow on the way
def test_the_last_good_checkpoint_is_never_overwritten(tmp_path):
    config = TrainConfig(model="mlp", batch=8, seed=0)
    trainer = Trainer(config, tmp_path / "run", images=IMAGES, quiet=True, pictures=False)
    trainer.checkpoint_every = 1
    trainer.fit(max_iters=2)
    saved = {p.name: p.read_bytes() for p in (tmp_path / "run" / "checkpoint").iterdir()}
    metrics = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    trainer.opt_D.lr = trainer.opt_G.lr = 1e30  # the next update overflows
    with pytest.raises(DivergenceError) as caught:
        trainer.fit(max_iters=4)
    assert caught.value.iteration == 3 and "is not finite" in caught.value.where
    assert {p.name: p.read_bytes() for p in (tmp_path / "run" / "checkpoint").iterdir()} == saved
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == metrics  # no record of it
    assert trainer.saved_at == 2


def nets():
    G, D = models.mlp_gan(z_dim=4, rng=np.random.default_rng(0))
    return G, D, optim.Adam(G.parameters()), optim.Adam(D.parameters())


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("grad", "D's 1.weight (its gradient)"),
        ("v", "G's 3.weight (its optimizer state v)"),
        ("param", "G's 0.bias (its value)"),
        ("buffer", "G's 2.running_var (its value)"),
    ],
)
def test_the_message_names_the_first_non_finite_array(where, expected):
    G, D, opt_G, opt_D = nets()
    watch = Watchdog(G, D, opt_G, opt_D)
    watch.after_step(1, {"loss_D": 1.0, "loss_G": 1.0})
    if where == "grad":
        D.parameters()[0].grad[0, 0] = np.nan  # D[0] is a Flatten
    elif where == "v":
        opt_G.v[[n for n, _ in G.named_parameters()].index("3.weight")][0, 0] = np.inf
    elif where == "param":
        G.parameters()[1].data[0] = -np.inf
    else:
        G[2].running_var[0] = np.nan
    with pytest.raises(DivergenceError, match="at iteration 2") as caught:
        watch.after_step(2, {"loss_D": 1.0, "loss_G": 1.0})
    assert caught.value.where.startswith(expected + " is not finite")


def test_a_non_finite_loss_stops_at_once():
    G, D, opt_G, opt_D = nets()
    with pytest.raises(DivergenceError, match="iteration 7: loss_D is nan"):
        Watchdog(G, D, opt_G, opt_D).after_step(7, {"loss_D": float("nan"), "loss_G": 1.0})


def test_an_overflowing_sum_of_finite_values_is_not_divergence():
    G, D, opt_G, opt_D = nets()
    for p in G.parameters():
        p.data[...] = 3e38  # every value finite; their float32 sum is not
    Watchdog(G, D, opt_G, opt_D).after_step(1, {"loss_D": 1.0, "loss_G": 1.0})


def test_deferred_checks_report_the_first_bad_iteration_at_the_flush():
    """The GPU path, run on NumPy arrays: totals kept until flush, judged in order."""
    G, D, opt_G, opt_D = nets()
    watch = Watchdog(G, D, opt_G, opt_D, defer=True, sync_every=10)
    watch.after_step(1, {"loss_D": 1.0, "loss_G": 1.0})
    D.parameters()[0].data[0, 0] = np.nan
    watch.after_step(2, {"loss_D": 1.0, "loss_G": 1.0})  # not read yet
    watch.after_step(3, {"loss_D": 1.0, "loss_G": 1.0})
    with pytest.raises(DivergenceError, match=r"at iteration 2: D's 1\.weight"):
        watch.flush()


def test_a_deferred_run_never_saves_a_diverged_checkpoint(tmp_path):
    config = TrainConfig(model="mlp", batch=8, seed=0)
    trainer = Trainer(config, tmp_path / "run", images=IMAGES, quiet=True, pictures=False)
    trainer.watch.defer = True
    trainer.fit(max_iters=1)
    trainer.opt_G.v[0][0, 0] = np.inf  # Adam then leaves the weight as it is: finite losses
    trainer.step(*next(iter(trainer.loader)))  # its totals stay on the device until a save
    with pytest.raises(DivergenceError):
        trainer.save_checkpoint()
    assert (
        json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["iteration"] == 1
    )


def test_batch_one_with_batchnorm_is_refused_up_front(tmp_path, capsys):
    G, D, _, _ = nets()
    with pytest.raises(ValueError, match=r"BatchNorm1d.*at least 2 samples"):
        check_batch_size(G, D, 1)
    check_batch_size(*models.mlp_gan(z_dim=4, rng=np.random.default_rng(0)), 2)
    argv = ["train", "--dry-run", "--model", "mlp", "--batch", "1", "--out", str(tmp_path / "r")]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "at least 2 samples" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()  # nothing written: not even frames/


# -- the failure signs --------------------------------------------------------------------------


def feed(signs, records, norms=None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, record in enumerate(records, 1):
            signs.update(i, record, norms[i - 1] if norms else {})
    return [str(w.message) for w in caught if issubclass(w.category, TrainingWarning)]


@pytest.mark.parametrize("game", ["nonsaturating", "minimax"])
def test_d_winning_outright_warns_once_in_the_bce_games(game):
    signs = FailureSigns(get_objective(game), patience=100)
    record = {"loss_D": 0.01, "loss_G": 6.0, "D_x": 0.999, "D_G_z": 0.001}
    messages = feed(signs, [record] * 250)
    assert len(messages) == 2
    assert "D's loss has stayed below 0.05 for 100 iterations" in messages[0]
    assert "D(G(z)) has stayed below 0.01" in messages[1]
    assert ("--loss nonsaturating" in messages[1]) == (game == "minimax")


def test_a_short_streak_does_not_warn():
    signs = FailureSigns(get_objective("nonsaturating"), patience=100)
    low, normal = {"loss_D": 0.01, "D_G_z": 0.001}, {"loss_D": 0.9, "D_G_z": 0.3}
    assert feed(signs, ([low] * 99 + [normal]) * 3) == []


@pytest.mark.parametrize("game", ["lsgan", "hinge", "wgan", "wgan-gp"])
def test_what_a_game_does_by_design_does_not_warn(game):
    signs = FailureSigns(get_objective(game), patience=100)
    record = {"loss_D": -25.0 if "wgan" in game else 0.0, "loss_G": 3.0, "wasserstein": 25.0}
    assert feed(signs, [record] * 300) == []


@pytest.mark.parametrize("game", ["nonsaturating", "wgan"])
def test_an_exploding_gradient_warns_in_every_game(game):
    signs = FailureSigns(get_objective(game))
    norms = [{"G": 1.0, "D": 2.0}] * 50 + [{"G": 1.0, "D": 500.0}] * 3
    messages = feed(signs, [{"loss_D": 1.0, "loss_G": 1.0}] * len(norms), norms)
    assert len(messages) == 1 and "the norm of D's gradient jumped to 500" in messages[0]


def test_the_command_prints_warnings_on_one_line(tmp_path, capsys, monkeypatch):
    import minigan.guards as guards

    original = guards.FailureSigns.update

    def update(self, iteration, record, norms):
        self._warn("test", f"iteration {iteration}: a sign")
        original(self, iteration, record, norms)

    monkeypatch.setattr(guards.FailureSigns, "update", update)
    argv = ["train", "--dry-run", "--model", "mlp", "--batch", "4", "--max-iters", "2"]
    assert main([*argv, "--out", str(tmp_path / "r"), "--quiet", "--no-pictures"]) == 0
    assert capsys.readouterr().err == "minigan train: warning: iteration 1: a sign\n"
