"""``minigan evaluate``: a run directory or a ``.npy``, a table or exactly one JSON object on
standard output, one-line errors with exit status 2. Small synthetic sets stand in for
Fashion-MNIST (``load_dataset`` is replaced), so no test needs the dataset."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from minigan import backend as backends
from minigan.cli import main
from minigan.config import TrainConfig
from minigan.metrics import evaluator
from minigan.train import Trainer

RNG = np.random.default_rng(0)
REAL = RNG.integers(0, 256, (40, 28, 28), dtype=np.uint8)
SAMPLES = RNG.integers(0, 256, (30, 28, 28), dtype=np.uint8)


@pytest.fixture(autouse=True)
def synthetic_fashion(tmp_path, monkeypatch):
    """40 random images for either split of Fashion-MNIST; the cache under tmp_path."""

    def fake_load(name, split="train", data_dir=None, download=True):
        return REAL, np.zeros(len(REAL), np.uint8)

    monkeypatch.setattr(evaluator, "load_dataset", fake_load)
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A dcgan28 run of 2 iterations on random images."""
    out = tmp_path_factory.mktemp("evaluate") / "run"
    config = TrainConfig(data="random", model="dcgan28", batch=8, z_dim=16)
    with backends.using("numpy"):
        Trainer(config, out, images=REAL[:16], quiet=True, pictures=False).fit()
    return out


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # exactly one line: one JSON object
    return json.loads(out)


def test_npy_json_is_one_object_with_every_key(tmp_path, capsys):
    path = tmp_path / "samples.npy"
    np.save(path, SAMPLES)
    assert main(["evaluate", str(path), "--json"]) == 0
    report = _json(capsys)
    for key in (*evaluator.KEYS, "n", "extractor", "floor"):
        assert key in report
    assert report["n"] == 30 and set(evaluator.KEYS) <= set(report["floor"])
    assert report["extractor"]["name"] == "minigan Fashion-MNIST classifier"


def test_npy_in_minus_one_to_one_with_a_channel_axis_and_n(tmp_path, capsys):
    path = tmp_path / "samples.npy"
    np.save(path, SAMPLES[:, None].astype(np.float32) / 127.5 - 1)
    assert main(["evaluate", str(path), "--json", "--n", "12", "--seed", "3"]) == 0
    assert _json(capsys)["n"] == 12


def test_run_directory_table(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--n", "20"]) == 0
    out = capsys.readouterr().out
    assert "20 samples of dcgan28" in out
    assert "| FID (minigan Fashion-MNIST classifier) | lower |" in out
    assert "floor: real train" in out


def test_run_directory_json_is_seeded(run_dir, capsys):
    args = ["evaluate", str(run_dir / "checkpoint"), "--n", "16", "--json", "--seed", "5"]
    assert main(args) == 0
    first = _json(capsys)
    assert main(args) == 0
    second = _json(capsys)
    first.pop("seconds"), second.pop("seconds")
    assert first == second and first["n"] == 16


def test_a_conditional_run_gets_balanced_labels(monkeypatch, capsys):
    """A config with ``num_classes`` draws labels 0, 1, ..., K-1, 0, ... for its samples."""
    from minigan.commands import evaluate as command

    seen = {}

    class Config:
        model, z_dim, num_classes = "dcgan28", 4, 3

    def fake_sample(G, n, z_dim, seed, labels=None):
        seen["labels"] = labels
        return np.zeros((n, 1, 28, 28), np.float32)

    monkeypatch.setattr("minigan.sampling.load_generator", lambda path: (object(), Config()))
    monkeypatch.setattr("minigan.sampling.sample", fake_sample)
    images, n, _ = command.load_samples("somewhere", 7, 0)
    assert seen["labels"].tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert images.shape == (7, 1, 28, 28) and n is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (np.zeros((10, 32, 32), np.uint8), "28x28 grayscale"),
        (np.full((10, 28, 28), np.nan, np.float32), "NaN"),
        (np.full((10, 28, 28), 2.0, np.float32), r"\[-1, 1\]"),
        (np.zeros((3, 28, 28), np.uint8), "at least 6"),
    ],
)
def test_bad_npy_is_a_one_line_error(tmp_path, capsys, content, message):
    path = tmp_path / "bad.npy"
    np.save(path, content)
    assert main(["evaluate", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("minigan evaluate: error:")
    assert re.search(message, error)


@pytest.mark.parametrize("name", ["missing.npy", "no-such-run"])
def test_missing_input_is_exit_2(tmp_path, capsys, name):
    assert main(["evaluate", str(tmp_path / name)]) == 2
    assert "minigan evaluate: error:" in capsys.readouterr().err


def test_n_larger_than_the_npy_is_exit_2(tmp_path, capsys):
    path = tmp_path / "samples.npy"
    np.save(path, SAMPLES)
    assert main(["evaluate", str(path), "--n", "31"]) == 2
    assert "only 30 images" in capsys.readouterr().err
