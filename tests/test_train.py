"""The training loop, the ``minigan train`` command, determinism, resume and bad input."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from minigan.cli import main
from minigan.data import write_idx
from minigan.models import build
from minigan.optim import Adam
from minigan.progress import ProgressBar, format_duration, read_metrics
from minigan.step import as_floats, train_step
from minigan.train import TrainConfig, Trainer


def make_data(directory, n=32, seed=0):
    """``n`` random 28x28 images (bright blobs on black) as gzipped IDX files in ``directory``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    centres = rng.integers(6, 22, (n, 2, 1, 1))
    images = (255 * np.exp(-((yy - centres[:, 0]) ** 2 + (xx - centres[:, 1]) ** 2) / 20)).astype(
        np.uint8
    )
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(directory / "train-images-idx3-ubyte.gz", images)
    write_idx(directory / "train-labels-idx1-ubyte.gz", np.zeros(n, np.uint8))
    return directory


@pytest.fixture
def data(tmp_path):
    return make_data(tmp_path / "data")


def train(data, out, *extra, pictures=False):
    """``minigan train`` on ``data`` into ``out``: mlp, batch 8, quiet, no pictures unless asked
    (matplotlib takes most of the time of these tiny runs)."""
    argv = ["train", "--data", str(data), "--model", "mlp", "--batch", "8", "--out", str(out)]
    return main([*argv, "--quiet", *extra] + ["--no-pictures"] * (not pictures))


def without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# ---- the loop body -------------------------------------------------------------------------------
def test_train_step_runs_each_phase_in_order():
    """D step: G makes the fakes; D forward and backward on the real batch, then on the fake
    one, both backwards without the image gradient (``backward_params``); step; G is never
    backpropagated in the D step. Then G: forward, D forward, D's input gradient alone
    (``backward_input``: no weight gradient of D), G backward (without the noise's), step."""
    rng = np.random.default_rng(0)
    G, D = build("mlp", z_dim=4, rng=rng)
    opt_G, opt_D = Adam(G.parameters(), 2e-4), Adam(D.parameters(), 2e-4)
    events = []

    def spy(obj, name, label):
        original = getattr(obj, name)

        def wrapper(*args):
            events.append(label)
            return original(*args)

        setattr(obj, name, wrapper)

    for obj, prefix in ((G, "G"), (D, "D")):
        spy(obj, "forward", f"{prefix}.forward")
        spy(obj, "backward", f"{prefix}.backward")
        spy(obj, "backward_params", f"{prefix}.backward_params")
        spy(obj, "backward_input", f"{prefix}.backward_input")
    spy(opt_D, "step", "opt_D.step")
    spy(opt_G, "step", "opt_G.step")
    real = rng.uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)
    noise = lambda n: rng.standard_normal((n, 4), dtype=np.float32)  # noqa: E731
    metrics = as_floats(train_step(G, D, opt_G, opt_D, real, noise))
    assert events == [
        "G.forward", "D.forward", "D.backward_params", "D.forward", "D.backward_params",
        "opt_D.step", "G.forward", "D.forward", "D.backward_input", "G.backward_params",
        "opt_G.step",
    ]  # fmt: skip
    assert set(metrics) == {"loss_D", "loss_G", "D_x", "D_G_z"}
    assert 0 < metrics["D_x"] < 1 and 0 < metrics["D_G_z"] < 1
    assert all(isinstance(v, float) for v in metrics.values())


@pytest.mark.torch
def test_train_step_matches_pytorch_from_the_same_weights_and_noise(torch_one_thread):
    """Three iterations of DCGAN-28 (batch 8) give PyTorch's losses and D outputs."""
    _compare_with_torch(torch_one_thread, torch_one_thread.nn)


