"""The real sets' statistics, computed once and cached on disk.

Every report compares a sample set with the **reference**, the 10,000 Fashion-MNIST test
images, and gives the **floor**: the same metrics for real *training* images against that
reference (a fixed subset of 10,000 training images, :data:`FLOOR_SEED`). What a real set
contributes (its features, logits, and for the reference the squared k-NN radii of
:mod:`minigan.metrics.manifold`) is cached in a safetensors file under :func:`cache_dir`, keyed
by the SHA-256 of what it was computed from: the classifier's weights, the images' bytes and
:data:`VERSION` of this code. A stale or corrupt file is never read as valid; it is recomputed
and replaced, atomically. The cache never goes into a run directory.

>>> import numpy as np
>>> from minigan.metrics.classifier import load_classifier
>>> images = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
>>> stats = real_statistics(images, load_classifier(), cache=None)
>>> stats.features.shape, stats.logits.shape, sorted(stats.sq_radii)
((20, 128), (20, 10), [3, 5])
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minigan.data import cache_dir as data_cache_dir
from minigan.metrics.classifier import Classifier
from minigan.metrics.manifold import K_DC, K_PR, knn_sq_radii
from minigan.serialization import SafetensorsError, load_file_with_metadata, save_file

__all__ = ["FLOOR_SEED", "REFERENCE_SIZE", "VERSION", "RealStatistics", "cache_dir"]

VERSION = "1"  # bump when what is cached, or how it is computed, changes
REFERENCE_SIZE = 10_000  # real images per set
FLOOR_SEED = 0  # picks the training images of the floor


def cache_dir() -> Path:
    """Where real statistics are cached: ``$MINIGAN_CACHE/metrics`` if set, else
    ``~/.cache/minigan/metrics`` (``$XDG_CACHE_HOME/minigan/metrics`` when that is set)."""
    root = os.environ.get("MINIGAN_CACHE")
    return (Path(root) if root else data_cache_dir()) / "metrics"


@dataclass(frozen=True)
class RealStatistics:
    """One real set as the metrics see it: ``features`` (M, 128) and ``logits`` (M, 10)
    float32, ``sq_radii`` {k: (M,) float64} for k in (3, 5) (empty when not needed), and the
    ``key`` (a SHA-256) of what they were computed from."""

    features: np.ndarray
    logits: np.ndarray
    sq_radii: dict[int, np.ndarray]
    key: str

    def to_tensors(self) -> dict[str, np.ndarray]:
        tensors = {"features": self.features, "logits": self.logits}
        return tensors | {f"sq_radii_{k}": r for k, r in self.sq_radii.items()}


def statistics_key(images: np.ndarray, classifier: Classifier, radii: bool) -> str:
    """SHA-256 over this code's :data:`VERSION`, the classifier's SHA-256, the images' shape,
    dtype and bytes, and whether radii are included."""
    h = hashlib.sha256()
    header = {"version": VERSION, "classifier": classifier.sha256, "radii": radii}
    header |= {"shape": list(images.shape), "dtype": str(images.dtype)}
    h.update(json.dumps(header, sort_keys=True).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()


def _load(path: Path, key: str) -> RealStatistics | None:
    """The cached statistics at ``path`` if the file is intact and holds ``key``; else None."""
    try:
        tensors, metadata = load_file_with_metadata(path)
    except (OSError, SafetensorsError):
        return None
    if metadata.get("key") != key or not {"features", "logits"} <= set(tensors):
        return None
    sq_radii = {
        int(name.rpartition("_")[2]): value
        for name, value in tensors.items()
        if name.startswith("sq_radii_")
    }
    return RealStatistics(tensors["features"], tensors["logits"], sq_radii, key)


def real_statistics(
    images: np.ndarray,
    classifier: Classifier,
    radii: bool = True,
    cache: Path | str | bool | None = True,
) -> RealStatistics:
    """The statistics of a real set of ``images`` (uint8 or [-1, 1], (M, 28, 28) or
    (M, 1, 28, 28)), read from the cache when it holds them, else computed and cached.

    ``radii``: compute the squared k-NN radii (the reference needs them; the floor's sample
    does not). ``cache``: ``True`` for :func:`cache_dir`, a directory, or ``None``/``False``
    to compute without caching.
    """
    key = statistics_key(np.asarray(images), classifier, radii)
    directory = cache_dir() if cache is True else (Path(cache) if cache else None)
    path = directory / f"real-{key[:32]}.safetensors" if directory else None
    if path is not None and (found := _load(path, key)) is not None:
        return found
    features, logits = classifier.features_and_logits(images)
    sq_radii = {k: knn_sq_radii(features, k) for k in (K_PR, K_DC)} if radii else {}
    stats = RealStatistics(features, logits, sq_radii, key)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(stats.to_tensors(), path, {"key": key, "classifier": classifier.sha256})
    return stats


def read_json_cache(path: Path) -> dict | None:
    """A cached JSON object, or None if it is missing or unreadable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json_cache(path: Path, value: dict) -> None:
    """Write ``value`` as JSON to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    os.replace(tmp, path)
