"""One report for a set of generated images: every metric of :mod:`minigan.metrics` against the
real reference, and the same metrics for real training images (the floor).

:class:`Evaluator` loads the classifier and the real statistics once (from the cache after the
first time: :mod:`minigan.metrics.reference`); each call then costs the features of the samples
and the metrics. :func:`evaluate` builds one and calls it.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> real = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
>>> evaluator = Evaluator(reference=real[:30], floor_images=real[30:], cache=None)
>>> report = evaluator(real[30:], seed=0)
>>> report["n"], report["floor"]["n"], report["extractor"]["name"]
(30, 30, 'minigan Fashion-MNIST classifier')
>>> print(format_table(report).splitlines()[2])  # doctest: +ELLIPSIS
| FID (minigan Fashion-MNIST classifier) | lower | ...
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from minigan.data import load_dataset
from minigan.metrics.classes import class_summary, inception_score
from minigan.metrics.classifier import Classifier, load_classifier, softmax
from minigan.metrics.frechet import frechet_distance, gaussian_stats
from minigan.metrics.images import as_images
from minigan.metrics.manifold import K_DC, K_PR, manifold_metrics
from minigan.metrics.mmd import kid
from minigan.metrics.reference import (
    FLOOR_SEED,
    REFERENCE_SIZE,
    VERSION,
    cache_dir,
    read_json_cache,
    real_statistics,
    write_json_cache,
)

__all__ = ["KEYS", "LABELS", "MIN_SAMPLES", "Evaluator", "evaluate", "format_table"]

#: The metrics of every report, in table order.
KEYS = (
    "fid", "kid", "kid_std", "inception_score", "precision", "recall", "density", "coverage",
    "classes_covered", "class_entropy", "max_class_share",
)  # fmt: skip
#: How each metric is printed: named for the extractor it uses, never as Inception's.
LABELS = {
    "fid": "FID (minigan Fashion-MNIST classifier)",
    "kid": "KID (minigan Fashion-MNIST classifier)",
    "kid_std": "KID standard deviation over subsets",
    "inception_score": "Inception score (minigan Fashion-MNIST classifier)",
    "precision": f"precision (k={K_PR})",
    "recall": f"recall (k={K_PR})",
    "density": f"density (k={K_DC})",
    "coverage": f"coverage (k={K_DC})",
    "classes_covered": "classes covered (of 10)",
    "class_entropy": "class entropy (nats; 2.303 balanced)",
    "max_class_share": "largest class share (0.1 balanced)",
}
BETTER = {"fid": "lower", "kid": "lower", "kid_std": "", "max_class_share": "lower"}
#: The k-NN metrics need more than k samples (the largest k is K_DC).
MIN_SAMPLES = K_DC + 1


def _subsample(x: np.ndarray, n: int | None, seed: int, what: str) -> np.ndarray:
    if n is None:
        return x
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{what}: n must be a positive integer, got {n!r}")
    if n > len(x):
        raise ValueError(f"{what}: n={n} but only {len(x)} images were given")
    if n == len(x):
        return x
    return x[np.random.default_rng(seed).choice(len(x), n, replace=False)]


def _check_count(count: int, what: str) -> None:
    if count < MIN_SAMPLES:
        raise ValueError(
            f"{what}: got {count} images; the metrics need at least {MIN_SAMPLES} (the k-nearest-"
            f"neighbour metrics use k = {K_DC} neighbours, and the covariance of FID at least 2 "
            f"samples); use a few thousand for stable numbers"
        )


class Evaluator:
    """Built once (the classifier and the real statistics), then ``evaluator(images)`` returns
    the report of :func:`evaluate` for each sample set.

    By default the reference is the Fashion-MNIST test set and the floor a fixed subset of
    10,000 training images, both found as :func:`minigan.data.load_dataset` finds them
    (``data_dir``, ``download``). ``reference`` and ``floor_images`` replace them with other
    real images; ``classifier`` replaces the shipped one; ``cache`` is passed to
    :func:`minigan.metrics.reference.real_statistics` (``None``: compute, cache nothing).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        download: bool = True,
        *,
        classifier: Classifier | None = None,
        reference: np.ndarray | None = None,
        floor_images: np.ndarray | None = None,
        cache: str | os.PathLike[str] | bool | None = True,
    ) -> None:
        self.classifier = classifier or load_classifier()
        self.cache = cache
        self.reference_name = "custom"
        if reference is None:
            reference = load_dataset("fashion-mnist", "test", data_dir, download)[0]
            self.reference_name = "Fashion-MNIST test images"
        if floor_images is None:
            train = load_dataset("fashion-mnist", "train", data_dir, download)[0]
            order = np.random.default_rng(FLOOR_SEED).permutation(len(train))
            floor_images = train[order[:REFERENCE_SIZE]]
        for images, what in ((reference, "reference images"), (floor_images, "floor images")):
            _check_count(len(as_images(images, what)), what)
        self.reference = real_statistics(reference, self.classifier, True, cache)
        self.floor_set = real_statistics(floor_images, self.classifier, False, cache)
        self._reference_gaussian = gaussian_stats(self.reference.features)
        self._floors: dict[tuple[int, int], dict[str, Any]] = {}

    def __call__(self, images: np.ndarray, *, n: int | None = None, seed: int = 0) -> dict:
        """The report for ``images`` (or ``n`` of them drawn with ``seed``; ``seed`` also
        draws KID's subsets): every metric of :data:`KEYS`, ``class_histogram``, ``n``,
        ``reference``, ``extractor`` and ``floor``."""
        x = _subsample(as_images(images), n, seed, "images")
        _check_count(len(x), "images")
        features, logits = self.classifier.features_and_logits(x)
        report = self.score(features, logits, seed)
        report["floor"] = self.floor(len(x), seed)
        return report

    def score(self, features: np.ndarray, logits: np.ndarray, seed: int = 0) -> dict[str, Any]:
        """The metrics of samples with these ``features`` (N, 128) and ``logits`` (N, 10)
        against the reference (no floor)."""
        ref = self.reference
        kid_mean, kid_std = kid(ref.features, features, rng=seed)
        report: dict[str, Any] = {
            "fid": frechet_distance(*gaussian_stats(features), *self._reference_gaussian),
            "kid": kid_mean,
            "kid_std": kid_std,
            "inception_score": inception_score(softmax(logits)),
        }
        report |= manifold_metrics(ref.features, ref.sq_radii[K_PR], ref.sq_radii[K_DC], features)
        report |= class_summary(logits.argmax(axis=1))
        report["n"] = len(features)
        report["reference"] = {"name": self.reference_name, "n": len(ref.features)}
        report["extractor"] = {"name": self.classifier.name, "sha256": self.classifier.sha256}
        return report

    def floor(self, n: int, seed: int = 0) -> dict[str, Any]:
        """The metrics of ``min(n, 10000)`` real training images against the reference: what a
        perfect generator would score with that many samples (cached per ``n`` and ``seed``)."""
        m = min(n, len(self.floor_set.features))
        if (m, seed) not in self._floors:
            key = hashlib.sha256(
                f"{VERSION} {self.reference.key} {self.floor_set.key} {m} {seed}".encode()
            ).hexdigest()
            directory = cache_dir() if self.cache is True else self.cache
            path = Path(directory) / f"floor-{key[:32]}.json" if directory else None
            found = read_json_cache(path) if path else None
            if found is None or found.get("key") != key:
                fs = self.floor_set
                found = self.score(fs.features[:m], fs.logits[:m], seed) | {"key": key}
                if path:
                    write_json_cache(path, found)
            self._floors[(m, seed)] = {k: v for k, v in found.items() if k != "key"}
        return dict(self._floors[(m, seed)])


