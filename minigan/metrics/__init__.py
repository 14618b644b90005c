"""Evaluation without eyes: FID, KID, inception score, class histogram, precision/recall and
density/coverage, on the features of a classifier minigan trains itself (docs/evaluation.md).

- :func:`evaluate` (``minigan evaluate``): the report of a sample set, with the floor (real
  training images against the same reference); :class:`Evaluator` keeps the classifier and the
  real statistics for many calls (the training loop's).
- :func:`classify`, :func:`class_probabilities`: the shipped classifier's predictions, e.g. to
  measure how often a conditional generator draws the class it was asked for.
- The math, one module each: :mod:`.frechet` (FID), :mod:`.mmd` (KID), :mod:`.manifold`
  (precision, recall, density, coverage), :mod:`.classes` (inception score, histogram); the
  extractor :mod:`.classifier` and the script that trained it, :mod:`.train_classifier`; the
  cached real statistics, :mod:`.reference`.

Every figure is named for the extractor it comes from, e.g. ``FID (minigan Fashion-MNIST
classifier)``: these numbers are not comparable with Inception-v3 FIDs.

>>> import numpy as np
>>> images = np.zeros((4, 28, 28), np.uint8)
>>> classify(images).shape, class_probabilities(images).sum(axis=1).round(6).tolist()
((4,), [1.0, 1.0, 1.0, 1.0])
"""

from __future__ import annotations

import numpy as np

from minigan.metrics.classes import class_summary, inception_score
from minigan.metrics.classifier import CLASSES, Classifier, ClassifierError, load_classifier
from minigan.metrics.evaluator import KEYS, LABELS, Evaluator, evaluate, format_table
from minigan.metrics.frechet import fid, frechet_distance
from minigan.metrics.manifold import knn_sq_radii, manifold_metrics
from minigan.metrics.mmd import kid

__all__ = [
    "CLASSES",
    "KEYS",
    "LABELS",
    "Classifier",
    "ClassifierError",
    "Evaluator",
    "class_probabilities",
    "class_summary",
    "classify",
    "evaluate",
    "fid",
    "format_table",
    "frechet_distance",
    "inception_score",
    "kid",
    "knn_sq_radii",
    "load_classifier",
    "manifold_metrics",
]


def classify(images: np.ndarray) -> np.ndarray:
    """The shipped classifier's predicted class of each image, (N,) int64 (see
    :data:`CLASSES`); images as :func:`evaluate` takes them."""
    return load_classifier().classify(images)


def class_probabilities(images: np.ndarray) -> np.ndarray:
    """The shipped classifier's class probabilities, (N, 10) float64, rows summing to 1."""
    return load_classifier().class_probabilities(images)
