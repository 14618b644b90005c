r"""Embedding lookup: row ``idx`` of a table ``W``, the class labels of a conditional GAN.

Shapes: ``idx`` an integer array of any shape ``(...)``, ``W`` (K, E) (``K`` rows, each an
embedding of ``E`` values, PyTorch's ``nn.Embedding.weight``), ``y`` ``(..., E)``.

**Forward.** :math:`y_{p} = W_{idx_p}` for every position ``p`` of ``idx``: ``y = W[idx]`` (a
copy, so a later update of ``W`` does not change ``y``).

**Backward.** The lookup is a linear layer on one-hot rows: with :math:`O_{pk} = [idx_p = k]`,
:math:`y = O W`, so

.. math::
    dW_{ke} = \sum_p [idx_p = k]\, dy_{pe}, \qquad dW = O^T dy,

every row ``k`` collects the ``dy`` of all positions that looked it up (a label repeated in a
batch adds up). ``idx`` is data: there is no input gradient.

Two ways to add up, the same sums: for a small table (``K <=`` :data:`ONE_HOT_MAX`, class labels)
the one-hot product ``O^T dy``, a GEMM; for a large one ``np.add.at(dW, idx, dy)``, which touches
only the rows looked up. Measured on one core, float32, N = 64 positions (``np.add.at`` /
one-hot GEMM): K = 10, E = 100: 60 / 5 us; K = 10, E = 6272 (DCGAN-28's projection): 3.6 / 0.17
ms; K = 100, E = 6272: 3.7 / 0.87 ms; K = 1000, E = 6272: 5.9 / 9.4 ms. ``np.add.at`` on rows
of a 2-D table runs element by element, while the one-hot product costs ``N K E`` multiply-adds
and an (N, K) mask, so the product wins until ``K`` reaches a few hundred. Both are array
operations only: ``np.arange(..., like=idx)`` and ``np.add.at`` dispatch to CuPy for CuPy
arrays (``cupy.add.at``, the same as ``cupyx.scatter_add``).

>>> import numpy as np
>>> W = np.arange(6, dtype=np.float32).reshape(3, 2)
>>> y, cache = embedding_forward(np.array([2, 0, 2]), W)
>>> y
array([[4., 5.],
       [0., 1.],
       [4., 5.]], dtype=float32)
>>> embedding_backward(np.ones_like(y), cache)  # row 2 was looked up twice
array([[1., 1.],
       [0., 0.],
       [2., 2.]], dtype=float32)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Tables with at most this many rows add up their gradient with the one-hot GEMM.
ONE_HOT_MAX = 256


class EmbeddingCache(NamedTuple):
    """``idx`` (which rows to add ``dy`` into) and ``num_embeddings`` (the table's row count,
    for ``dW``'s shape): the backward needs nothing of ``W`` itself."""

    idx: np.ndarray
    num_embeddings: int


def embedding_forward(idx: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, EmbeddingCache]:
    """Return ``y = W[idx]`` of shape ``idx.shape + (E,)`` and the cache for
    :func:`embedding_backward`. ``idx`` must hold integers in ``[0, K)`` (checked by
    :class:`minigan.nn.Embedding`, not here)."""
    return W[idx], EmbeddingCache(idx, W.shape[0])


def embedding_backward(dy: np.ndarray, cache: EmbeddingCache) -> np.ndarray:
    """Return ``dW`` (K, E) in ``dy``'s dtype: row ``k`` is the sum of ``dy`` over the positions
    whose index is ``k``; ``dy`` has shape ``idx.shape + (E,)``."""
    idx, k = cache
    e = dy.shape[-1]
    flat_idx = idx.reshape(-1)
    flat_dy = dy.reshape(-1, e)
    if k <= ONE_HOT_MAX:
        one_hot = (flat_idx[:, None] == np.arange(k, like=flat_idx)).astype(dy.dtype)  # (P, K)
        return one_hot.T @ flat_dy
    dW = np.zeros_like(dy, shape=(k, e))
    np.add.at(dW, flat_idx, flat_dy)
    return dW