def evaluate(
    images: np.ndarray,
    *,
    n: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> dict[str, Any]:
    """Every metric of ``images`` against the Fashion-MNIST test set, with the floor.

    ``images``: uint8 in [0, 255] or floating point in [-1, 1], (N, 28, 28) or
    (N, 1, 28, 28); ``n``: use ``n`` of them, drawn with ``seed`` (default: all); ``seed`` also
    draws KID's subsets. Returns a JSON-ready dict: ``fid``, ``kid``, ``kid_std``,
    ``inception_score``, ``precision``, ``recall``, ``density``, ``coverage``,
    ``classes_covered``, ``class_entropy``, ``max_class_share``, ``class_histogram``, ``n``,
    ``reference``, ``extractor`` (``name``, ``sha256``) and ``floor`` (the same metrics for
    real training images). Builds an :class:`Evaluator`; keep one to evaluate many sets.
    """
    return Evaluator(data_dir, download)(images, n=n, seed=seed)


def _cell(key: str, value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if key in ("fid", "kid", "kid_std") else f"{value:.3f}"


def format_table(report: dict[str, Any]) -> str:
    """A Markdown table of a report: metric, which way is better, the samples' value and the
    floor's."""
    floor = report.get("floor", {})
    rows = [
        f"| metric | better | samples (n={report['n']}) | floor: real train (n={floor.get('n', '-')}) |",
        "|---|---|---|---|",
    ]
    for key in KEYS:
        real = _cell(key, floor[key]) if key in floor else "-"
        better = BETTER.get(key, "higher")
        rows.append(f"| {LABELS[key]} | {better} | {_cell(key, report[key])} | {real} |")
    return "\n".join(rows)


def to_json(report: dict[str, Any]) -> str:
    """The report as one line of JSON."""
    return json.dumps(report)