def _compare_with_torch(torch, tnn):
    G = tnn.Sequential(
        tnn.Linear(100, 6272), tnn.BatchNorm1d(6272), tnn.ReLU(), tnn.Unflatten(1, (128, 7, 7)),
        tnn.ConvTranspose2d(128, 64, 4, 2, 1), tnn.BatchNorm2d(64), tnn.ReLU(),
        tnn.ConvTranspose2d(64, 1, 4, 2, 1), tnn.Tanh(),
    )  # fmt: skip
    D = tnn.Sequential(
        tnn.Conv2d(1, 64, 4, 2, 1), tnn.LeakyReLU(0.2), tnn.Conv2d(64, 128, 4, 2, 1),
        tnn.BatchNorm2d(128), tnn.LeakyReLU(0.2), tnn.Flatten(), tnn.Linear(6272, 1),
    )  # fmt: skip
    images = np.random.default_rng(0).integers(0, 256, (24, 28, 28), dtype=np.uint8)
    trainer = Trainer(TrainConfig(data="random", batch=8), images=images, quiet=True)
    for ours, theirs in ((trainer.G, G), (trainer.D, D)):
        theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    opt_G = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = tnn.functional.binary_cross_entropy_with_logits
    for real, _ in trainer.loader:
        twin = np.random.default_rng()
        twin.bit_generator.state = trainer.noise_rng.bit_generator.state
        z1, z2 = (torch.from_numpy(twin.standard_normal((8, 100), dtype=np.float32)) for _ in "12")
        ours = trainer.step(real)
        # (1) D step: real batch, then a fake batch with no gradient into G
        opt_D.zero_grad()
        real_logits = D(torch.from_numpy(real))
        bce(real_logits, torch.ones_like(real_logits)).backward()
        fake_logits = D(G(z1).detach())
        bce(fake_logits, torch.zeros_like(fake_logits)).backward()
        opt_D.step()
        # (2) G step on fresh noise
        opt_G.zero_grad()
        logits = D(G(z2))
        loss_G = bce(logits, torch.ones_like(logits))
        loss_G.backward()
        opt_G.step()
        with torch.no_grad():
            loss_D = bce(real_logits, torch.ones_like(real_logits)) + bce(
                fake_logits, torch.zeros_like(fake_logits)
            )
            theirs = {
                "loss_D": loss_D.item(),
                "loss_G": loss_G.item(),
                "D_x": torch.sigmoid(real_logits).mean().item(),
                "D_G_z": torch.sigmoid(fake_logits).mean().item(),
            }
        assert {k: ours[k] for k in theirs} == pytest.approx(theirs, rel=1e-4, abs=1e-5)


def test_minimax_loss_is_the_negative_softplus(data, tmp_path):
    assert train(data, tmp_path / "run", "--loss", "minimax", "--max-iters", "3") == 0
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert len(records) == 3 and all(r["loss_G"] < 0 for r in records)


# ---- the command end to end ----------------------------------------------------------------------
def test_end_to_end_leaves_metrics_pictures_and_checkpoint(tmp_path):
    from PIL import Image

    out, data = tmp_path / "run", make_data(tmp_path / "data")
    argv = "--model dcgan28 --sample-every 2 --checkpoint-every 3 --n-samples 16".split()
    assert train(data, out, *argv, pictures=True) == 0
    records = read_metrics(out / "metrics.jsonl")
    assert [r["iteration"] for r in records] == list(range(1, 5))  # 32 images / batch 8
    assert set(records[0]) == {"iteration", "epoch", "loss_D", "loss_G", "D_x", "D_G_z", "seconds"}
    assert all(np.isfinite(r["loss_D"]) and np.isfinite(r["loss_G"]) for r in records)
    with Image.open(out / "samples" / "epoch_001.png") as grid:
        assert grid.size == (2 * 122, 2 * 122)  # 4 x 4 images of 28 + 2 pixels, doubled
    assert sorted(p.name for p in (out / "frames").iterdir()) == [
        "iter_0000000.png", "iter_0000002.png", "iter_0000004.png",
    ]  # fmt: skip
    with Image.open(out / "training.gif") as gif:
        assert gif.n_frames == 3
    with Image.open(out / "training.png") as plot:
        assert plot.size[0] > 500
    files = sorted(p.name for p in (out / "checkpoint").iterdir())
    assert files == [
        "D.safetensors", "G.safetensors", "config.json", "loader.safetensors",
        "opt_D.safetensors", "opt_G.safetensors", "state.json",
    ]  # fmt: skip
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert (state["iteration"], state["epoch"], state["position"]) == (4, 1, 0)
    config = json.loads((out / "checkpoint" / "config.json").read_text())
    assert config["model"] == "dcgan28" and config["betas"] == [0.5, 0.999]
    assert not list(out.glob("checkpoint.*"))  # no temporary or old copies left


