"""Data for minigan: IDX files, Fashion-MNIST/MNIST, mini-batches and toy distributions.

- :mod:`minigan.data.idx`: :func:`read_idx` / :func:`write_idx`, NumPy only.
- :mod:`minigan.data.datasets`: :func:`load_dataset` finds, downloads and checks datasets.
- :mod:`minigan.data.loader`: :class:`BatchIterator` yields float32 batches in [-1, 1].
- :mod:`minigan.data.toy`: seeded 1-D and 2-D toy distributions (:func:`get_toy`).

>>> import numpy as np
>>> from minigan.data import BatchIterator, get_toy
>>> get_toy("grid25").sample(3, np.random.default_rng(0)).shape
(3, 2)
>>> images = np.zeros((10, 28, 28), dtype=np.uint8)
>>> len(BatchIterator(images, np.zeros(10), batch_size=4, rng=np.random.default_rng(0)))
2
"""

from minigan.data.datasets import (
    BASE_URLS,
    DATASET_NAMES,
    SHA256,
    SPLITS,
    ChecksumError,
    DatasetNotFoundError,
    cache_dir,
    download_dataset,
    load_dataset,
    search_dirs,
)
from minigan.data.idx import IDX_DTYPES, IDXError, read_idx, write_idx
from minigan.data.loader import BatchIterator, to_uint8, to_unit_range
from minigan.data.toy import (
    TOY_DISTRIBUTIONS,
    GaussianMixture,
    Spiral,
    ToyDistribution,
    TwoMoons,
    UniformSquare,
    gaussian_mixture_1d,
    get_toy,
    grid25,
    ring8,
    spiral,
    two_moons,
    uniform_square,
)

__all__ = [
    "BASE_URLS",
    "DATASET_NAMES",
    "IDX_DTYPES",
    "SHA256",
    "SPLITS",
    "TOY_DISTRIBUTIONS",
    "BatchIterator",
    "ChecksumError",
    "DatasetNotFoundError",
    "GaussianMixture",
    "IDXError",
    "Spiral",
    "ToyDistribution",
    "TwoMoons",
    "UniformSquare",
    "cache_dir",
    "download_dataset",
    "gaussian_mixture_1d",
    "get_toy",
    "grid25",
    "load_dataset",
    "read_idx",
    "ring8",
    "search_dirs",
    "spiral",
    "to_uint8",
    "to_unit_range",
    "two_moons",
    "uniform_square",
    "write_idx",
]
