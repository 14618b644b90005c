"""The report of :mod:`minigan.metrics` on small synthetic image sets (the shipped classifier, no
dataset): its keys, the floor, subsampling, clear errors for bad input, and the cache of real
statistics (keyed by what they were computed from, rewritten when stale or corrupt)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minigan.data.loader import to_unit_range
from minigan.metrics import LABELS, Evaluator, evaluate, evaluator, format_table, reference
from minigan.metrics.classifier import Classifier

KEYS = {
    "fid", "kid", "kid_std", "inception_score", "precision", "recall", "density", "coverage",
    "classes_covered", "class_entropy", "max_class_share",
}  # fmt: skip
RNG = np.random.default_rng(0)
REAL = RNG.integers(0, 256, (40, 28, 28), dtype=np.uint8)
FLOOR = RNG.integers(0, 256, (30, 28, 28), dtype=np.uint8)
FAKE = RNG.integers(0, 256, (25, 28, 28), dtype=np.uint8)


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    """Every test caches under its own tmp_path, never in the user's cache."""
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "metrics"


@pytest.fixture
def ev() -> Evaluator:
    return Evaluator(reference=REAL, floor_images=FLOOR, cache=None)


def test_report_keys_floor_and_json(ev):
    report = ev(FAKE, seed=0)
    assert KEYS <= set(report) and KEYS <= set(report["floor"])
    assert report["n"] == 25 and report["floor"]["n"] == 25
    assert report["extractor"]["name"] == "minigan Fashion-MNIST classifier"
    assert len(report["extractor"]["sha256"]) == 64
    assert len(report["class_histogram"]) == 10
    assert sum(report["class_histogram"]) == pytest.approx(1.0)
    assert json.loads(json.dumps(report)) == report
    assert 1.0 <= report["inception_score"] <= 10.0
    assert all(0 <= report[k] <= 1 for k in ("precision", "recall", "coverage"))


def test_the_floor_is_the_report_of_the_floor_images(ev):
    report = ev(FLOOR, seed=3)
    floor = report.pop("floor")
    assert report == floor


def test_uint8_float_and_channel_axis_give_the_same_report(ev):
    a = ev(FAKE, seed=1)
    b = ev(to_unit_range(FAKE)[:, None], seed=1)
    assert a == b


def test_n_draws_a_seeded_subset(ev):
    a, b = ev(FAKE, n=10, seed=2), ev(FAKE, n=10, seed=2)
    assert a["n"] == 10 and a == b
    assert a["floor"]["n"] == 10
    with pytest.raises(ValueError, match="only 25 images"):
        ev(FAKE, n=26)


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (np.zeros((10, 32, 32), np.uint8), ValueError, "28x28 grayscale Fashion-MNIST"),
        (np.zeros((10, 3, 28, 28), np.uint8), ValueError, r"\(3 channels\)"),
        (np.zeros((10, 28 * 28), np.uint8), ValueError, "28x28 grayscale"),
        (np.zeros((0, 28, 28), np.uint8), ValueError, "no images"),
        (np.full((10, 28, 28), np.nan, np.float32), ValueError, "NaN"),
        (np.full((10, 28, 28), 255.0), ValueError, r"must lie in \[-1, 1\]"),
        (np.zeros((10, 28, 28), np.int64), TypeError, "uint8 pixels"),
        (np.zeros((5, 28, 28), np.uint8), ValueError, "at least 6"),
        ([[0]], TypeError, "NumPy array"),
    ],
)
def test_bad_input_gets_a_clear_error(ev, images, error, message):
    with pytest.raises(error, match=message):
        ev(images)


def test_too_few_real_images_is_an_error():
    with pytest.raises(ValueError, match="reference images: got 3 images"):
        Evaluator(reference=REAL[:3], floor_images=FLOOR, cache=None)


def test_labels_name_the_extractor(ev):
    assert LABELS["fid"] == "FID (minigan Fashion-MNIST classifier)"
    table = format_table(ev(FAKE))
    assert "| FID (minigan Fashion-MNIST classifier) | lower |" in table
    assert "KID (minigan Fashion-MNIST classifier)" in table


def test_real_statistics_are_cached_keyed_and_rewritten(cache_in_tmp, monkeypatch):
    calls = []
    original = Classifier.features_and_logits

    def counting(self, images):
        calls.append(len(images))
        return original(self, images)

    monkeypatch.setattr(Classifier, "features_and_logits", counting)
    first = Evaluator(reference=REAL, floor_images=FLOOR)
    assert sorted(calls) == [30, 40]  # computed once each
    files = sorted(cache_in_tmp.glob("real-*.safetensors"))
    assert len(files) == 2
    calls.clear()
    second = Evaluator(reference=REAL, floor_images=FLOOR)
    assert calls == []  # read from the cache
    np.testing.assert_array_equal(first.reference.features, second.reference.features)
    np.testing.assert_array_equal(first.reference.sq_radii[5], second.reference.sq_radii[5])
    # a corrupt file is recomputed and replaced
    path = cache_in_tmp / f"real-{first.reference.key[:32]}.safetensors"
    path.write_bytes(b"not a safetensors file")
    Evaluator(reference=REAL, floor_images=FLOOR)
    assert calls == [40]
    assert reference._load(path, first.reference.key) is not None
    # other images: another key, another file
    Evaluator(reference=REAL[::-1].copy(), floor_images=FLOOR)
    assert len(list(cache_in_tmp.glob("real-*.safetensors"))) == 3
    assert not list(cache_in_tmp.glob("*.tmp"))


def test_the_floor_is_computed_once_per_n_and_seed(cache_in_tmp, monkeypatch):
    ev = Evaluator(reference=REAL, floor_images=FLOOR)
    calls = []
    original = Evaluator.score

    def counting(self, features, logits, seed=0):
        calls.append(len(features))
        return original(self, features, logits, seed)

    monkeypatch.setattr(Evaluator, "score", counting)
    ev(FAKE)
    ev(FAKE)
    assert calls == [25, 25, 25]  # samples, floor, samples: the floor once
    assert len(list(cache_in_tmp.glob("floor-*.json"))) == 1
    calls.clear()
    fresh = Evaluator(reference=REAL, floor_images=FLOOR)
    assert fresh.floor(25, 0) == ev.floor(25, 0)
    assert calls == []  # read from disk


def test_evaluate_uses_the_fashion_mnist_splits(monkeypatch):
    asked = []

    def fake_load(name, split="train", data_dir=None, download=True):
        asked.append((name, split, download))
        images = REAL if split == "test" else np.concatenate([FLOOR, FLOOR])
        return images, np.zeros(len(images), np.uint8)

    monkeypatch.setattr(evaluator, "load_dataset", fake_load)
    report = evaluate(FAKE, seed=4, download=False)
    assert sorted(asked) == [("fashion-mnist", "test", False), ("fashion-mnist", "train", False)]
    assert report["reference"] == {"name": "Fashion-MNIST test images", "n": 40}
    assert report["floor"]["n"] == 25
