"""The shipped Fashion-MNIST classifier: the feature extractor of :mod:`minigan.metrics`.

A small CNN built from minigan's own layers and trained by minigan itself
(:mod:`minigan.metrics.train_classifier` reproduces the shipped weights from its seed). Its
weights are package data, ``classifier.safetensors`` beside this file, and their SHA-256 is
checked every time they load (:data:`SHA256`): a mismatch is an error, never a silent fallback.
Loading needs NumPy alone. Test accuracy: 92.62% on the 10,000 Fashion-MNIST test images. The
architecture (batch ``N``)::

    (N, 1, 28, 28) images in [-1, 1]
    Conv2d(1, 32, 3, padding=1) -> BatchNorm2d -> ReLU -> MaxPool2d(2)    (N, 32, 14, 14)
    Conv2d(32, 64, 3, padding=1) -> BatchNorm2d -> ReLU -> MaxPool2d(2)   (N, 64, 7, 7)
    Flatten -> Linear(3136, 128) -> BatchNorm1d -> ReLU                   (N, 128) features
    Dropout(0.3) -> Linear(128, 10)                                        (N, 10) logits

**The features** are the penultimate layer's activations: the 128 values after the last ReLU,
just before the logits (Dropout is the identity in eval mode). That layer plays the part
Inception-v3's 2048-d pool layer plays in the published FID: it is what the network has
learned to say about a garment, the last step before a linear read-out of the class, so it
keeps variation within a class (sleeve length, pattern, shape) that the 10 logits would
squeeze out, and drops the pixel detail that earlier layers (3136 values at the last pooling)
still carry. 128 dimensions also keep the 128 x 128 covariances of FID well estimated from
10,000 samples.

>>> import numpy as np
>>> clf = load_classifier()
>>> x = np.zeros((3, 28, 28), np.uint8)
>>> clf.features(x).shape, clf.class_probabilities(x).shape, clf.classify(x).dtype
((3, 128), (3, 10), dtype('int64'))
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from minigan import nn
from minigan.metrics.images import as_images
from minigan.serialization import load_bytes

NAME = "minigan Fashion-MNIST classifier"
WEIGHTS = Path(__file__).with_name("classifier.safetensors")
#: SHA-256 of the shipped ``classifier.safetensors``.
SHA256 = "aebc6c9612ecc20b2746cf1326556d3e4a821c870a7cdb16191e0ba99d023f56"
#: The Fashion-MNIST classes, in label order.
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FEATURE_LAYER = 11  # the index of the ReLU whose output is the feature vector
FEATURES = 128
BATCH = 100  # images per forward pass when extracting (measured: larger batches are slower)


class ClassifierError(ValueError):
    """The classifier's weights are missing, corrupt, or not the ones this code expects."""


def build_classifier(
    rng: np.random.Generator | None = None,
    dropout_rng: np.random.Generator | None = None,
    dtype=np.float32,
) -> nn.Sequential:
    """The architecture above, freshly initialised from ``rng`` (PyTorch's layer defaults);
    ``dropout_rng`` draws the Dropout masks in training."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False, dtype=dtype, rng=rng),  # (N, 32, 28, 28)
        nn.BatchNorm2d(32, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 32, 14, 14)
        nn.Conv2d(32, 64, 3, padding=1, bias=False, dtype=dtype, rng=rng),  # (N, 64, 14, 14)
        nn.BatchNorm2d(64, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 64, 7, 7)
        nn.Flatten(),  # (N, 3136)
        nn.Linear(64 * 7 * 7, FEATURES, bias=False, dtype=dtype, rng=rng),  # (N, 128)
        nn.BatchNorm1d(FEATURES, dtype=dtype),
        nn.ReLU(),  # (N, 128): the features (FEATURE_LAYER)
        nn.Dropout(0.3, rng=dropout_rng),
        nn.Linear(FEATURES, 10, dtype=dtype, rng=rng),  # (N, 10) logits
    )


class Classifier:
    """A trained classifier network (in eval mode) with the operations the metrics need.

    ``name`` and ``sha256`` identify it in every report.
    """

    def __init__(self, model: nn.Sequential, name: str = NAME, sha256: str = "") -> None:
        self.model = model.eval()
        self.name = name
        self.sha256 = sha256

    def features_and_logits(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The penultimate activations (N, 128) and the logits (N, 10), float32, computed in
        batches of ``BATCH`` images."""
        x = as_images(images)
        layers = list(self.model)
        feats, logits = [], []
        for start in range(0, len(x), BATCH):
            h = x[start : start + BATCH]
            for layer in layers[: FEATURE_LAYER + 1]:
                h = layer(h)
            feats.append(h)
            out = h
            for layer in layers[FEATURE_LAYER + 1 :]:
                out = layer(out)
            logits.append(out)
        empty = np.zeros((0, FEATURES), np.float32)
        return (np.concatenate(feats) if feats else empty), (
            np.concatenate(logits) if logits else np.zeros((0, 10), np.float32)
        )

    def features(self, images: np.ndarray) -> np.ndarray:
        """The features of :func:`features_and_logits`, (N, 128) float32."""
        return self.features_and_logits(images)[0]

    def logits(self, images: np.ndarray) -> np.ndarray:
        """The logits, (N, 10) float32."""
        return self.features_and_logits(images)[1]

    def class_probabilities(self, images: np.ndarray) -> np.ndarray:
        """``softmax(logits)``, (N, 10) float64, each row summing to 1."""
        return softmax(self.logits(images))

    def classify(self, images: np.ndarray) -> np.ndarray:
        """The predicted class of each image, (N,) int64 (an index into :data:`CLASSES`)."""
        return self.logits(images).argmax(axis=1).astype(np.int64)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, shifted by the row maximum so ``exp`` stays finite."""
    z = np.asarray(logits, np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load_classifier_file(path: str | os.PathLike[str], sha256: str | None) -> Classifier:
    """Load classifier weights from ``path``, checking their SHA-256 against ``sha256`` first
    (None skips the check: for weights just trained). A missing file, a wrong checksum or
    weights of another architecture raise :class:`ClassifierError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ClassifierError(f"cannot read the classifier weights {path}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise ClassifierError(
            f"the classifier weights {path} have SHA-256 {digest}, expected {sha256}: the file "
            "is corrupt or not the one this version of minigan ships; reinstall minigan, or "
            "rebuild it with python -m minigan.metrics.train_classifier"
        )
    model = build_classifier(np.random.default_rng(0))
    try:
        model.load_state_dict(load_bytes(data))
    except (KeyError, ValueError) as exc:
        raise ClassifierError(f"{path} does not hold this classifier's weights: {exc}") from exc
    return Classifier(model, NAME, digest)


@functools.lru_cache(maxsize=1)
def _shipped() -> Classifier:
    return load_classifier_file(WEIGHTS, SHA256)


def load_classifier(
    path: str | os.PathLike[str] | None = None, sha256: str | None = SHA256
) -> Classifier:
    """The shipped classifier (loaded once per process, SHA-256 checked), or the weights at
    ``path``, checked against ``sha256`` (the shipped checksum unless given; None: unchecked)."""
    if path is None:
        return _shipped()
    return load_classifier_file(path, sha256)