def test_progress_output_and_seed_are_printed(data, tmp_path, capsys):
    argv = ["train", "--data", str(data), "--model", "mlp", "--batch", "8", "--seed", "7"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--log-every", "2", "--no-pictures"]) == 0
    captured = capsys.readouterr()
    assert "seed 7" in captured.out and "done: 4 iterations" in captured.out
    lines = [line for line in captured.err.splitlines() if "ETA" in line]
    assert [line.split("/")[0].strip() for line in lines] == ["2", "4"]  # stderr is no TTY
    assert all("loss_D" in line and "D(G(z))" in line for line in lines)


def test_dry_run_needs_no_dataset(tmp_path):
    argv = ["train", "--dry-run", "--model", "mlp", "--batch", "4", "--max-iters", "2"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet", "--no-pictures"]) == 0
    assert len(read_metrics(tmp_path / "run" / "metrics.jsonl")) == 2


# ---- determinism and resume ----------------------------------------------------------------------
def test_same_seed_same_metrics_other_seed_other_metrics(data, tmp_path):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert train(data, tmp_path / name, "--seed", seed, "--sample-every", "0") == 0
    a, b, c = (read_metrics(tmp_path / name / "metrics.jsonl") for name in "abc")
    assert without_seconds(a) == without_seconds(b)
    assert without_seconds(a) != without_seconds(c)


def test_stop_and_resume_equals_an_uninterrupted_run(tmp_path):
    from minigan.serialization import load_file

    data = make_data(tmp_path / "data", n=32)  # 4 iterations per epoch
    argv = ["--epochs", "2", "--checkpoint-every", "0"]
    assert train(data, tmp_path / "whole", *argv) == 0
    assert train(data, tmp_path / "parts", *argv, "--max-iters", "3") == 0
    # what a run killed after its checkpoint at iteration 3 may have left behind
    with open(tmp_path / "parts" / "metrics.jsonl", "a") as f:
        f.write('{"iteration": 4, "epoch": 1, "loss_D": 0.0}\n{"iteration": 5, "ep')
    assert main(["train", "--resume", str(tmp_path / "parts"), "--quiet", "--no-pictures"]) == 0
    whole = read_metrics(tmp_path / "whole" / "metrics.jsonl")
    parts = read_metrics(tmp_path / "parts" / "metrics.jsonl")
    assert len(whole) == 8 and without_seconds(parts) == without_seconds(whole)
    for name in ("G", "D", "opt_G", "opt_D"):
        a = load_file(tmp_path / "whole" / "checkpoint" / f"{name}.safetensors")
        b = load_file(tmp_path / "parts" / "checkpoint" / f"{name}.safetensors")
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_may_extend_the_epochs(data, tmp_path):
    assert train(data, tmp_path / "run") == 0
    argv = ["train", "--resume", str(tmp_path / "run"), "--epochs", "2", "--quiet"]
    assert main([*argv, "--no-pictures"]) == 0
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1] * 4 + [2] * 4


def test_python_api_trains_in_steps(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    config = TrainConfig(data="random", model="mlp", batch=8, epochs=2, seed=1)
    trainer = Trainer(config, tmp_path / "run", images=images, quiet=True, pictures=False)
    assert len(trainer.fit(max_iters=1)) == 1
    assert len(trainer.fit()) == 4
    assert trainer.sample(5, seed=2).shape == (5, 1, 28, 28)
    assert len(read_metrics(tmp_path / "run" / "metrics.jsonl")) == 4
    in_memory = Trainer(config, images=images, quiet=True).fit()
    assert without_seconds(in_memory) == without_seconds(trainer.history)


# ---- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "-1"], "argument --epochs: expected a positive integer, got '-1'"),
        (["--batch", "0"], "argument --batch: expected a positive integer, got '0'"),
        (["--lr", "0"], "argument --lr: expected a positive number, got '0'"),
        (["--lr=-2e-4"], "argument --lr: expected a positive number"),
        (["--lr", "nan"], "argument --lr: expected a positive number"),
        (["--beta1", "1"], "argument --beta1: expected a number in [0, 1)"),
        (["--seed", "x"], "argument --seed: expected a non-negative integer"),
        (["--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
        (["--loss", "hinge2"], "argument --loss: invalid choice: 'hinge2'"),
        (["--n-critic", "0"], "argument --n-critic: expected a positive integer, got '0'"),
        (["--optimizer", "sgd"], "argument --optimizer: invalid choice: 'sgd'"),
        (["--backend", "tpu"], "argument --backend: invalid choice: 'tpu'"),
    ],
)
def test_bad_flag_values_are_argparse_errors(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dry-run", "--out", str(tmp_path / "run"), *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_missing_data_path_is_a_clear_error(tmp_path, capsys):
    code = main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "minigan train: error:" in err and "nowhere" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_corrupt_data_file_is_a_clear_error(data, tmp_path, capsys):
    (data / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    assert train(data, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "corrupt gzip" in err


def test_out_or_resume_is_required(capsys):
    assert main(["train", "--dry-run"]) == 2
    assert "--out RUN_DIR is required" in capsys.readouterr().err


def test_a_new_run_refuses_a_used_directory(data, tmp_path, capsys):
    assert train(data, tmp_path / "run", "--max-iters", "2") == 0
    before = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    assert train(data, tmp_path / "run") == 2
    assert f"--resume {tmp_path / 'run'}" in capsys.readouterr().err
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == before


def test_resume_refuses_another_configuration(data, tmp_path, capsys):
    assert train(data, tmp_path / "run", "--max-iters", "2") == 0
    checkpoint = tmp_path / "run" / "checkpoint"
    before = {p.name: p.read_bytes() for p in checkpoint.iterdir()}
    code = main(["train", "--resume", str(tmp_path / "run"), "--model", "dcgan28", "--lr", "1e-3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "model 'dcgan28' (the checkpoint has 'mlp')" in err and "lr_g 0.001" in err
    assert {p.name: p.read_bytes() for p in checkpoint.iterdir()} == before


def test_resume_of_a_directory_without_checkpoint(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["train", "--resume", str(tmp_path / "run")]) == 2
    assert "no checkpoint here" in capsys.readouterr().err


def test_training_without_matplotlib_and_pillow_warns_once(data, tmp_path, monkeypatch, capsys):
    for name in ("PIL", "PIL.Image", "matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    assert train(data, tmp_path / "run", "--sample-every", "2", pictures=True) == 0
    warned = capsys.readouterr().err.splitlines()  # the command prints warnings as one line
    assert len(warned) == 1 and warned[0].startswith("minigan train: warning: ")
    assert "minigan[plot]" in warned[0]
    assert (tmp_path / "run" / "checkpoint").is_dir()
    assert not list((tmp_path / "run").rglob("*.png"))


# ---- progress reporting --------------------------------------------------------------------------
def test_progress_bar_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    bar = ProgressBar(3, stream=Terminal(), min_interval=0)
    for i in (1, 2, 3):
        bar.update(i, {"loss_D": 1.0, "loss_G": 2.0, "D_x": 0.5, "D_G_z": 0.25})
    bar.close()
    text = bar.stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "3/3 [####################]" in text and "D(G(z)) 0.250" in text


def test_format_duration():
    assert (format_duration(59.6), format_duration(61), format_duration(3600)) == (
        "01:00",
        "01:01",
        "1:00:00",
    )
