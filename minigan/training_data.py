"""The images a run trains on (the data set a configuration names, or a dry run's random
pixels), the configuration completed from them, and the real images it is measured against.

>>> from minigan.config import TrainConfig
>>> config = TrainConfig(data="fake", batch=4, image_shape=(3, 8, 8))
>>> images, labels = load_images(config)
>>> images.shape, int(labels.max()) < FAKE_CLASSES
((32, 3, 8, 8), True)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from minigan.config import FAKE_DATA, TrainConfig
from minigan.data import load_dataset

__all__ = [
    "EVAL_SAMPLES",
    "EVAL_SEED",
    "FAKE_CLASSES",
    "default_evaluator",
    "evaluation_values",
    "fit_data",
    "load_images",
]

#: Classes of the fake data of a dry run (its labels are drawn uniformly from them).
FAKE_CLASSES = 10


def load_images(
    config: TrainConfig, data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The training images of ``config.data``: ``(uint8 (N, H, W) or (N, H, W, C), labels (N,))``;
    for a dry run, ``8 * batch`` random images of ``config.image_shape`` (default 1x28x28)."""
    if config.data == FAKE_DATA:
        rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(5)[4])
        shape = config.image_shape or (1, 28, 28)
        images = rng.integers(0, 256, (8 * config.batch, *shape), dtype=np.uint8)
        return images, rng.integers(0, FAKE_CLASSES, len(images)).astype(np.uint8)
    return load_dataset(config.data, "train", data_dir=data_dir, download=download)


def fit_data(config: TrainConfig, images: np.ndarray, labels: np.ndarray) -> TrainConfig:
    """``config`` with ``image_shape`` filled in from ``images`` (N, C, H, W); a ``ValueError``
    when the images or labels do not fit what it says."""
    shape = tuple(int(s) for s in images.shape[1:])
    if config.image_shape is not None and config.image_shape != shape:
        raise ValueError(
            f"the images have shape (C, H, W) = {shape} but the configuration says "
            f"{config.image_shape}"
        )
    if config.num_classes is not None:
        if labels.size and not 0 <= labels.min() <= labels.max() < config.num_classes:
            raise ValueError(
                f"a conditional run on {config.num_classes} classes needs labels in "
                f"[0, {config.num_classes}), got labels from {labels.min()} to {labels.max()}"
            )
    return replace(config, image_shape=shape)


#: Samples scored by each evaluation during training (``--eval-n``), and their noise's seed.
EVAL_SAMPLES, EVAL_SEED = 10_000, 12_345


def default_evaluator(
    config: TrainConfig, data_dir: str | os.PathLike[str] | None, download: bool
) -> Any:
    """The :class:`minigan.metrics.Evaluator` on the Fashion-MNIST test set; a ``ValueError``
    for images its classifier cannot score."""
    if config.image_shape != (1, 28, 28):
        raise ValueError(
            "evaluation during training (--eval-every) scores 28x28 grayscale images with the "
            f"minigan Fashion-MNIST classifier; these are {config.image_shape}"
        )
    from minigan.metrics import Evaluator

    return Evaluator(data_dir, download)


def evaluation_values(
    report: Mapping[str, Any], iteration: int, write: Callable[[str], None]
) -> dict[str, float]:
    """The metrics of an evaluation ``report`` during training as the flat floats a record
    holds, and the line that ``write`` prints about them (iteration, FID, KID, coverage, ...)."""
    from minigan.metrics import KEYS

    values = {key: float(report[key]) for key in KEYS if key in report}
    shown = ("fid", "kid", "coverage", "classes_covered")
    write(
        f"evaluation at iteration {iteration}: "
        + " ".join(f"{k} {values[k]:.4g}" for k in shown if k in values)
    )
    return values
