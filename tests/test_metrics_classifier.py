"""The shipped classifier: package data checked by SHA-256 at every load (a mismatch is an error),
loadable with NumPy alone, features from the penultimate layer, training reproducible byte for
byte; and, where Fashion-MNIST is installed, its test accuracy and the metrics' ranking."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigan.data import DatasetNotFoundError, load_dataset
from minigan.metrics import Evaluator, classifier, train_classifier
from minigan.metrics.classifier import ClassifierError, load_classifier, load_classifier_file

ROOT = Path(__file__).resolve().parents[1]
IMAGES = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)


def test_shipped_weights_match_their_checksum_and_size():
    data = classifier.WEIGHTS.read_bytes()
    assert hashlib.sha256(data).hexdigest() == classifier.SHA256
    assert len(data) < 2 * 1024 * 1024
    assert load_classifier().sha256 == classifier.SHA256


def test_weights_are_package_data():
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = config["tool"]["setuptools"]["package-data"]
    assert "classifier.safetensors" in package_data["minigan.metrics"]


def test_a_changed_file_is_an_error_never_a_fallback(tmp_path):
    data = bytearray(classifier.WEIGHTS.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    bad = tmp_path / "classifier.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(ClassifierError, match="SHA-256"):
        load_classifier(bad)
    with pytest.raises(ClassifierError, match="cannot read"):
        load_classifier(tmp_path / "missing.safetensors")
    from minigan.serialization import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, other)
    with pytest.raises(ClassifierError, match="does not hold"):
        load_classifier_file(other, None)


def test_loading_needs_numpy_alone():
    code = (
        "import sys; from minigan.metrics import load_classifier; load_classifier(); "
        "print(sorted(m for m in ('numba', 'torch', 'scipy', 'cupy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_features_are_the_penultimate_activations():
    clf = load_classifier()
    features, logits = clf.features_and_logits(IMAGES)
    assert features.shape == (12, 128) and features.dtype == np.float32
    assert logits.shape == (12, 10) and logits.dtype == np.float32
    assert (features >= 0).all()  # after the last ReLU
    last = clf.model[len(clf.model) - 1]  # Linear(128, 10): the logits read the features
    np.testing.assert_allclose(
        features @ last.weight.data.T + last.bias.data, logits, rtol=1e-5, atol=1e-5
    )
    # batching does not change the answer
    small = classifier.BATCH
    try:
        classifier.BATCH = 5
        np.testing.assert_allclose(clf.features(IMAGES), features, rtol=1e-6, atol=1e-6)
    finally:
        classifier.BATCH = small


def test_classify_and_probabilities():
    clf = load_classifier()
    labels, probs = clf.classify(IMAGES), clf.class_probabilities(IMAGES)
    assert labels.dtype == np.int64 and labels.shape == (12,)
    assert ((labels >= 0) & (labels < 10)).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(probs.argmax(axis=1), labels)


def test_training_is_reproducible_byte_for_byte(backend):
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (48, 28, 28), dtype=np.uint8), rng.integers(0, 10, 48)

    def weights(seed: int) -> bytes:
        model, _ = train_classifier.train(
            images, labels, epochs=2, batch_size=16, seed=seed, quiet=True
        )
        return train_classifier.weights_bytes(model, {"seed": str(seed)})

    first = weights(0)
    assert weights(0) == first
    assert weights(1) != first


# --- on Fashion-MNIST itself, where it is installed -------------------------------------------


def _fashion(split: str):
    try:
        return load_dataset("fashion-mnist", split, download=False)
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (minigan.data.load_dataset)")


@pytest.mark.slow
def test_test_accuracy_is_at_least_92_percent():
    images, labels = _fashion("test")
    accuracy = float((load_classifier().classify(images) == labels).mean())
    assert accuracy >= 0.92, accuracy


@pytest.mark.slow
def test_a_collapsed_set_ranks_below_real_images(tmp_path):
    """One class of real images against a reference of all classes: one class covered, low
    coverage and recall, a FID far above real images' (small sets, so it stays quick)."""
    test_images, _ = _fashion("test")
    train_images, train_labels = _fashion("train")
    ev = Evaluator(reference=test_images[:2000], floor_images=train_images[:1000], cache=tmp_path)
    trousers = train_images[train_labels == 1][:1000]
    collapsed = ev(trousers)
    real = collapsed["floor"]
    assert collapsed["classes_covered"] == 1 and real["classes_covered"] == 10
    assert collapsed["max_class_share"] > 0.95
    assert collapsed["coverage"] < 0.2 < 0.8 < real["coverage"]
    assert collapsed["recall"] < 0.2 < 0.8 < real["recall"]
    assert collapsed["fid"] > 10 * real["fid"]
    assert collapsed["inception_score"] < 1.5 < 8 < real["inception_score"]
